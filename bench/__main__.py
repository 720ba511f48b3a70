"""The benchmark suite of the SmartLLMs Scheduler.

    python -m bench [--quick] [--data-dir DIR] [--out FILE] [--only replay,overhead,sweep,whatif]
    ./dev bench …                      # the same, after setting up the venv

Figures, each beside a reference measured in the same run (so that they compare across noisy machines):

* replay throughput (jobs/s) of the full `sls` policy on loghub-dev and on the sample trace
  (reference: the best-single replay of the same trace, same process);
* engine overhead per job (p50/p95/p99, no modelled API time) with 1k, 10k and 50k cache entries
  (reference: the same replay with an empty cache);
* `sls sweep` wall time for 10 budgets (reference: one serial replay × 10 / workers);
* the dashboard's What-if re-run on the sample (reference: the same page call with best-single);
* peak memory (reference: the process after importing the engine and loading the trace).

Full mode: medians of 3 repeats, each workload in a fresh process, written to bench/results/bench.json.
`--quick` (what CI runs, about 10 s): one repeat on the first 150 jobs of each trace, caches of 1k and 5k
entries, every workload in this one process, targets not evaluated, written to
bench/results/bench-quick.json. Figures of loghub-dev are skipped when `--data-dir` (default
`$SLS_DATA_DIR` or ../shared/data) does not hold it. Exit status 1 when a workload failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.report import SCHEMA, format_table, machine_info
from bench.suite import FULL, GROUPS, QUICK, ROOT, Suite

RESULTS = ROOT / "bench" / "results"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one repeat on small subsets (CI)")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("SLS_DATA_DIR", str(ROOT.parent / "shared" / "data"))),
                        help="folder holding the real traces (loghub-dev)")
    parser.add_argument("--out", type=Path, help="JSON file to write (default bench/results/bench[-quick].json)")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated subset of {','.join(GROUPS)}")
    args = parser.parse_args(argv)
    groups = tuple(g.strip() for g in args.only.split(",") if g.strip())
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        parser.error(f"--only: unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    plan = QUICK if args.quick else FULL
    out = args.out or RESULTS / ("bench-quick.json" if args.quick else "bench.json")

    started = time.perf_counter()
    machine = machine_info()
    suite = Suite(plan, args.data_dir.expanduser().resolve(), groups,
                  progress=lambda msg: print(f"[bench {time.perf_counter() - started:6.1f}s] {msg}",
                                             file=sys.stderr, flush=True))
    figures = suite.run()
    report = {
        "schema": SCHEMA,
        "mode": plan.mode,
        "repeats": plan.repeats,
        "jobs_limit": plan.limit,
        "cache_sizes": list(plan.sizes),
        "command": "python -m bench" + (" " + " ".join(sys.argv[1:]) if argv is None and sys.argv[1:] else ""),
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "data_dir": str(args.data_dir),
        "machine": machine,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "duration_s": round(time.perf_counter() - started, 1),
        "figures": figures,
        "failures": suite.failures,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(format_table(report))
    print(f"\nwritten: {out}")
    return 1 if suite.failures else 0


if __name__ == "__main__":
    sys.exit(main())
