"""The performance–cost optimized scheduler: predictions, the decision, escalation and the final answer.

It reads learned state and writes none: the update manager (`engine.updates`) is the only writer of the
predictors, the pacer and counters, the cache, thresholds, drift monitors and judges; the cache manager
(`engine.cache`) answers lookups. `Scheduler` holds the three peers together for the pipeline
(`engine.pipeline`), which is where a job goes through them; where answers come from (a trace, a live
client) is the backend's business.
"""

from __future__ import annotations

import math
import pickle
import random
from dataclasses import dataclass

from engine.catalog import Catalog, ModelSpec
from engine.config import DEFAULT_COST_WEIGHT
from engine.errors import SettingsError
from engine.jobs import Job
from engine.predictors import Prediction, Predictors
from engine.safepickle import safe_loads
from engine.scheduling.budget import BudgetLedger
from engine.scheduling.decision import Decision, decide
from engine.scheduling.pacing import Pacer, curve_allowance
from engine.tasks import get_task
from engine.updates.manager import Attempt, Feedback, UpdateManager


@dataclass(frozen=True)
class SchedulerConfig:
    """One configuration for every trace. Weights are dimensionless (see `engine.scheduling.decision`)."""

    cost_weight: float = DEFAULT_COST_WEIGHT   # success probability traded for one median-cost call
    latency_weight: float = 0.0      # μ
    max_attempts: int = 3            # calls per job including escalations
    use_cache: bool = True
    learn: bool = True
    freeze_after: float | None = None   # fraction of jobs after which predictors stop learning
    pacing: bool = True
    explore: bool = True
    explore_scale: float = 1.0       # multiplies the Thompson spread (see `decision.explore_std`)
    cost_reference: str = "median"   # costs are divided by the median ("median") or the dearest ("max") candidate's
    models: tuple[str, ...] | None = None   # restrict the candidate set
    # Label-free second opinion for tasks whose answers compare by equality: below this predicted success
    # another model is asked; if the two disagree, the strongest affordable model breaks the tie.
    agreement_tasks: tuple[str, ...] = ("multiple_choice", "text_classification")
    agree_below: float = 0.97
    call_cap: float | None = 4.0     # under a budget, a call may cost at most this many average calls

    @classmethod
    def from_params(cls, params: dict, **overrides) -> SchedulerConfig:
        """A config from policy parameters (`cache` is `use_cache`); an unknown key is a `SettingsError`
        naming it (a misspelt weight used to be dropped silently and the default used instead)."""
        unknown = sorted(k for k in params if k not in cls.__dataclass_fields__ and k != "cache")
        if unknown:
            raise SettingsError(f"unknown scheduler parameter(s) {', '.join(map(repr, unknown))}; accepted: "
                                f"{', '.join(sorted([*cls.__dataclass_fields__, 'cache']))}")
        known = dict(params)
        if "cache" in known:
            known["use_cache"] = bool(known.pop("cache"))
        if known.get("models") is not None:
            known["models"] = tuple(known["models"])
        return cls(**{**known, **overrides})

    @classmethod
    def from_settings(cls, settings, **overrides) -> SchedulerConfig:
        """The live engine's config, built once from its `Settings`."""
        return cls(cost_weight=settings.cost_weight, latency_weight=settings.latency_weight,
                   max_attempts=settings.max_attempts, **overrides)


def answer_key(answer: str) -> str:
    """What two answers of a closed-answer task must share to count as the same answer."""
    return " ".join(answer.split()).casefold()


class Scheduler:
    """Learned state plus the decisions made from it."""

    def __init__(self, catalog: Catalog, config: SchedulerConfig, *, cache=None, feedback: str = "reference",
                 seed: int = 0, predictors: Predictors | None = None):
        self.catalog, self.config = catalog, config
        self.cache = cache if config.use_cache else None
        self.updates = UpdateManager(predictors or Predictors(), self.cache, catalog, mode=feedback,
                                     learn=config.learn, pacer=Pacer(base=config.cost_weight, enabled=config.pacing))
        self.rng = random.Random(seed)

    # -- learned state, read-only here (the update manager writes it) ------------------------------------
    @property
    def predictors(self) -> Predictors:
        return self.updates.predictors

    @property
    def pacer(self) -> Pacer:
        return self.updates.pacer

    @property
    def jobs_done(self) -> int:
        return self.updates.jobs_done

    @property
    def jobs_called(self) -> int:
        return self.updates.jobs_called

    @property
    def thresholds(self) -> list[dict]:
        return self.updates.thresholds

    # -- stages ------------------------------------------------------------------------------------------
    def lookup(self, job: Job):
        """(cache key, hit or None)."""
        key = get_task(job.task).cache_key(job)
        return key, (self.cache.lookup(job, key) if self.cache is not None else None)

    def candidates(self, names: list[str]) -> list[ModelSpec]:
        specs = [self.catalog.get(n) for n in names if self.config.models is None or n in self.config.models]
        for spec in specs:
            self.updates.admit(spec)
        return specs

    def predict(self, job: Job, specs: list[ModelSpec], input_tokens: float) -> dict[str, Prediction]:
        return self.predictors.predict(job, specs, input_tokens)

    def spendable(self, ledger: BudgetLedger, predictions, *, extra: bool = False) -> float:
        """What this job may spend: the remaining budget minus a reserve that lets every job still to come
        (that the cache will not answer, at the miss rate seen so far) get the cheapest model.

        When the reserve cannot be kept, only the cheapest model remains affordable. `extra` calls
        (second opinions, escalations) come only out of the surplus above the reserve."""
        remaining = ledger.remaining_usd
        if ledger.total_usd is None or not ledger.expected_jobs or not predictions:
            return remaining
        cheapest = min(p.cost_usd for p in predictions.values())
        miss_rate = (self.jobs_called + 1) / (self.jobs_done + 1)
        future = max(0, ledger.expected_jobs - ledger.jobs_seen - 1)
        surplus = remaining - future * miss_rate * cheapest
        # spend follows the target line over the stream, at most a bounded deviation ahead of it (pacing.py)
        # (spend is read from the ledger: a fleet's scheduler cut off from Redis may use only its slice of
        # what remains, which says nothing about what was spent)
        line = min(remaining, curve_allowance(ledger.total_usd, ledger.spent_usd, ledger.jobs_seen,
                                              ledger.expected_jobs))
        if extra:
            return max(0.0, min(surplus, line))
        if surplus < cheapest:
            # the budget cannot pay the cheapest model for every expected miss: calls are rationed evenly
            # along the line (a job gets the cheapest model when the line has accrued its price, else none)
            return min(remaining, line)
        surplus = min(surplus, max(line, 0.0))
        # One call may cost at most `call_cap` times what a call may spend on average from here on: a model
        # the budget could never pay for regularly is not worth trying (exploring it would teach nothing usable).
        rate = ledger.per_job_allowance()
        if rate is not None and self.config.call_cap:
            surplus = min(surplus, max(cheapest, self.config.call_cap * rate / miss_rate))
        return surplus

    @property
    def pressure(self) -> float:
        """How far the budget has pushed λ above its base (1 = not at all)."""
        return max(1.0, self.pacer.lam / self.config.cost_weight) if self.config.cost_weight > 0 else 1.0

    def decide(self, predictions: dict[str, Prediction], ledger: BudgetLedger) -> Decision:
        # Under budget pressure exploration shrinks: trying models is paid for from the same budget.
        return decide(predictions, cost_weight=self.pacer.lam, latency_weight=self.config.latency_weight,
                      remaining_usd=self.spendable(ledger, predictions),
                      rng=self.rng if self.config.explore else None,
                      explore_scale=self.config.explore_scale / self.pressure,
                      cost_reference=self.config.cost_reference)

    def next_model(self, job: Job, decision: Decision, attempts: list[Attempt],
                   ledger: BudgetLedger) -> str | None:
        """Who to call next for this job, using run-time information only (never the reference).

        * the verifier rejected the last answer → the next-best affordable untried model (escalation);
        * an answer of a closed-answer task whose predicted success is below `agree_below` → a second
          opinion from the next-best model; if the two disagree → the strongest affordable model.
        """
        if len(attempts) >= self.config.max_attempts:
            return None
        tried = [a.model for a in attempts]
        budget = self.spendable(ledger, {r.model: r for r in decision.table}, extra=True)
        affordable = [r for r in decision.ranked(exclude=tried) if r.cost_usd <= budget]
        if not affordable:
            return None
        if attempts[-1].verdict.ok is False:
            return affordable[0].model
        if job.task not in self.config.agreement_tasks or self.pressure > 1.5:
            return None   # second opinions are a luxury a budget under pressure does without
        if len(attempts) == 1 and attempts[0].predicted_p < self.config.agree_below:
            return affordable[0].model
        answers = {answer_key(a.output) for a in attempts if a.verdict.ok is not False}
        if len(attempts) == 2 and len(answers) > 1:
            return max(affordable, key=lambda r: (r.p_success, -r.cost_usd)).model
        return None

    @staticmethod
    def final_attempt(attempts: list[Attempt]) -> Attempt:
        """The answer to return: the majority of the accepted answers (ties: the model predicted best),
        else the one predicted best."""
        accepted = [a for a in attempts if a.verdict.ok is not False]
        if not accepted:
            return max(attempts, key=lambda a: (a.predicted_p, -a.cost_usd))
        votes: dict[str, int] = {}
        for a in accepted:
            votes[answer_key(a.output)] = votes.get(answer_key(a.output), 0) + 1
        return max(accepted, key=lambda a: (votes[answer_key(a.output)], a.predicted_p, -a.cost_usd))

    def feedback(self, fb: Feedback) -> list:
        """Apply one feedback event; returns drift events."""
        return self.updates.apply(fb)

    def hit_verdict(self, job: Job, answer: str, score: float) -> bool | None:
        """Whether feedback confirms a cache hit, per the feedback mode."""
        mode = self.updates.mode
        if mode == "reference":
            return None if math.isnan(score) else score >= 1.0
        if mode == "verifier":
            judge = self.verifier(job)
            ok = (judge.verify(job, answer) if judge is not None else get_task(job.task).verify(job, answer)).ok
            return None if ok is None else bool(ok)
        return None

    def verifier(self, job: Job):
        """The task's stateful label-free judge when the verdict is what the engine learns from (feedback
        mode `verifier`, or a job without a reference), else None: the task's stateless `verify` only
        guards against malformed answers, and the reference grades them."""
        if self.updates.mode != "verifier" and job.reference is not None:
            return None
        return self.updates.judge(job.task)

    def after_job(self, ledger: BudgetLedger, called: bool = False) -> None:
        self.updates.after_job(ledger, called)

    def freeze(self) -> None:
        self.updates.learn = False

    def artefacts(self) -> dict:
        """What a run leaves to look at: drift events, (predicted, observed) pairs, threshold changes and
        the cache's statistics and entries (after flushing it)."""
        out = {"drift_events": [e.as_dict() for e in self.updates.drift.events],
               "observations": self.updates.observations, "thresholds": self.thresholds}
        if self.cache is not None:
            self.cache.flush()
            out["cache_stats"] = self.cache.stats()
            out["cache_entries"] = self.cache.entries()
        return out

    # -- persistence -------------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The learned state (everything but the cache, which persists itself) as bytes."""
        cache, self.updates.cache = self.updates.cache, None
        try:
            return pickle.dumps({"updates": self.updates, "rng": self.rng.getstate()})
        finally:
            self.updates.cache = cache

    def restore(self, blob: bytes) -> None:
        state = safe_loads(blob)   # learned state is data, never code
        updates = state["updates"]
        if "pacer" in state:      # a snapshot from before the update manager held all the learned state
            updates.predictors, updates.known, updates.pacer = state["predictors"], state["known"], state["pacer"]
            updates.thresholds = state["thresholds"]
            updates.jobs_done, updates.jobs_called = state.get("jobs", (0, 0))
        updates.cache = self.cache
        self.updates = updates
        self.rng.setstate(state["rng"])
