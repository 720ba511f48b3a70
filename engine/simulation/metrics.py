"""Metrics of a run: pure functions over step records."""

from __future__ import annotations

import math
from collections import defaultdict

from engine.simulation.records import StepRecord


def _rate(num: float, den: float) -> float:
    return num / den if den else 0.0


def _summarise(records: list[StepRecord]) -> dict:
    graded = [r.score for r in records if not math.isnan(r.score)]
    hits = sum(r.source == "cache" for r in records)
    false_hits = sum(r.false_hit for r in records)
    api = sum(r.latency_s for r in records)
    engine = sum(r.engine_us for r in records) / 1e6
    return {
        "queries": len(records),
        "graded": len(graded),
        "accuracy": round(_rate(sum(graded), len(graded)), 6),
        "cost_usd": round(sum(r.cost_usd for r in records), 6),
        "llm_calls": sum(r.attempts for r in records),
        "cache_hits": hits,
        "cache_hit_rate": round(_rate(hits, len(records)), 6),
        "false_hits": false_hits,
        "false_hit_rate": round(_rate(false_hits, hits), 6),
        "refused": sum(r.source == "refused" for r in records),
        **({"missing": missing} if (missing := sum(r.source == "missing" for r in records)) else {}),
        "api_time_s": round(api, 4),
        "engine_time_s": round(engine, 4),
        "processing_time_s": round(api + engine, 4),
    }


def summarise(records: list[StepRecord], *, policy: str, budget: float | None = None,
              latency_modelled: bool = True, wall_time_s: float | None = None) -> dict:
    """The run's metrics: the keys of the replay contract plus a per-dataset breakdown.

    Accuracy is the mean score over graded jobs; a refused job scores 0. `processing_time_s` is the
    API time (modelled when `latency_modelled`) plus the measured engine time, both also given apart.
    """
    out = {"policy": policy, **_summarise(records)}
    out["budget_usd"] = budget
    out["latency_modelled"] = latency_modelled
    if wall_time_s is not None:
        out["wall_time_s"] = round(wall_time_s, 4)
        out["throughput_jobs_s"] = round(len(records) / wall_time_s, 1) if wall_time_s > 0 else None
    overhead = sorted(r.engine_us for r in records)
    if overhead:
        out["engine_overhead_us"] = {q: round(_quantile(overhead, p), 1)
                                     for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}
    if any(r.explore_gap > 0 for r in records):
        out["cold_start"] = cold_start(records)
    by_dataset: dict[str, list[StepRecord]] = defaultdict(list)
    for r in records:
        by_dataset[r.dataset].append(r)
    out["per_dataset"] = {d: {k: v for k, v in _summarise(rs).items()
                              if k in ("queries", "accuracy", "cost_usd", "llm_calls", "cache_hit_rate")}
                          for d, rs in sorted(by_dataset.items())}
    return out


def cold_start(records: list[StepRecord], *, window: int = 50, settled_below: float = 0.2,
               gap: float = 0.02) -> dict:
    """How long the policy explored before it settled, and what that cost.

    A call explores when Thompson sampling chose a model whose expected utility is more than `gap` below
    the best one's (trying one of several near-equal models is not exploring: it gives nothing up). The
    run has settled at the first job from which every later window of `window` model calls explores at
    most `settled_below` of the time; `jobs` and `cost_usd` are what came before that point (the
    cold-start cost), with the accuracy before and after it. A run that never settles reports all its jobs.
    """
    calls = [k for k, r in enumerate(records) if r.source == "model"]
    flags = [records[k].explore_gap > gap for k in calls]
    settled_at = len(records)
    if len(calls) >= window:
        # scan windows from the last one back; the run is settled from the start of the earliest window
        # such that it and every window after it stay at or below the threshold
        explored = sum(flags[len(flags) - window:])
        start = len(flags) - window
        while start >= 0 and explored <= settled_below * window:
            settled_at = calls[start]
            start -= 1
            if start >= 0:
                explored += flags[start] - flags[start + window]

    def accuracy(rs: list[StepRecord]) -> float | None:
        graded = [r.score for r in rs if not math.isnan(r.score)]
        return round(sum(graded) / len(graded), 4) if graded else None

    return {"jobs": settled_at, "cost_usd": round(sum(r.cost_usd for r in records[:settled_at]), 6),
            "explored_calls": sum(flags), "accuracy_before": accuracy(records[:settled_at]),
            "accuracy_after": accuracy(records[settled_at:])}


def _quantile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)
