"""Replaying a trace through a policy: deterministic for a seed, metrics per the replay contract.

`ReplaySession` runs a replay incrementally (the dashboard's live run steps it in chunks, and can pause
between them); `replay` runs one to the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from engine.catalog import Catalog
from engine.config import FEEDBACK_MODES
from engine.errors import SettingsError
from engine.safepickle import safe_loads
from engine.scheduling.budget import BudgetLedger
from engine.simulation.env import ReplayEnv
from engine.simulation.metrics import summarise
from engine.simulation.policy import ReplayOptions, policy_names, resolve
from engine.simulation.records import RunResult, StepRecord
from engine.traces.model import Trace

CHECKPOINT_EVERY = int(os.environ.get("SLS_CHECKPOINT_EVERY", "500"))
log = logging.getLogger(__name__)


class ReplaySession:
    """A replay that advances on demand: `step(n)` handles the next n jobs."""

    def __init__(self, trace: Trace, policy: str, options: ReplayOptions | None = None, *,
                 catalog: Catalog | None = None, scoring: str | None = None):
        options = options or ReplayOptions()
        if options.feedback not in FEEDBACK_MODES:
            raise SettingsError(f"feedback must be one of {', '.join(FEEDBACK_MODES)}, got '{options.feedback}'")
        info, params = resolve(policy, trace.model_names)
        if params:
            options = ReplayOptions(**{**options.__dict__, "policy_params": {**options.policy_params, **params}})
        if options.warm_start:
            _check_warm_start(options, info, policy)
        self.policy, self.info, self.options, self.trace = policy, info, options, trace
        self.ledger = BudgetLedger(options.budget_usd, trace.n_queries)
        self.env = ReplayEnv(trace, catalog, scoring=scoring or info.scoring, budget=self.ledger)
        self.runner = info.factory(self.env, options)
        self.records: list[StepRecord] = []
        self.wall_s = 0.0
        self._extras: dict | None = None
        self.events = None
        if options.workspace:
            self._open_workspace(trace, policy, options)

    @property
    def total(self) -> int:
        return self.trace.n_queries

    @property
    def done(self) -> bool:
        return len(self.records) >= self.total

    def step(self, n: int = 1) -> list[StepRecord]:
        """Handle up to n more jobs; returns their records."""
        start = len(self.records)
        stop = min(self.total, start + max(0, n))
        t_start = time.perf_counter()
        for i in range(start, stop):
            t0 = time.perf_counter()
            record = self.runner.run_job(i, self.env)
            if not record.engine_us:     # the pipeline measures its own time; baselines are timed here
                record = replace(record, engine_us=(time.perf_counter() - t0) * 1e6)
            self.ledger.jobs_seen = i + 1
            self.records.append(record)
            if self.events is not None and (i + 1) % CHECKPOINT_EVERY == 0:
                self._checkpoint()
        if self.events is not None and self.done and self._saved < len(self.records):
            self._checkpoint()
        self.wall_s += time.perf_counter() - t_start
        return self.records[start:stop]

    # -- resumable runs ----------------------------------------------------------------------------------
    def _open_workspace(self, trace: Trace, policy: str, options: ReplayOptions) -> None:
        from engine.eventlog import EventLog
        key = json.dumps({"trace": str(trace.path), "policy": policy, "budget": options.budget_usd,
                          "seed": options.seed, "feedback": options.feedback, "exhausted": options.exhausted,
                          "params": options.policy_params}
                         | ({"warm_start": str(Path(options.warm_start).resolve())} if options.warm_start else {}),
                         sort_keys=True, default=str)
        self.run_id = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.events = EventLog(Path(options.workspace) / "events.sqlite")
        self.events.start_run(self.run_id, "replay", str(trace.path), policy, json.loads(key))
        self._saved = 0
        checkpoint = self.events.last_checkpoint(self.run_id)
        if checkpoint is None or not hasattr(self.runner, "restore"):
            self.events.discard_after(self.run_id, -1)
            return
        seq, blob = checkpoint
        self.events.discard_after(self.run_id, seq)     # steps after the checkpoint are redone, not repeated
        state = safe_loads(blob)   # h14: a checkpoint is data, never code
        self.runner.restore(state["runner"], self.events.decisions(self.run_id))
        self.ledger.spent_usd, self.ledger.jobs_seen = state["spent"], state["jobs_seen"]
        self.records = [StepRecord.from_step(r) for r in self.events.steps(self.run_id)]
        self._saved = len(self.records)
        log.info("resumed run %s at job %d", self.run_id, len(self.records))

    def _checkpoint(self) -> None:
        new = self.records[self._saved:]
        runner_state = self.runner.snapshot() if hasattr(self.runner, "snapshot") else b""
        state = pickle.dumps({"runner": runner_state, "spent": self.ledger.spent_usd,
                              "jobs_seen": self.ledger.jobs_seen})
        decisions = [d for d in getattr(self.runner, "decisions", []) if d["seq"] >= self._saved]
        self.events.checkpoint(self.run_id, len(self.records) - 1,
                               [r.as_step() for r in new],
                               decisions, [], state)
        if getattr(self.runner, "core", None) is not None and self.runner.core.cache is not None:
            self.runner.core.cache.flush()
        self._saved = len(self.records)

    def extras(self) -> dict:
        """Artefacts of the policy (decision tables, drift events, …); final once the session is done."""
        if self.done and self._extras is not None:
            return self._extras
        extras = self.runner.finish() or {}
        if self.done:
            self._extras = extras
        return extras

    def metrics(self) -> dict:
        metrics = summarise(self.records, policy=self.policy, budget=self.options.budget_usd,
                            latency_modelled=self.env.latency_modelled, wall_time_s=self.wall_s)
        metrics["scoring"] = self.env.scoring
        metrics["feedback"] = self.options.feedback if self.info.kind in ("engine", "published") else "n/a"
        if self.env.trace.recorded is not None:     # a workspace's own jobs: say what a replay cannot know
            from engine.traces.workspace import missing_outcomes
            metrics["missing_outcomes"] = missing_outcomes(self.env.trace)
        return metrics

    def result(self) -> RunResult:
        return RunResult(self.policy, self.metrics(), self.records, self.extras())


def _check_warm_start(options: ReplayOptions, info, policy: str) -> None:
    """A warm start seeds the scheduler's learned state: only the engine's policies have one, and the
    source workspace is only read, so it cannot also be the run's own workspace."""
    if info.kind != "engine":
        raise SettingsError(f"--warm-start applies to the scheduler's policies (sls, sls-*), not to "
                            f"'{policy}', which learns nothing")
    if options.workspace and Path(options.workspace).resolve() == Path(options.warm_start).resolve():
        raise SettingsError(f"--warm-start {options.warm_start} is also the run's --workspace: the source of a "
                            "warm start is never written; give the run another workspace")


def replay(trace: Trace, policy: str, options: ReplayOptions | None = None, *,
           catalog: Catalog | None = None, scoring: str | None = None,
           progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Run `policy` over every job of `trace` in arrival order and return metrics and per-job records.

    `scoring` overrides the policy's default ("recorded": the trace's score column; "parsed": our task
    parser and scorer where the job has a reference). `progress(done, total)` is called every 256 jobs.
    """
    session = ReplaySession(trace, policy, options, catalog=catalog, scoring=scoring)
    while not session.done:
        session.step(256)
        if progress is not None:
            progress(len(session.records), session.total)
    return session.result()


def baseline_names(trace: Trace) -> list[str]:
    """The baselines `sls baselines` reports: each single model, random, cheapest, best-single, oracle."""
    return [n for n in policy_names(trace.model_names)
            if n.startswith("single:") or n in ("random", "cheapest", "best-single", "oracle")]


def replay_through_engine(trace: Trace, options: ReplayOptions | None = None, *, scoring: str | None = None,
                          progress: Callable[[int, int], None] | None = None) -> RunResult:
    """`sls` over `trace` through the live `Engine` (its pipeline, event log and checkpoints) with the
    recorded-trace backend, one job at a time. Gives the same accuracy, cost, LLM calls and cache hits as
    `replay(trace, "sls", options)`: the parity test of the one job pipeline."""
    import tempfile

    from engine.cache import CacheManager
    from engine.service import build_engine
    from engine.settings import load_settings
    from engine.simulation.backend import ReplayBackend

    options = options or ReplayOptions()
    if options.feedback not in FEEDBACK_MODES:
        raise SettingsError(f"feedback must be one of {', '.join(FEEDBACK_MODES)}, got '{options.feedback}'")
    if options.policy_params:
        raise SettingsError("--through-engine runs the engine's own configuration: no policy parameters")
    catalog = Catalog(list(Catalog.from_trace_models(trace.models)))
    env = ReplayEnv(trace, catalog, scoring=scoring or "parsed")
    with tempfile.TemporaryDirectory(prefix="sls-through-engine-") as tmp:
        workspace = options.workspace or tmp
        settings = load_settings(workspace=workspace, feedback=options.feedback, when_exhausted=options.exhausted,
                                 seed=options.seed, warm_start=options.warm_start)
        engine = build_engine(settings, catalog=catalog, backend=ReplayBackend(env),
                              cache=CacheManager(None))
        started = time.perf_counter()
        try:
            outcomes = engine.run_outcomes(trace.jobs(), budget=options.budget_usd, concurrency=1,
                                           progress=progress)
        finally:
            engine.close()
        wall = time.perf_counter() - started
    failed = [o for o in outcomes if not isinstance(o, StepRecord)]
    if failed:
        raise failed[0]
    metrics = summarise(outcomes, policy="sls", budget=options.budget_usd, latency_modelled=env.latency_modelled,
                        wall_time_s=wall)
    metrics["scoring"] = env.scoring
    metrics["feedback"] = options.feedback
    metrics["through_engine"] = True
    return RunResult("sls", metrics, outcomes, {})
