"""The scheduler core shared by replays and live runs: cache lookup, predictions, the decision, escalation
choice and feedback. It owns the learned state (predictors, cache, pacer, drift monitors) and nothing else:
where answers come from (a trace, a live client) is the caller's business.
"""

from __future__ import annotations

import math
import pickle
import random
from dataclasses import dataclass

from engine.catalog import Catalog, ModelSpec
from engine.jobs import Job
from engine.predictors import Prediction, Predictors
from engine.scheduling.budget import BudgetLedger
from engine.scheduling.decision import Decision, decide
from engine.scheduling.pacing import Pacer
from engine.tasks import get_task
from engine.updates.manager import Attempt, Feedback, UpdateManager


@dataclass(frozen=True)
class SchedulerConfig:
    """One configuration for every trace. Weights are dimensionless (see `engine.scheduling.decision`)."""

    cost_weight: float = 0.15        # λ without a budget: success probability traded for the dearest→free move
    latency_weight: float = 0.0      # μ
    max_attempts: int = 3            # calls per job including escalations
    use_cache: bool = True
    learn: bool = True
    freeze_after: float | None = None   # fraction of jobs after which predictors stop learning
    pacing: bool = True
    explore: bool = True
    models: tuple[str, ...] | None = None   # restrict the candidate set

    @classmethod
    def from_params(cls, params: dict, **overrides) -> SchedulerConfig:
        known = {k: v for k, v in params.items() if k in cls.__dataclass_fields__}
        if "cache" in params:
            known["use_cache"] = bool(params["cache"])
        if known.get("models") is not None:
            known["models"] = tuple(known["models"])
        return cls(**{**known, **overrides})


class Scheduler:
    """Learned state plus the decisions made from it."""

    def __init__(self, catalog: Catalog, config: SchedulerConfig, *, cache=None, feedback: str = "reference",
                 seed: int = 0, predictors: Predictors | None = None):
        self.catalog, self.config = catalog, config
        self.cache = cache if config.use_cache else None
        self.predictors = predictors or Predictors()
        self.known: set[str] = set()
        self.pacer = Pacer(base=config.cost_weight, enabled=config.pacing)
        self.updates = UpdateManager(self.predictors, self.cache, catalog, mode=feedback, learn=config.learn)
        self.rng = random.Random(seed)
        self.thresholds: list[dict] = []

    # -- stages ------------------------------------------------------------------------------------------
    def lookup(self, job: Job):
        """(cache key, hit or None)."""
        key = get_task(job.task).cache_key(job)
        return key, (self.cache.lookup(job, key) if self.cache is not None else None)

    def candidates(self, names: list[str]) -> list[ModelSpec]:
        specs = [self.catalog.get(n) for n in names if self.config.models is None or n in self.config.models]
        for spec in specs:
            if spec.name not in self.known:
                self.predictors.add_model(spec)
                self.known.add(spec.name)
        return specs

    def predict(self, job: Job, specs: list[ModelSpec], input_tokens: float) -> dict[str, Prediction]:
        return self.predictors.predict(job, specs, input_tokens)

    def decide(self, predictions: dict[str, Prediction], ledger: BudgetLedger) -> Decision:
        return decide(predictions, cost_weight=self.pacer.lam, latency_weight=self.config.latency_weight,
                      remaining_usd=ledger.remaining_usd, rng=self.rng if self.config.explore else None)

    def next_model(self, decision: Decision, attempts: list[Attempt], ledger: BudgetLedger) -> str | None:
        """The escalation target after a verifier rejection: the next-best affordable untried model."""
        if len(attempts) >= self.config.max_attempts:
            return None
        for row in decision.ranked(exclude=[a.model for a in attempts]):
            if row.cost_usd <= ledger.remaining_usd:
                return row.model
        return None

    @staticmethod
    def final_attempt(attempts: list[Attempt]) -> Attempt:
        """The answer to return: the last verified one, else the one predicted best."""
        return next((a for a in reversed(attempts) if a.verdict.ok), None) or max(
            attempts, key=lambda a: (a.predicted_p, -a.cost_usd))

    def feedback(self, fb: Feedback) -> list:
        """Apply one feedback event; returns drift events."""
        events = self.updates.apply(fb)
        if self.cache is not None and fb.hit is not None and fb.hit_correct is False:
            self.thresholds.append({"seq": fb.seq, "task": fb.job.task,
                                    "threshold": self.cache.threshold(fb.job.task)})
        return events

    def hit_verdict(self, job: Job, answer: str, score: float) -> bool | None:
        """Whether feedback confirms a cache hit, per the feedback mode."""
        mode = self.updates.mode
        if mode == "reference":
            return None if math.isnan(score) else score >= 1.0
        if mode == "verifier":
            ok = get_task(job.task).verify(job, answer).ok
            return None if ok is None else bool(ok)
        return None

    def after_job(self, ledger: BudgetLedger) -> None:
        self.pacer.update(ledger)

    def freeze(self) -> None:
        self.updates.learn = False

    # -- persistence -------------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The learned state (everything but the cache, which persists itself) as bytes."""
        cache, self.updates.cache = self.updates.cache, None
        try:
            return pickle.dumps({"predictors": self.predictors, "known": self.known, "pacer": self.pacer,
                                 "updates": self.updates, "rng": self.rng.getstate(),
                                 "thresholds": self.thresholds})
        finally:
            self.updates.cache = cache

    def restore(self, blob: bytes) -> None:
        state = pickle.loads(blob)
        self.predictors, self.known, self.pacer = state["predictors"], state["known"], state["pacer"]
        self.updates = state["updates"]
        self.updates.cache = self.cache
        self.rng.setstate(state["rng"])
        self.thresholds = state["thresholds"]
