"""The scheduler (`sls`) and its ablations as replay policies: the one job pipeline on the recorded-trace
backend. Everything a job goes through lives in `engine.pipeline`; this module only adapts it to a
`ReplaySession` (job index → sequence number, freezing the predictors for `sls-frozen`, checkpoints)."""

from __future__ import annotations

import math
import pickle

from engine.outcome import Outcome
from engine.pipeline import Pipeline
from engine.safepickle import safe_loads
from engine.scheduling.scheduler import Scheduler, SchedulerConfig
from engine.simulation.backend import ReplayBackend
from engine.simulation.env import ReplayEnv
from engine.simulation.policy import ReplayOptions, register


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
        if options.warm_start:
            from engine.warmstart import apply_warm_state, read_warm_state
            apply_warm_state(self.core, read_warm_state(options.warm_start))
        self.pipeline = Pipeline(self.core, when_exhausted=options.exhausted)
        self.backend = ReplayBackend(env)
        self.freeze_at = (math.ceil(config.freeze_after * env.trace.n_queries)
                          if config.freeze_after is not None else None)
        self.decisions: list[dict] = []

    def run_job(self, i: int, env: ReplayEnv) -> Outcome:
        if self.freeze_at is not None and i == self.freeze_at:
            self.core.freeze()
        outcome = self.pipeline.handle(env.job(i), env.ledger, self.backend, seq=i)
        row = outcome.decision_row()
        if row is not None:
            self.decisions.append(row)
        return outcome

    # -- checkpoints (resumable replays) -------------------------------------------------------------------
    def snapshot(self) -> bytes:
        cache = self.core.cache
        return pickle.dumps({"core": self.core.snapshot(), "decisions_n": len(self.decisions),
                             "cache": cache.memory_state() if cache is not None else None,
                             "frozen": not self.core.updates.learn})

    def restore(self, blob: bytes, decisions: list[dict]) -> None:
        state = safe_loads(blob)   # a checkpoint is data, never code
        self.core.restore(state["core"])
        if state["cache"] is not None and self.core.cache is not None:
            self.core.cache.restore_memory_state(state["cache"])
        self.decisions = decisions[:state["decisions_n"]]

    def finish(self) -> dict:
        return self.core.artefacts() | {"decisions": self.decisions}


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
