"""What-if sweeps: one policy replayed at several budgets and seeds, in parallel processes.

What a sweep reports, per budget `b`:

* the *measured* figures: the policy replayed at `b` with `seeds` different seeds (exploration draws and
  tie-breaks differ between seeds), averaged, with their spread (`measured.accuracy_sd`, `_min`, `_max`);
* the *frontier* (`accuracy`, `cost_usd` and the other top-level figures): the best of the measured means
  over every budget `b' <= b`. A budget is a ceiling, not a target: a run that stayed within `b'` also
  stays within `b`, so a user with budget `b` can always get at least that. `frontier_budget_usd` names the
  budget whose runs give the point (equal to `b` unless a lower budget did better), so the frontier never
  shows less accuracy for more money, and nothing is hidden: the measured figures stay beside it.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import statistics
from concurrent.futures import ProcessPoolExecutor

from engine.config import DEFAULT_SWEEP_SEEDS
from engine.errors import SettingsError
from engine.simulation.policy import ReplayOptions
from engine.traces.model import Trace

_TRACE: Trace | None = None   # set in the parent before forking; workers inherit it

DEFAULT_SEEDS = DEFAULT_SWEEP_SEEDS
FRONTIER_RULE = ("running best: the accuracy at budget b is the best mean accuracy (over seeds) of the runs at "
                 "any budget <= b, since a run that stayed within a lower budget is within b too; "
                 "'measured' holds the runs at b itself")
# figures averaged over seeds (the others are taken from the first seed's run)
_AVERAGED = ("accuracy", "cost_usd", "llm_calls", "cache_hits", "cache_hit_rate", "false_hits", "false_hit_rate",
             "refused", "api_time_s", "engine_time_s", "processing_time_s", "wall_time_s", "throughput_jobs_s")


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
    metrics["seed"] = seed
    return metrics


def _ceiling(budget: float | None) -> float:
    return math.inf if budget is None else float(budget)


def _round(x: float) -> float:
    return round(x, 6)


def summarise(runs: list[dict]) -> dict:
    """One budget's runs (one per seed) as one row: averaged figures plus `measured` (mean, sd, min, max)."""
    if not runs:
        raise ValueError("summarise needs at least one run")
    row = dict(runs[0])
    measured: dict = {"seeds": [r.get("seed") for r in runs]}
    for key in _AVERAGED:
        values = [float(r[key]) for r in runs if isinstance(r.get(key), int | float) and r.get(key) is not None]
        if not values:
            continue
        mean = statistics.fmean(values)
        row[key] = _round(mean)
        if key in ("accuracy", "cost_usd", "llm_calls", "cache_hit_rate", "refused"):
            measured[f"{key}_mean"] = _round(mean)
            measured[f"{key}_sd"] = _round(statistics.stdev(values)) if len(values) > 1 else 0.0
            measured[f"{key}_min"] = _round(min(values))
            measured[f"{key}_max"] = _round(max(values))
    row.pop("seed", None)
    row["seeds"] = len(runs)
    row["measured"] = measured
    return row


def frontier(rows: list[dict]) -> list[dict]:
    """Rows (one per budget, as from `summarise`) with the frontier applied, in the given order.

    For each budget b the top-level figures become those of the budget b' <= b with the best mean accuracy
    (ties: the lower budget, then the cheaper run); `frontier_budget_usd` says which one, `measured` keeps b's
    own figures, `frontier_rule` says what was done. Accuracy never falls as the budget rises."""
    order = sorted(range(len(rows)), key=lambda i: _ceiling(rows[i].get("budget_usd")))
    best: dict | None = None
    out: list[dict | None] = [None] * len(rows)
    for i in order:
        row = rows[i]
        if best is None or float(row.get("accuracy") or 0.0) > float(best.get("accuracy") or 0.0):
            best = row
        point = {k: v for k, v in best.items() if k not in ("measured", "budget_usd")}
        point["budget_usd"] = row.get("budget_usd")
        point["frontier_budget_usd"] = best.get("budget_usd")
        point["frontier_rule"] = FRONTIER_RULE
        point["measured"] = row.get("measured") or {"accuracy_mean": row.get("accuracy"),
                                                    "cost_usd_mean": row.get("cost_usd")}
        out[i] = point
    return [r for r in out if r is not None]


def sweep(trace: Trace | str, policy: str, budgets: list[float | None], *, seed: int = 0,
          seeds: int = DEFAULT_SEEDS, feedback: str = "reference", scoring: str | None = None,
          workers: int = 0, warm_start: str | None = None) -> list[dict]:
    """The frontier of `policy` at each budget (in the given order): `seeds` replays per budget (seeds
    `seed`, `seed + 1`, …) averaged, then the running best over lower budgets (see the module docstring).
    Uses one process per core by default. `warm_start`: a workspace every replay starts from
    (see `engine.warmstart`)."""
    global _TRACE
    if seeds < 1:
        raise SettingsError(f"seeds must be at least 1, got {seeds}")
    if isinstance(trace, str):
        from engine.traces import load_trace
        trace = load_trace(trace)
    from engine.simulation.policy import resolve
    resolve(policy, trace.model_names)   # fail fast on a bad name, before forking
    if warm_start:
        from engine.warmstart import read_warm_state
        read_warm_state(warm_start)      # likewise a directory that is not a workspace
    jobs = [(policy, b, seed + k, feedback, scoring, warm_start) for b in budgets for k in range(seeds)]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    _TRACE = trace
    try:
        if workers <= 1 or len(jobs) == 1 or "fork" not in mp.get_all_start_methods():
            results = [_run_one(j) for j in jobs]
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
                results = list(pool.map(_run_one, jobs))
    finally:
        _TRACE = None
    rows = [summarise(results[i * seeds:(i + 1) * seeds]) for i in range(len(budgets))]
    return frontier(rows)
