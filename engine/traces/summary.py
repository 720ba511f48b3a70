"""A short description of a trace, for the CLI (`sls describe`) and the dashboard."""

from __future__ import annotations

import numpy as np

from engine.traces.model import Trace


def describe(trace: Trace) -> dict:
    """Plain, JSON-ready facts about `trace`.

    Keys: name, path, n_queries, n_models, models (models.csv order), tasks and datasets (name -> number of
    queries, most frequent first), graded_fraction (share of outcomes with a score), has_prices (every
    model has both list prices), has_tokens and has_latency (some outcome records them), total_cost_usd
    (of calling every model on every query).
    """
    return {
        "name": trace.name,
        "path": trace.path,
        "n_queries": trace.n_queries,
        "n_models": len(trace.models),
        "models": trace.model_names,
        "tasks": _counts(trace.queries["task"]),
        "datasets": _counts(trace.queries["dataset"]),
        "graded_fraction": _fraction_known(trace.scores),
        "has_prices": all(m.input_usd_per_mtok is not None and m.output_usd_per_mtok is not None
                          for m in trace.models),
        "has_tokens": bool(np.isfinite(trace.input_tokens).any() or np.isfinite(trace.output_tokens).any()),
        "has_latency": bool(np.isfinite(trace.latency_s).any()),
        "total_cost_usd": float(np.nansum(trace.costs)),
    }


def _counts(values) -> dict[str, int]:
    counts = values.astype(str).value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def _fraction_known(matrix: np.ndarray) -> float:
    return float(np.isfinite(matrix).mean()) if matrix.size else 0.0
