"""Held-out validation: settings are chosen on one part of the development traces, and the rest is reported
apart, so that the figures say what a user would see on traffic the scheduler was not tuned on.

The split is fixed here, before any result is looked at, and is never changed to suit a result:

* **loghub-dev, leave systems out.** Tuned on Apache, BGL, HDFS, HPC; reported apart on Hadoop,
  HealthApp, Linux, Mac. Alphabetical halves (no system was picked for being easy or hard); the
  held-out half holds the two systems no model parses well (Linux, Mac), so its figures are the
  pessimistic ones. Each half is replayed as its own trace, starting cold, like an unseen trace.
* **RouterBench tasks, leave tasks out.** Tuned on mbpp-dev; reported apart on arc-dev and
  winogrande-dev.

A default may only change when the "not tuned on" column supports it.

For each half it runs `sls` replays (`engine.simulation.replay.replay`) and prints:

* reference feedback: accuracy, cost as % of the best single model's cost;
* `--feedback verifier`: accuracy, false-hit rate (false hits / cache hits), cost %;
* `--budget` at 7% of the best single model's cost: accuracy, the lowest per-system accuracy, the
  largest share of any system's jobs refused, the largest share answered by the task's rule (no model: the
  budget paid none), and whether spend stayed within the budget;
* for RouterBench tasks, cold: accuracy as % of the best single model's, cost as % of the most accurate
  model's, and the best single model that dominates sls (within 1 pp of its accuracy at ≤ 90% of its cost).

The best single model is the most accurate one on the same half, scored the same way as sls (our parser
and scorer); cost shares use its total cost on that half.

    .venv/bin/python -m bench.validate                     # ../shared/data (or $SLS_DATA_DIR)
    .venv/bin/python -m bench.validate --json out.json
    .venv/bin/python -m bench.validate --only loghub       # just the log-parsing split
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.simulation.policy import ReplayOptions
from engine.simulation.replay import replay
from engine.traces.model import Trace
from engine.traces.reader import load_trace

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = Path(os.environ.get("SLS_DATA_DIR", REPO.parent / "shared" / "data"))

LOGHUB_TUNED = ("Apache", "BGL", "HDFS", "HPC")
LOGHUB_HELD_OUT = ("Hadoop", "HealthApp", "Linux", "Mac")
ROUTERBENCH_TUNED = ("mbpp-dev",)
ROUTERBENCH_HELD_OUT = ("arc-dev", "winogrande-dev")
BUDGET_SHARE = 0.07        # --budget as a share of the best single model's cost
DOMINATE_PP = 0.01         # a single model "dominates" within 1 pp of sls's accuracy …
DOMINATE_COST = 0.90       # … at ≤ 90% of its cost


def subset(trace: Trace, datasets: tuple[str, ...], name: str) -> Trace:
    """The jobs of `trace` whose dataset is in `datasets`, in arrival order, as a trace of their own."""
    rows = np.flatnonzero(trace.queries["dataset"].isin(datasets).to_numpy())
    if rows.size == 0:
        raise SystemExit(f"{trace.path}: no jobs of the datasets {', '.join(datasets)}")

    def take(a: np.ndarray) -> np.ndarray:
        return a[rows]

    return replace(trace, name=name, queries=trace.queries.iloc[rows].reset_index(drop=True),
                   scores=take(trace.scores), costs=take(trace.costs), input_tokens=take(trace.input_tokens),
                   output_tokens=take(trace.output_tokens), latency_s=take(trace.latency_s),
                   outputs=take(trace.outputs), raw_outputs=take(trace.raw_outputs))


@dataclass
class Singles:
    """Every single model on a trace, scored like sls: accuracy and total cost per model."""

    accuracy: dict[str, float]
    cost: dict[str, float]

    @property
    def best(self) -> str:
        """The most accurate model (ties: the cheaper)."""
        return max(self.accuracy, key=lambda m: (self.accuracy[m], -self.cost[m]))

    def dominating(self, accuracy: float, cost: float) -> str | None:
        """The most accurate single model within 1 pp of `accuracy` at ≤ 90% of `cost`, if any."""
        fits = [m for m in self.accuracy
                if self.accuracy[m] >= accuracy - DOMINATE_PP and self.cost[m] <= DOMINATE_COST * cost]
        return max(fits, key=lambda m: self.accuracy[m]) if fits else None


def singles(trace: Trace) -> Singles:
    acc, cost = {}, {}
    for model in trace.model_names:
        m = replay(trace, f"single:{model}", scoring="parsed").metrics
        acc[model], cost[model] = m["accuracy"], m["cost_usd"]
    return Singles(acc, cost)


def _sls(trace: Trace, **options) -> dict:
    return replay(trace, "sls", ReplayOptions(**options)).metrics


def _share(x: float, of: float) -> float:
    return x / of if of > 0 else math.nan


def loghub_half(trace: Trace) -> dict:
    """The log-parsing figures of one half (see the module docstring)."""
    single = singles(trace)
    best, best_cost = single.best, single.cost[single.best]
    ref = _sls(trace)
    ver = _sls(trace, feedback="verifier")
    budget = BUDGET_SHARE * best_cost
    bud_run = replay(trace, "sls", ReplayOptions(budget_usd=budget))
    bud = bud_run.metrics
    per = bud["per_dataset"]
    refused = Counter(r.dataset for r in bud_run.records if r.source == "refused")
    refused_share = {d: refused[d] / v["queries"] for d, v in per.items()}
    ruled = Counter(r.dataset for r in bud_run.records if r.source == "rule")
    rule_share = {d: ruled[d] / v["queries"] for d, v in per.items()}
    return {
        "jobs": trace.n_queries, "best_single": best, "best_single_accuracy": single.accuracy[best],
        "best_single_cost_usd": best_cost,
        "reference": {"accuracy": ref["accuracy"], "cost_share": _share(ref["cost_usd"], best_cost)},
        "verifier": {"accuracy": ver["accuracy"], "false_hit_rate": ver["false_hit_rate"],
                     "cost_share": _share(ver["cost_usd"], best_cost),
                     "per_dataset_accuracy": {d: v["accuracy"] for d, v in ver["per_dataset"].items()}},
        "budget": {"budget_usd": budget, "spent_usd": bud["cost_usd"], "within_budget": bud["cost_usd"] <= budget,
                   "accuracy": bud["accuracy"], "min_system_accuracy": min(v["accuracy"] for v in per.values()),
                   "max_refused_share": max(refused_share.values()), "refused_share": refused_share,
                   "max_rule_share": max(rule_share.values()), "rule_share": rule_share,
                   "per_dataset_accuracy": {d: v["accuracy"] for d, v in per.items()}},
    }


def routerbench_trace(trace: Trace) -> dict:
    """The cold figures of one RouterBench task."""
    single = singles(trace)
    best = single.best
    ref = _sls(trace)
    dominating = single.dominating(ref["accuracy"], ref["cost_usd"])
    return {
        "jobs": trace.n_queries, "best_single": best, "best_single_accuracy": single.accuracy[best],
        "accuracy": ref["accuracy"], "cost_usd": ref["cost_usd"],
        "accuracy_share": _share(ref["accuracy"], single.accuracy[best]),
        "cost_share_of_most_accurate": _share(ref["cost_usd"], single.cost[best]),
        "dominated_by": dominating,
        "dominated_by_figures": ({"accuracy": single.accuracy[dominating], "cost_usd": single.cost[dominating]}
                                 if dominating else None),
    }


def run(data_dir: Path, only: str | None = None) -> dict:
    out: dict = {"split": {"loghub": {"tuned": LOGHUB_TUNED, "held_out": LOGHUB_HELD_OUT},
                           "routerbench": {"tuned": ROUTERBENCH_TUNED, "held_out": ROUTERBENCH_HELD_OUT}}}
    if only in (None, "loghub"):
        folder = data_dir / "loghub-dev"
        if folder.is_dir():
            full = load_trace(folder)
            out["loghub"] = {"tuned": loghub_half(subset(full, LOGHUB_TUNED, "loghub-dev[tuned]")),
                             "held_out": loghub_half(subset(full, LOGHUB_HELD_OUT, "loghub-dev[held-out]"))}
        else:
            out["loghub"] = {"skipped": f"{folder} not found"}
    if only in (None, "routerbench"):
        out["routerbench"] = {}
        for name in ROUTERBENCH_TUNED + ROUTERBENCH_HELD_OUT:
            folder = data_dir / name
            out["routerbench"][name] = (routerbench_trace(load_trace(folder)) if folder.is_dir()
                                        else {"skipped": f"{folder} not found"})
    return out


def _pct(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def table(result: dict) -> str:
    """The tuned / not-tuned table as text."""
    lines = []
    log = result.get("loghub", {})
    if "tuned" in log:
        t, h = log["tuned"], log["held_out"]
        rows = [
            ("reference: accuracy", _num(t["reference"]["accuracy"]), _num(h["reference"]["accuracy"])),
            ("reference: cost % of best single", _pct(t["reference"]["cost_share"]), _pct(h["reference"]["cost_share"])),
            ("verifier: accuracy", _num(t["verifier"]["accuracy"]), _num(h["verifier"]["accuracy"])),
            ("verifier: false-hit rate", _num(t["verifier"]["false_hit_rate"]), _num(h["verifier"]["false_hit_rate"])),
            ("verifier: cost % of best single", _pct(t["verifier"]["cost_share"]), _pct(h["verifier"]["cost_share"])),
            ("budget 7%: accuracy", _num(t["budget"]["accuracy"]), _num(h["budget"]["accuracy"])),
            ("budget 7%: lowest system accuracy", _num(t["budget"]["min_system_accuracy"]),
             _num(h["budget"]["min_system_accuracy"])),
            ("budget 7%: most refused (share of a system)", _pct(t["budget"]["max_refused_share"]),
             _pct(h["budget"]["max_refused_share"])),
            ("budget 7%: most rule-answered (share of a system)", _pct(t["budget"].get("max_rule_share", 0.0)),
             _pct(h["budget"].get("max_rule_share", 0.0))),
            ("budget 7%: spend within budget", str(t["budget"]["within_budget"]), str(h["budget"]["within_budget"])),
            ("best single (accuracy, cost $)", f"{t['best_single']} {t['best_single_accuracy']:.3f} "
             f"${t['best_single_cost_usd']:.3f}", f"{h['best_single']} {h['best_single_accuracy']:.3f} "
             f"${h['best_single_cost_usd']:.3f}"),
        ]
        lines.append(f"loghub-dev — tuned on {', '.join(LOGHUB_TUNED)}; not tuned on {', '.join(LOGHUB_HELD_OUT)}")
        lines.append(f"{'figure':<46}{'tuned on':>26}{'not tuned on':>30}")
        lines += [f"{a:<46}{b:>26}{c:>30}" for a, b, c in rows]
        lines.append("per system, not tuned on (verifier / budget accuracy, refused): " + ", ".join(
            f"{d} {h['verifier']['per_dataset_accuracy'][d]:.3f}/{h['budget']['per_dataset_accuracy'][d]:.3f} "
            f"{_pct(h['budget']['refused_share'][d])}" for d in h["budget"]["per_dataset_accuracy"]))
    elif "skipped" in log:
        lines.append(f"loghub-dev skipped: {log['skipped']}")
    rb = result.get("routerbench", {})
    if rb:
        lines.append("")
        lines.append(f"RouterBench, cold — tuned on {', '.join(ROUTERBENCH_TUNED)}; "
                     f"not tuned on {', '.join(ROUTERBENCH_HELD_OUT)}")
        lines.append(f"{'trace':<16}{'column':<14}{'accuracy':>9}{'% of best':>11}{'cost % of most acc.':>21}"
                     f"  {'best single':<28}{'dominated by'}")
        for name, r in rb.items():
            column = "tuned on" if name in ROUTERBENCH_TUNED else "not tuned on"
            if "skipped" in r:
                lines.append(f"{name:<16}{column:<14}skipped: {r['skipped']}")
                continue
            dom = (f"{r['dominated_by']} {r['dominated_by_figures']['accuracy']:.3f} "
                   f"${r['dominated_by_figures']['cost_usd']:.3f}" if r["dominated_by"] else "none")
            best = f"{r['best_single']} {r['best_single_accuracy']:.3f}"
            lines.append(f"{name:<16}{column:<14}{r['accuracy']:>9.3f}{_pct(r['accuracy_share']):>11}"
                         f"{_pct(r['cost_share_of_most_accurate']):>21}  {best:<28}{dom}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="folder holding the traces (default: $SLS_DATA_DIR or ../shared/data)")
    parser.add_argument("--only", choices=("loghub", "routerbench"), help="run one split only")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not args.data_dir.is_dir():
        print(f"data folder {args.data_dir} not found (use --data-dir or set SLS_DATA_DIR)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    result = run(args.data_dir, args.only)
    print(table(result))
    print(f"\n({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
