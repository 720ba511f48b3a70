"""Warm start: learn on the first half of a trace, then run the second half cold and warm.

    python bench/warm_start.py [TRACE ...] [--seed 0] [--json]

(default traces: mbpp-dev, arc-dev, winogrande-dev and loghub-dev under `$SLS_DATA_DIR` or ../shared/data.)
Each trace is split in arrival order into its first and second half, written as two traces into a temporary
directory (never into the repo). The first half is replayed with `--policy sls --workspace W`; the second half
with `--policy sls` cold, and with `--warm-start W`. Beside them, the single models on the second half (as
`sls baselines` reports them). No budget, reference feedback, default scheduler settings: nothing is tuned here.

Per trace it prints the best single model's accuracy and cost, cold and warm sls accuracy and cost, warm as a
share of the best single model's accuracy, warm cost as a share of the most accurate model's cost, and whether
a single model is better than warm sls by more than 1 pp at no more than 90% of its cost (the issue's targets
for warm: >= 97%, no such model, <= 50%).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.simulation.policy import ReplayOptions  # noqa: E402
from engine.simulation.replay import replay  # noqa: E402
from engine.traces import load_trace, write_trace_frames  # noqa: E402
from engine.traces.writer import trace_frames  # noqa: E402

DEFAULT_TRACES = ("mbpp-dev", "arc-dev", "winogrande-dev", "loghub-dev")


def data_dir() -> Path:
    return Path(os.environ.get("SLS_DATA_DIR", ROOT.parent / "shared" / "data"))


def split(trace_dir: Path, out: Path) -> tuple[Path, Path]:
    """The trace's first and second half (arrival order) as two trace folders under `out`."""
    models, queries, outcomes = trace_frames(load_trace(trace_dir))
    half = len(queries) // 2
    folders = []
    for name, part in (("first", queries.iloc[:half]), ("second", queries.iloc[half:])):
        ids = set(part["query_id"])
        folders.append(write_trace_frames(out / name, models, part,
                                          pd.DataFrame(outcomes[outcomes["query_id"].isin(ids)])))
    return folders[0], folders[1]


def measure(trace_dir: Path, seed: int = 0) -> dict:
    with tempfile.TemporaryDirectory(prefix="sls-warm-bench-") as tmp:
        first_dir, second_dir = split(trace_dir, Path(tmp))
        first, second = load_trace(first_dir), load_trace(second_dir)
        workspace = Path(tmp) / "workspace"
        t0 = time.perf_counter()
        learned = replay(first, "sls", ReplayOptions(seed=seed, workspace=str(workspace))).metrics
        cold = replay(second, "sls", ReplayOptions(seed=seed)).metrics
        warm = replay(second, "sls", ReplayOptions(seed=seed, warm_start=str(workspace))).metrics
        singles = {m: replay(second, f"single:{m}", ReplayOptions(seed=seed)).metrics for m in second.model_names}
        wall = time.perf_counter() - t0
    best_model, best = max(singles.items(), key=lambda kv: (kv[1]["accuracy"], -kv[1]["cost_usd"]))
    dominating = sorted(m for m, s in singles.items()
                        if s["accuracy"] > warm["accuracy"] + 0.01 and s["cost_usd"] <= 0.9 * warm["cost_usd"])
    dominating_cold = sorted(m for m, s in singles.items()
                             if s["accuracy"] > cold["accuracy"] + 0.01 and s["cost_usd"] <= 0.9 * cold["cost_usd"])

    def pct(a: float, b: float) -> float | None:
        return None if not b else round(100.0 * a / b, 1)

    return {
        "trace": trace_dir.name, "first_half": first.n_queries, "second_half": second.n_queries,
        "first_half_sls": {"accuracy": learned["accuracy"], "cost_usd": learned["cost_usd"]},
        "best_single": best_model, "best_single_accuracy": best["accuracy"], "best_single_cost_usd": best["cost_usd"],
        "cold_accuracy": cold["accuracy"], "cold_cost_usd": cold["cost_usd"],
        "cold_cache_hit_rate": cold["cache_hit_rate"],
        "warm_accuracy": warm["accuracy"], "warm_cost_usd": warm["cost_usd"],
        "warm_cache_hit_rate": warm["cache_hit_rate"],
        "cold_pct_of_best": pct(cold["accuracy"], best["accuracy"]),
        "warm_pct_of_best": pct(warm["accuracy"], best["accuracy"]),
        "cold_cost_pct_of_best": pct(cold["cost_usd"], best["cost_usd"]),
        "warm_cost_pct_of_best": pct(warm["cost_usd"], best["cost_usd"]),
        "dominated_warm_by": dominating, "dominated_cold_by": dominating_cold,
        "warm_meets_targets": (pct(warm["accuracy"], best["accuracy"]) or 0) >= 97.0 and not dominating
                              and (pct(warm["cost_usd"], best["cost_usd"]) or 0) <= 50.0,
        "wall_s": round(wall, 1),
    }


def table(rows: list[dict]) -> str:
    head = ["trace", "n2", "best single", "acc", "cost", "cold acc", "cold $", "warm acc", "warm $",
            "warm %best", "warm $%best", "single >1pp at <=90% $", "targets"]
    lines = [head]
    for r in rows:
        lines.append([r["trace"], str(r["second_half"]), r["best_single"], f"{r['best_single_accuracy']:.3f}",
                      f"{r['best_single_cost_usd']:.3f}", f"{r['cold_accuracy']:.3f}", f"{r['cold_cost_usd']:.3f}",
                      f"{r['warm_accuracy']:.3f}", f"{r['warm_cost_usd']:.3f}", f"{r['warm_pct_of_best']}%",
                      f"{r['warm_cost_pct_of_best']}%", ", ".join(r["dominated_warm_by"]) or "none",
                      "met" if r["warm_meets_targets"] else "not met"])
    widths = [max(len(line[c]) for line in lines) for c in range(len(head))]
    out = ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("traces", nargs="*", help="trace folders or names under the data dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object per trace")
    args = parser.parse_args(argv)
    rows = []
    for name in args.traces or DEFAULT_TRACES:
        path = Path(name) if Path(name).is_dir() else data_dir() / name
        row = measure(path, args.seed)
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"{row['trace']}: done in {row['wall_s']} s", file=sys.stderr, flush=True)
    if not args.json:
        print(table(rows))
        print("no budget, feedback=reference, seed", args.seed, "- accuracy and cost on the second half only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
