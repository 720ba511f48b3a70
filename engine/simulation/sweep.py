"""What-if sweeps: one policy replayed at several budgets, in parallel processes."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

from engine.errors import SettingsError
from engine.simulation.policy import ReplayOptions
from engine.traces.model import Trace

_TRACE: Trace | None = None   # set in the parent before forking; workers inherit it


def parse_budgets(text: str) -> list[float | None]:
    """'0.1,0.5,none' -> [0.1, 0.5, None]; a clear error for anything else."""
    budgets: list[float | None] = []
    for k, part in enumerate(p.strip() for p in text.split(",")):
        if part.lower() in ("none", "inf", "unlimited"):
            budgets.append(None)
            continue
        try:
            value = float(part)
        except ValueError:
            raise SettingsError(f"--budgets item {k + 1} '{part}' is not a number of USD") from None
        if not math.isfinite(value) or value < 0:
            raise SettingsError(f"--budgets item {k + 1} must be a finite number >= 0, got '{part}'")
        budgets.append(value)
    if not budgets:
        raise SettingsError("--budgets needs at least one budget")
    return budgets


def _run_one(args) -> dict:
    from engine.simulation.replay import replay
    policy, budget, seed, feedback, scoring, warm_start = args
    options = ReplayOptions(budget_usd=budget, seed=seed, feedback=feedback, warm_start=warm_start)
    metrics = replay(_TRACE, policy, options, scoring=scoring).metrics
    metrics["budget_usd"] = budget
    return metrics


def sweep(trace: Trace | str, policy: str, budgets: list[float | None], *, seed: int = 0,
          feedback: str = "reference", scoring: str | None = None, workers: int = 0,
          warm_start: str | None = None) -> list[dict]:
    """Metrics of `policy` at each budget (in the given order). Uses one process per core by default.
    `warm_start`: a workspace every replay starts from (see `engine.warmstart`)."""
    global _TRACE
    if isinstance(trace, str):
        from engine.traces import load_trace
        trace = load_trace(trace)
    from engine.simulation.policy import resolve
    resolve(policy, trace.model_names)   # fail fast on a bad name, before forking
    if warm_start:
        from engine.warmstart import read_warm_state
        read_warm_state(warm_start)      # likewise a directory that is not a workspace
    jobs = [(policy, b, seed, feedback, scoring, warm_start) for b in budgets]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    _TRACE = trace
    try:
        if workers <= 1 or len(jobs) == 1 or "fork" not in mp.get_all_start_methods():
            return [_run_one(j) for j in jobs]
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
            return list(pool.map(_run_one, jobs))
    finally:
        _TRACE = None
