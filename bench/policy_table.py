"""Every policy on every trace: the table of the scheduler issue's closing note.

    python bench/policy_table.py [--data-dir DIR] [--traces a,b] [--feedback reference] [--out FILE]

Writes JSON lines (one per trace × policy) and prints a table. Traces: the real ones under the data
directory (skipped when absent) and the embedded sample.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POLICIES = ["sls", "sls-no-cache", "sls-frozen", "sls-no-pacing", "optllm", "cascade",
            "random", "cheapest", "best-single", "oracle"]
_TRACES: dict = {}


def _run(args):
    from engine.simulation.policy import ReplayOptions
    from engine.simulation.replay import replay
    trace_name, policy, feedback, scoring = args
    m = replay(_TRACES[trace_name], policy, ReplayOptions(feedback=feedback), scoring=scoring).metrics
    return {"trace": trace_name, **{k: m[k] for k in (
        "policy", "accuracy", "cost_usd", "llm_calls", "cache_hit_rate", "false_hit_rate", "processing_time_s",
        "api_time_s", "engine_time_s", "scoring", "feedback", "queries")},
        "engine_overhead_us": m.get("engine_overhead_us"), "throughput_jobs_s": m.get("throughput_jobs_s")}


def main() -> None:
    from engine.traces import load_trace
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("SLS_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--traces", default="loghub-dev,mbpp-dev,arc-dev,sample")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--feedback", default="reference")
    parser.add_argument("--scoring", choices=("recorded", "parsed"), default=None)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "policy_table.jsonl"))
    args = parser.parse_args()
    for name in args.traces.split(","):
        path = ROOT / "sample_data" / "demo" if name == "sample" else Path(args.data_dir) / name
        if not path.exists():
            print(f"skipping {name}: {path} not found", file=sys.stderr)
            continue
        _TRACES[name] = load_trace(path)
    jobs = [(t, p, args.feedback, args.scoring) for t in _TRACES for p in args.policies.split(",")]
    rows = []
    with mp.get_context("fork").Pool(min(2, os.cpu_count() or 1)) as pool:
        for row in pool.imap(_run, jobs):
            rows.append(row)
            print(f"{row['trace']:11s} {row['policy']:14s} acc={row['accuracy']:.4f} cost=${row['cost_usd']:.4f} "
                  f"calls={row['llm_calls']:6d} hit={row['cache_hit_rate']:.3f} false_hit={row['false_hit_rate']:.3f} "
                  f"time={row['processing_time_s']:.0f}s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
