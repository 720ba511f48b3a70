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
    by_dataset: dict[str, list[StepRecord]] = defaultdict(list)
    for r in records:
        by_dataset[r.dataset].append(r)
    out["per_dataset"] = {d: {k: v for k, v in _summarise(rs).items()
                              if k in ("queries", "accuracy", "cost_usd", "llm_calls", "cache_hit_rate")}
                          for d, rs in sorted(by_dataset.items())}
    return out


def _quantile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)
