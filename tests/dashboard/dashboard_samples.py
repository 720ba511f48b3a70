"""Synthetic run data for the dashboard tests, in exactly the shapes the engine returns (`RunResult.frame()` and `RunResult.extras`)."""

from __future__ import annotations

import math
import random

MODELS = ("sim-large", "sim-medium", "sim-small")


def synthetic_run(n: int = 240, seed: int = 7) -> tuple[list[dict], dict]:
    """(job records, extras) of a fake `sls` run: two tasks, a cache that warms up, a drift at job 120."""
    rng = random.Random(seed)
    records, decisions, observations, entries, thresholds = [], [], [], [], []
    for i in range(n):
        task = "log_parsing" if i % 3 else "text_classification"
        dataset = f"ds{i % 2}"
        if i > 20 and rng.random() < 0.4:
            false_hit = rng.random() < 0.1
            records.append({"seq": i, "job_id": f"q{i}", "task": task, "dataset": dataset, "source": "cache",
                            "model": MODELS[i % 3], "attempts": 0, "score": 0.0 if false_hit else 1.0,
                            "cost_usd": 0.0, "latency_s": 0.0, "engine_us": 40.0, "predicted_p": math.nan,
                            "verified": True, "reason": "cache template hit", "models_tried": "",
                            "false_hit": false_hit})
            if false_hit and task == "text_classification":
                thresholds.append({"seq": i, "task": task, "threshold": 0.9 + 0.001 * i / n})
            continue
        table = []
        for k, m in enumerate(MODELS):
            p = [0.85, 0.7, 0.5][k] - (0.4 if (m == "sim-medium" and i >= 120) else 0.0)
            cost = [0.002, 0.0008, 0.0001][k]
            table.append({"model": m, "p_success": round(p, 4), "p_std": 0.05, "cost_usd": cost,
                          "latency_s": [1.2, 0.6, 0.3][k], "utility": round(p - 0.15 * cost / 0.002, 4),
                          "affordable": True})
        chosen = MODELS[(i // 2) % 3]     # rotate, so every model gets observations
        p_chosen = next(r["p_success"] for r in table if r["model"] == chosen)
        observed = 1.0 if rng.random() < p_chosen else 0.0
        decisions.append({"seq": i, "job_id": f"q{i}", "chosen": chosen, "final": chosen,
                          "reason": f"best utility ({chosen})", "lambda": 0.15, "explored": False, "table": table})
        observations.append({"seq": i, "model": chosen, "predicted": p_chosen, "observed": observed})
        records.append({"seq": i, "job_id": f"q{i}", "task": task, "dataset": dataset, "source": "model",
                        "model": chosen, "attempts": 1, "score": observed,
                        "cost_usd": next(r["cost_usd"] for r in table if r["model"] == chosen), "latency_s": 0.5,
                        "engine_us": 120.0, "predicted_p": p_chosen, "verified": True, "reason": "best utility",
                        "models_tried": chosen, "false_hit": False})
        if observed and i % 4 == 0:
            entries.append({"entry_id": f"e{i}", "task": task, "dataset": dataset, "key": f"line {i} user=alice",
                            "answer": f"line <*> user=<*> #{i}", "model": chosen, "score": 1.0, "hits": i % 7,
                            "last_used": i + 5, "created": i})
    extras = {"decisions": decisions,
              "drift_events": [{"seq": 130, "model": "sim-medium", "mean_before": 0.7, "mean_after": 0.3,
                                "detail": "sim-medium: success rate moved from 0.70 to 0.30 (ADWIN on residuals)"}],
              "thresholds": thresholds, "cache_entries": entries, "cache_stats": {"entries": len(entries)},
              "observations": observations}
    return records, extras


# Baseline metrics as `replay(...).metrics` returns them (the keys the dashboard reads).
BASELINES = [
    {"policy": "single:big", "accuracy": 0.8, "cost_usd": 2.0, "processing_time_s": 100.0, "llm_calls": 100},
    {"policy": "single:small", "accuracy": 0.5, "cost_usd": 0.2, "processing_time_s": 40.0, "llm_calls": 100},
    {"policy": "single:twin", "accuracy": 0.8, "cost_usd": 3.0, "processing_time_s": 90.0, "llm_calls": 100},
    {"policy": "random", "accuracy": 0.6, "cost_usd": 1.0, "processing_time_s": 70.0, "llm_calls": 100},
    {"policy": "oracle", "accuracy": 0.9, "cost_usd": 0.5, "processing_time_s": 50.0, "llm_calls": 100},
]
CURRENT = {"policy": "sls", "accuracy": 0.82, "cost_usd": 0.5, "processing_time_s": 30.0, "llm_calls": 40,
           "cache_hit_rate": 0.6, "budget_usd": 1.0}
