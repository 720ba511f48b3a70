"""Where a replay spends its time: pyinstrument over `replay(trace, policy)`, after the imports and the
trace loading (profiled apart with `pyinstrument .venv/bin/sls replay …` if those are the question).

    python -m bench.profile [TRACE] [--policy sls] [--html FILE] [--interval 0.0005]

TRACE defaults to loghub-dev under $SLS_DATA_DIR (or ../shared/data), else the sample. One warm-up
replay of `best-single` runs first, so one-off lazy work is not charged to the policy. The sampling
profiler roughly doubles the run time of this Python-heavy code; read shares, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench.suite import REAL_TRACE, ROOT, SAMPLE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    default = Path(os.environ.get("SLS_DATA_DIR", str(ROOT.parent / "shared" / "data"))) / REAL_TRACE
    parser.add_argument("trace", nargs="?", default=str(default if default.is_dir() else SAMPLE))
    parser.add_argument("--policy", default="sls")
    parser.add_argument("--html", type=Path, help="also write pyinstrument's interactive HTML here")
    parser.add_argument("--interval", type=float, default=0.0005, help="sampling interval, seconds")
    args = parser.parse_args(argv)
    try:
        from pyinstrument import Profiler
    except ImportError:
        sys.stderr.write("error: pyinstrument is not installed (it is in the dev extras: ./dev setup)\n")
        return 2
    from engine.simulation.replay import replay
    from engine.traces import load_trace
    trace = load_trace(args.trace)
    replay(trace, "best-single")
    profiler = Profiler(interval=args.interval)
    started = time.perf_counter()
    profiler.start()
    result = replay(trace, args.policy)
    profiler.stop()
    elapsed = time.perf_counter() - started
    sys.stdout.write(profiler.output_text(unicode=True, color=False, show_all=False))
    sys.stdout.write(f"\n{args.policy} on {trace.name}: {trace.n_queries:,} jobs in {elapsed:.2f} s under the "
                     f"profiler; engine overhead per job {result.metrics.get('engine_overhead_us')} µs\n")
    if args.html:
        args.html.write_text(profiler.output_html(), encoding="utf-8")
        sys.stdout.write(f"written: {args.html}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
