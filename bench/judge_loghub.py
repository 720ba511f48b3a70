"""The log-parsing judge (`LogParsingTask.new_judge`) measured label-free on loghub-dev, before the
scheduler wires it in: a small verifier-mode driver, per half of the held-out split of bench/validate.py.

Per job, in arrival order: the cache of accepted templates (per system, newest first) answers a line one of
them matches, if the judge accepts that template for the line; otherwise models are called cheap-first
(list price, then size), each completion parsed and judged, and the first accepted template is served and
cached; after `--max-attempts` rejections the template most calls agreed on (else the last) is served,
not cached. No reference is looked at except to grade.

Printed per system: the judge's acceptance rate and precision on model outputs (accepted and right /
accepted), label-free accuracy, cache hit and false-hit rates (false hits / hits), calls per job, and the
cost as a share of the best single model's cost on the same half.

    .venv/bin/python -m bench.judge_loghub                 # both halves of loghub-dev
    .venv/bin/python -m bench.judge_loghub --no-judge      # the stateless verifier, for comparison
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from bench.validate import DEFAULT_DATA_DIR, LOGHUB_HELD_OUT, LOGHUB_TUNED, singles, subset
from engine.tasks.log_parsing import LogParsingTask
from engine.tasks.templates import normalize_ws, template_matches
from engine.traces.model import Trace
from engine.traces.reader import load_trace


class _Stateless:
    """The task's stateless verifier behind the judge interface (for --no-judge)."""

    def __init__(self, task: LogParsingTask):
        self.task = task

    def verify(self, job, output):
        return self.task.verify(job, output)

    def learn(self, job, output, correct):
        pass


def cheap_first(trace: Trace) -> list[str]:
    """Models by list price (input + output), then by size, largest first."""
    def price(m):
        return ((m.input_usd_per_mtok or 0.0) + (m.output_usd_per_mtok or 0.0), -(m.params_b or 0.0), m.model)
    return [m.model for m in sorted(trace.models, key=price)]


def drive(trace: Trace, *, use_judge: bool = True, max_attempts: int = 3) -> pd.DataFrame:
    """One row per job: system, source (cache/model), correct, calls, cost, and per call the judge's verdict."""
    task = LogParsingTask()
    judge = task.new_judge() if use_judge else _Stateless(task)
    order = [trace.model_index(m) for m in cheap_first(trace)]
    cache: dict[str, list[str]] = defaultdict(list)
    rows, calls = [], []
    for i, job in enumerate(trace.jobs()):
        ref = normalize_ws(job.reference or "")
        served, source = None, "model"
        for template in reversed(cache[job.dataset]):
            if template_matches(template, job.text) and judge.verify(job, template).ok:
                served, source = template, "cache"
                break
        n_calls, cost, proposals = 0, 0.0, []
        if served is None:
            for j in order[:max_attempts]:
                output = task.parse(str(trace.raw_outputs[i, j]), job)
                n_calls += 1
                cost += float(trace.costs[i, j])
                verdict = judge.verify(job, output)
                right = normalize_ws(output) == ref
                calls.append({"system": job.dataset, "accepted": bool(verdict.ok), "correct": right,
                              "output": normalize_ws(output), "reference": ref,
                              "reason": verdict.reason})
                proposals.append(output)
                if verdict.ok:
                    served = output
                    cache[job.dataset].append(output)
                    break
            if served is None:
                counts = Counter(normalize_ws(p) for p in proposals)
                top, n = counts.most_common(1)[0]
                served = top if n > 1 else proposals[-1]
        rows.append({"system": job.dataset, "source": source, "correct": normalize_ws(served) == ref,
                     "served": normalize_ws(served), "reference": ref, "line": job.text,
                     "calls": n_calls, "cost_usd": cost})
    jobs = pd.DataFrame(rows)
    jobs.attrs["calls"] = pd.DataFrame(calls)
    return jobs


def summarize(jobs: pd.DataFrame, best_cost: float) -> pd.DataFrame:
    calls = jobs.attrs["calls"]
    by = jobs.groupby("system")
    hits = jobs[jobs["source"] == "cache"].groupby("system")
    table = pd.DataFrame({
        "accuracy": by["correct"].mean(),
        "judge_accept": calls.groupby("system")["accepted"].mean(),
        "judge_precision": calls[calls["accepted"]].groupby("system")["correct"].mean(),
        "hit_rate": by["source"].apply(lambda s: (s == "cache").mean()),
        "false_hit_rate": hits["correct"].apply(lambda s: 1 - s.mean()),
        "calls_per_job": by["calls"].mean(),
    }).fillna(0.0)
    total = {"accuracy": jobs["correct"].mean(), "judge_accept": calls["accepted"].mean(),
             "judge_precision": calls.loc[calls["accepted"], "correct"].mean(),
             "hit_rate": (jobs["source"] == "cache").mean(),
             "false_hit_rate": 1 - jobs.loc[jobs["source"] == "cache", "correct"].mean(),
             "calls_per_job": jobs["calls"].mean()}
    table.loc["all"] = total
    table["cost_%_best_single"] = float("nan")
    table.loc["all", "cost_%_best_single"] = 100 * jobs["cost_usd"].sum() / best_cost
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--no-judge", action="store_true", help="use the stateless verifier instead")
    parser.add_argument("--max-attempts", type=int, default=3)
    args = parser.parse_args(argv)
    folder = args.data_dir / "loghub-dev"
    if not folder.is_dir():
        print(f"{folder} not found (use --data-dir or set SLS_DATA_DIR)", file=sys.stderr)
        return 2
    full = load_trace(folder)
    print(f"models cheap-first: {', '.join(cheap_first(full))}; max {args.max_attempts} attempts; "
          f"verifier: {'stateless' if args.no_judge else 'judge'}")
    for label, systems in (("tuned on", LOGHUB_TUNED), ("not tuned on", LOGHUB_HELD_OUT)):
        half = subset(full, systems, f"loghub-dev[{label}]")
        single = singles(half)
        started = time.perf_counter()
        jobs = drive(half, use_judge=not args.no_judge, max_attempts=args.max_attempts)
        elapsed = time.perf_counter() - started
        with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 140):
            print(f"\n{label}: {', '.join(systems)} (best single {single.best}, "
                  f"{single.accuracy[single.best]:.3f}, ${single.cost[single.best]:.3f}; {elapsed:.0f} s)")
            print(summarize(jobs, single.cost[single.best]).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
