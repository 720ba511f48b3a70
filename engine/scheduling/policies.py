"""The scheduler policy (`sls`) and its ablations in the replay registry.

Per job: cache lookup → per-model predictions → decision (Thompson-sampled utility, λ paced to the budget)
→ call → parse → verify → escalate on rejection (next-best affordable model; run-time information only)
→ feedback to the update manager (predictors, cache, drift). The logic lives in `Scheduler`; this module
adapts it to the replay environment.
"""

from __future__ import annotations

import math
import statistics

from engine.jobs import Verdict
from engine.scheduling.scheduler import Scheduler, SchedulerConfig
from engine.simulation.env import ReplayEnv
from engine.simulation.policy import ReplayOptions, register
from engine.simulation.records import StepRecord
from engine.tasks import get_task
from engine.updates.manager import Attempt, Feedback

TRUNCATED = Verdict(False, "call cut by the budget")


def follow_up(attempts: list[Attempt]) -> str:
    """What happened after the first call, in words."""
    rejected = [a.model for a in attempts[:-1] if a.verdict.ok is False]
    if rejected:
        return f"verifier rejected {', '.join(rejected)}: escalated to {attempts[-1].model}"
    return f"second opinion from {', '.join(a.model for a in attempts[1:])} (answers compared, majority kept)"


def open_cache(options: ReplayOptions):
    """The replay's cache: ChromaDB under the workspace when one is given, else in memory only."""
    from engine.cache import CacheManager
    if options.workspace:
        return CacheManager.open(options.workspace)
    return CacheManager(None)


class SchedulerPolicy:
    """The SmartLLMs scheduler as a replay policy."""

    def __init__(self, name: str, env: ReplayEnv, options: ReplayOptions, config: SchedulerConfig):
        self.name, self.config, self.options = name, config, options
        cache = open_cache(options) if config.use_cache else None
        self.core = Scheduler(env.catalog, config, cache=cache, feedback=options.feedback, seed=options.seed)
        self.freeze_at = (math.ceil(config.freeze_after * env.trace.n_queries)
                          if config.freeze_after is not None else None)
        self.decisions: list[dict] = []
        self._col = {m: k for k, m in enumerate(env.models)}

    def run_job(self, i: int, env: ReplayEnv) -> StepRecord:
        core, job = self.core, env.job(i)
        if self.freeze_at is not None and i == self.freeze_at:
            core.freeze()
        key, hit = core.lookup(job)
        if hit is not None:
            score = env.score_answer(i, hit.answer)
            core.feedback(Feedback(i, job, key, (), hit, core.hit_verdict(job, hit.answer, score)))
            core.after_job(env.ledger)
            return StepRecord(i, job.job_id, job.task, job.dataset, "cache", hit.model, score=score,
                              reason=f"cache {hit.kind} hit (similarity {hit.similarity:.3f})", verified=True,
                              false_hit=not math.isnan(score) and score < 1.0)

        specs = core.candidates([env.models[j] for j in env.available(i)])
        in_tok = statistics.median(env.input_tokens(i, self._col[s.name]) for s in specs)
        predictions = core.predict(job, specs, in_tok)
        decision = core.decide(predictions, env.ledger)
        if decision.chosen is None:
            record = self._exhausted(i, env, job, predictions)
            core.after_job(env.ledger, called=True)
            return record

        attempts, chosen = [], decision.chosen
        while chosen is not None:
            result = env.call(i, self._col[chosen])
            judge = core.verifier(job.task)      # a stateful judge in verifier mode, else the task (memoised)
            verdict = (TRUNCATED if result.truncated else env.verify(i, self._col[chosen])
                       if judge is get_task(job.task) else judge.verify(job, result.output))
            attempts.append(Attempt(chosen, result.output, verdict, result.score, predictions[chosen].p_success,
                                    result.cost_usd, result.latency_s, result.input_tokens,
                                    result.output_tokens or None))
            chosen = core.next_model(job, decision, attempts, env.ledger)
        final = core.final_attempt(attempts)
        drift = core.feedback(Feedback(i, job, key, tuple(attempts)))
        core.after_job(env.ledger, called=True)
        reason = decision.reason if len(attempts) == 1 else f"{decision.reason}; {follow_up(attempts)}"
        self.decisions.append({"seq": i, "job_id": job.job_id, "chosen": decision.chosen, "final": final.model,
                               "reason": reason, "lambda": round(decision.cost_weight, 5),
                               "explored": decision.reason.startswith("exploring"),
                               "drift": [e.model for e in drift],
                               "table": [r.as_dict() for r in decision.table]})
        return StepRecord(i, job.job_id, job.task, job.dataset, "model", final.model, attempts=len(attempts),
                          score=final.score, cost_usd=sum(a.cost_usd for a in attempts),
                          latency_s=sum(a.latency_s for a in attempts),
                          predicted_p=predictions[final.model].p_success, verified=final.verdict.ok,
                          reason=reason, models_tried=tuple(a.model for a in attempts),
                          explore_gap=round(decision.explore_gap, 6))

    def _exhausted(self, i: int, env: ReplayEnv, job, predictions) -> StepRecord:
        behaviour = self.options.exhausted
        allowed = min(env.ledger.remaining_usd, self.core.spendable(env.ledger, predictions))  # paced, not first-come
        affordable = [m for m in predictions if float(env.trace.costs[i, self._col[m]]) <= allowed]
        if behaviour == "cheapest" and affordable:
            cheapest = min(affordable, key=lambda m: (predictions[m].cost_usd, m))
            result = env.call(i, self._col[cheapest])
            return StepRecord(i, job.job_id, job.task, job.dataset, "model", cheapest, attempts=1,
                              score=result.score, cost_usd=result.cost_usd, latency_s=result.latency_s,
                              reason="budget nearly exhausted: cheapest model", models_tried=(cheapest,))
        return StepRecord.refused(i, job, f"budget exhausted ({behaviour}): job not answered")

    # -- checkpoints (resumable replays) -------------------------------------------------------------------
    def snapshot(self) -> bytes:
        import pickle
        cache = self.core.cache
        return pickle.dumps({"core": self.core.snapshot(), "decisions_n": len(self.decisions),
                             "cache": cache.memory_state() if cache is not None else None,
                             "frozen": not self.core.updates.learn})

    def restore(self, blob: bytes, decisions: list[dict]) -> None:
        import pickle
        state = pickle.loads(blob)
        self.core.restore(state["core"])
        if state["cache"] is not None and self.core.cache is not None:
            self.core.cache.restore_memory_state(state["cache"])
        self.decisions = decisions[:state["decisions_n"]]

    def finish(self) -> dict:
        core = self.core
        extras = {"decisions": self.decisions,
                  "drift_events": [e.as_dict() for e in core.updates.drift.events],
                  "observations": core.updates.observations,
                  "thresholds": core.thresholds}
        if core.cache is not None:
            core.cache.flush()
            extras["cache_stats"] = core.cache.stats()
            extras["cache_entries"] = core.cache.entries()
        return extras


def _factory(name: str, **overrides):
    def build(env: ReplayEnv, options: ReplayOptions) -> SchedulerPolicy:
        return SchedulerPolicy(name, env, options, SchedulerConfig.from_params(options.policy_params, **overrides))
    return build


register("sls", "SmartLLMs scheduler: cache + online predictors + paced policy + escalation", "engine",
         "parsed")(_factory("sls"))
register("sls-no-cache", "ablation: sls without the cache", "engine", "parsed")(
    _factory("sls-no-cache", use_cache=False))
register("sls-frozen", "ablation: predictors stop learning after the first 5% of jobs", "engine", "parsed")(
    _factory("sls-frozen", freeze_after=0.05))
register("sls-no-pacing", "ablation: λ fixed, the budget only caps spend", "engine", "parsed")(
    _factory("sls-no-pacing", pacing=False))
