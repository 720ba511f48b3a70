"""Does the sls frontier lie above `random`, `cheapest` and every single model at equal cost?

For each trace: every single model, `cheapest` and `random` are replayed (our parser and scorer, like sls); then
sls is replayed with each of their costs as its budget (mean over seeds, as `sls sweep` averages). Where a
baseline costs more than sls spends without a budget, the unbudgeted sls is compared (a budget is a ceiling,
and sls does not need it). A row is `below` when sls's mean accuracy trails the baseline's by more than 0.005.

    .venv/bin/python -m bench.frontier_check ../shared/data/arc-dev [more traces] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from engine.simulation.policy import ReplayOptions
from engine.simulation.replay import replay
from engine.traces import load_trace

TOLERANCE = 0.005


def mean_run(trace, policy: str, budget: float | None, seeds: range) -> tuple[float, float]:
    runs = [replay(trace, policy, ReplayOptions(budget_usd=budget, seed=s), scoring="parsed").metrics for s in seeds]
    return statistics.mean(m["accuracy"] for m in runs), statistics.mean(m["cost_usd"] for m in runs)


def check(trace, seeds: int) -> list[dict]:
    """One row per baseline: its accuracy and cost, sls's at that cost, and whether sls is below it."""
    free_acc, free_cost = mean_run(trace, "sls", None, range(seeds))
    baselines = {f"single:{m}": mean_run(trace, f"single:{m}", None, range(1)) for m in trace.model_names}
    baselines["cheapest"] = mean_run(trace, "cheapest", None, range(1))
    baselines["random"] = mean_run(trace, "random", None, range(seeds))
    rows = []
    for name, (acc, cost) in sorted(baselines.items(), key=lambda kv: kv[1][1]):
        sls_acc, sls_cost = (free_acc, free_cost) if cost >= free_cost else mean_run(trace, "sls", cost, range(seeds))
        rows.append({"baseline": name, "accuracy": acc, "cost_usd": cost, "sls_accuracy": sls_acc,
                     "sls_cost_usd": sls_cost, "below": sls_acc < acc - TOLERANCE})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="+")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    for path in args.traces:
        trace = load_trace(path)
        rows = check(trace, args.seeds)
        print(f"\n{trace.name}: {sum(r['below'] for r in rows)} of {len(rows)} baselines above sls at their cost")
        for r in rows:
            print(f"  {r['baseline']:42s} {r['accuracy']:.4f} for ${r['cost_usd']:.4f} | sls {r['sls_accuracy']:.4f} "
                  f"for ${r['sls_cost_usd']:.4f} {'BELOW' if r['below'] else 'ok'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
