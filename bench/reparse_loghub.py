"""Re-parse every raw completion of a log-parsing trace with the engine's parser and compare with the
recorded post-processing.

For each model it prints the recorded accuracy (mean of the trace's `score` column), the accuracy of
`LogParsingTask.parse` on the same `raw_output`, the label-free verifier's acceptance rate and its
precision (share of accepted templates that equal the reference), then the per-query oracle (any model
correct) for both, and where the parsed templates came from (matched as written, repaired, fallback).

    .venv/bin/python bench/reparse_loghub.py                      # ../shared/data/loghub-dev
    .venv/bin/python bench/reparse_loghub.py --no-fallback        # let the verifier reject unusable output
    .venv/bin/python bench/reparse_loghub.py --data-dir DIR --trace loghub-dev --check
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

from engine.jobs import Job
from engine.tasks.log_parsing import LogParsingTask, parse_template_detailed
from engine.tasks.templates import normalize_ws

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = Path(os.environ.get("SLS_DATA_DIR", REPO.parent / "shared" / "data"))


def _read(folder: Path, stem: str) -> pd.DataFrame:
    for name in (f"{stem}.csv.gz", f"{stem}.csv"):
        if (folder / name).exists():
            return pd.read_csv(folder / name, keep_default_na=False, dtype=str)
    raise SystemExit(f"{folder}: no {stem}.csv or {stem}.csv.gz (is --data-dir/--trace right?)")


def reparse(queries: pd.DataFrame, outcomes: pd.DataFrame, *, repair: bool = True,
            fallback: bool = True) -> pd.DataFrame:
    """One row per outcome: model, query_id, recorded score, parsed template, source, correct, accepted."""
    task = LogParsingTask(repair=repair, fallback=fallback)
    columns = [c for c in ("query_id", "dataset", "text", "reference") if c in queries]
    rows = outcomes.merge(queries[columns], on="query_id", how="left")
    parsed = [parse_template_detailed(raw, line, repair=repair, fallback=fallback)
              for raw, line in zip(rows["raw_output"], rows["text"], strict=True)]
    correct, accepted = [], []
    for p, line, ref in zip(parsed, rows["text"], rows["reference"], strict=True):
        job = Job(job_id="", task="log_parsing", text=line, reference=ref or None)
        correct.append(normalize_ws(p.template) == normalize_ws(ref))
        accepted.append(bool(task.verify(job, p.template).ok))
    return pd.DataFrame({
        "model": rows["model"], "query_id": rows["query_id"],
        "system": rows.get("dataset", ""),
        "recorded": pd.to_numeric(rows["score"], errors="coerce"),
        "output": rows["output"], "template": [p.template for p in parsed], "source": [p.source for p in parsed],
        "correct": correct, "accepted": accepted,
    })


def summarize(result: pd.DataFrame) -> pd.DataFrame:
    """Per model: recorded and re-parsed accuracy, verifier acceptance and precision."""
    by_model = result.groupby("model")
    table = pd.DataFrame({
        "recorded_acc": by_model["recorded"].mean(),
        "reparsed_acc": by_model["correct"].mean(),
        "accept_rate": by_model["accepted"].mean(),
        "precision": result[result["accepted"]].groupby("model")["correct"].mean(),
    })
    table["delta"] = table["reparsed_acc"] - table["recorded_acc"]
    return table[["recorded_acc", "reparsed_acc", "delta", "accept_rate", "precision"]].sort_values(
        "reparsed_acc", ascending=False)


def by_system(result: pd.DataFrame) -> pd.DataFrame:
    """Per system (the queries' `dataset`): recorded and re-parsed per-query oracle (any model right),
    and how many completions the re-parse turned from right to wrong and from wrong to right."""
    recorded_right = result["recorded"] >= 1
    result = result.assign(right_to_wrong=recorded_right & ~result["correct"],
                           wrong_to_right=~recorded_right & result["correct"], recorded_right=recorded_right)
    per_query = result.groupby(["system", "query_id"])[["recorded_right", "correct"]].max().groupby("system")
    table = pd.DataFrame({
        "oracle_recorded": per_query["recorded_right"].mean(),
        "oracle_reparsed": per_query["correct"].mean(),
        "right_to_wrong": result.groupby("system")["right_to_wrong"].sum(),
        "wrong_to_right": result.groupby("system")["wrong_to_right"].sum(),
    })
    table["ok"] = (table["oracle_reparsed"] >= table["oracle_recorded"]) & (
        table["right_to_wrong"] <= table["wrong_to_right"])
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="folder holding the traces (default: $SLS_DATA_DIR or ../shared/data)")
    parser.add_argument("--trace", default="loghub-dev", help="trace folder name inside --data-dir")
    parser.add_argument("--no-repair", action="store_true", help="do not repair non-matching candidates")
    parser.add_argument("--no-fallback", action="store_true", help="no rule-based template for unusable output")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless re-parsed accuracy >= recorded for every model, and on every system the "
                             "re-parse oracle >= the recorded one and right→wrong <= wrong→right")
    parser.add_argument("--dump", type=Path, help="write every re-parsed completion to this CSV")
    args = parser.parse_args(argv)

    folder = args.data_dir / args.trace
    if not folder.is_dir():
        print(f"trace folder {folder} not found (use --data-dir or set SLS_DATA_DIR)", file=sys.stderr)
        return 2
    queries, outcomes = _read(folder, "queries"), _read(folder, "outcomes")
    outcomes = outcomes[outcomes["query_id"].isin(queries.loc[queries["task"] == "log_parsing", "query_id"])]

    started = time.perf_counter()
    result = reparse(queries, outcomes, repair=not args.no_repair, fallback=not args.no_fallback)
    elapsed = time.perf_counter() - started

    mode = f"repair={'off' if args.no_repair else 'on'}, fallback={'off' if args.no_fallback else 'on'}"
    print(f"{folder}: {len(result):,} completions of {result['query_id'].nunique():,} queries by "
          f"{result['model'].nunique()} models, re-parsed in {elapsed:.1f} s ({mode})\n")
    table = summarize(result)
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 120):
        print(table.to_string())
    print(f"\n{'all models':<14} recorded {result['recorded'].mean():.4f}  re-parsed {result['correct'].mean():.4f}"
          f"  accepted {result['accepted'].mean():.4f}  precision "
          f"{result.loc[result['accepted'], 'correct'].mean():.4f}")
    per_query = result.groupby("query_id")
    print(f"per-query oracle (any model correct): recorded {(per_query['recorded'].max() >= 1).mean():.4f}  "
          f"re-parsed {per_query['correct'].max().mean():.4f}")
    systems = by_system(result)
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 120):
        print("\nper system (oracle = any model right; counts are completions):\n" + systems.to_string())
    sources = result.groupby("source")["correct"].agg(["size", "mean"])
    print("\nwhere templates came from: " + ", ".join(
        f"{src} {int(n):,} ({n / len(result):.1%}, {acc:.3f} correct)" for src, (n, acc) in sources.iterrows()))

    worse = table[table["delta"] < 0]
    if args.check and not worse.empty:
        print(f"\nre-parsed accuracy below recorded for: {', '.join(worse.index)}", file=sys.stderr)
        return 1
    failing = systems[~systems["ok"]]
    if args.check and not failing.empty:
        print(f"\nre-parse oracle below recorded, or more right→wrong than wrong→right, for: "
              f"{', '.join(failing.index)}", file=sys.stderr)
        return 1
    if args.dump:
        result.to_csv(args.dump, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
