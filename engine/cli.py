"""The `sls` command line: replay traces, compare baselines, sweep budgets, run and ask live models.

Every user mistake ends as one line `error: …` on stderr and exit status 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from engine.config import DEFAULT_SWEEP_SEEDS as DEFAULT_SEEDS
from engine.config import EXHAUSTED_BEHAVIOURS, FEEDBACK_MODES
from engine.errors import EngineError, SettingsError

log = logging.getLogger("engine.cli")


def _progress_bar(enabled: bool, desc: str):
    """A `progress(done, total)` callback drawing a tqdm bar on stderr, or None."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm
    bar = tqdm(total=0, desc=desc, unit="job", file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
    return update, bar.close


def _format_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Plain-text table; columns are (key, header, format)."""
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        cells.append([("" if row.get(k) is None else format(row[k], f)) for k, _, f in columns])
    widths = [max(len(r[c]) for r in cells) for c in range(len(columns))]
    lines = ["  ".join(v.ljust(w) if c == 0 else v.rjust(w) for c, (v, w) in enumerate(zip(r, widths, strict=True)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


METRIC_COLUMNS = [("policy", "policy", ""), ("accuracy", "accuracy", ".4f"), ("cost_usd", "cost_usd", ".4f"),
                  ("llm_calls", "llm_calls", ".0f"), ("cache_hit_rate", "cache_hit", ".3f"),
                  ("false_hit_rate", "false_hit", ".3f"), ("processing_time_s", "time_s", ".1f"),
                  ("queries", "queries", ".0f")]


def _emit(results: list[dict], as_json: bool, out=None) -> None:
    out = out or sys.stdout
    if as_json:
        for metrics in results:
            out.write(json.dumps(metrics, sort_keys=False, default=str) + "\n")
    else:
        columns = METRIC_COLUMNS
        if any(m.get("budget_usd") is not None for m in results):
            columns = [columns[0], ("budget_usd", "budget", ""), *columns[1:]]
        out.write(_format_table(results, columns) + "\n")
        if results and results[0].get("latency_modelled"):
            out.write("time_s = modelled API time (catalog latency model) + measured engine time\n")


def _load(path: str):
    from engine.traces import load_trace
    return load_trace(path)


def _options(args) -> object:
    from engine.scheduling.budget import resolve_budget
    from engine.simulation.policy import ReplayOptions
    budget = resolve_budget(getattr(args, "budget", None), getattr(args, "budget_per_1k", None), args._n_jobs)
    return ReplayOptions(budget_usd=budget, seed=args.seed, feedback=getattr(args, "feedback", "reference"),
                         workspace=getattr(args, "workspace", None),
                         exhausted=getattr(args, "when_exhausted", "cheapest"),
                         warm_start=getattr(args, "warm_start", None))


def cmd_replay(args) -> int:
    trace = _load(args.trace)   # first: a bad trace is reported before anything heavy is imported
    from engine.simulation.replay import replay
    args._n_jobs = trace.n_queries
    if args.through_engine and args.policy != "sls":
        raise SettingsError(f"--through-engine runs the engine's own policy 'sls', not '{args.policy}'")
    update, close = _progress_bar(args.progress, args.policy)
    try:
        if args.through_engine:
            from engine.simulation.replay import replay_through_engine
            result = replay_through_engine(trace, _options(args), scoring=args.scoring, progress=update)
        else:
            result = replay(trace, args.policy, _options(args), scoring=args.scoring, progress=update)
    finally:
        close()
    _emit([result.metrics], args.json)
    return 0


def cmd_baselines(args) -> int:
    trace = _load(args.trace)
    from engine.simulation.replay import baseline_names, replay
    args._n_jobs = trace.n_queries
    options = _options(args)
    results = [replay(trace, name, options, scoring=args.scoring).metrics for name in baseline_names(trace)]
    _emit(results, args.json)
    return 0


def cmd_sweep(args) -> int:
    from engine.simulation.sweep import parse_budgets, sweep
    budgets = parse_budgets(args.budgets)
    if args.seeds < 1:
        raise SettingsError(f"--seeds must be at least 1, got {args.seeds}")
    results = sweep(args.trace, args.policy, budgets, seed=args.seed, seeds=args.seeds, feedback=args.feedback,
                    scoring=args.scoring, workers=args.workers, warm_start=args.warm_start)
    _emit(results, args.json)
    return 0


def cmd_describe(args) -> int:
    from engine.traces.summary import describe
    info = describe(_load(args.trace))
    sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
    return 0


def cmd_policies(args) -> int:
    from engine.simulation.policy import POLICIES, policy_names
    names = policy_names()
    for name in names:
        info = POLICIES.get(name.split(":")[0] if name.startswith("single:") else name)
        sys.stdout.write(f"{name:16s} {info.kind:9s} {info.description}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sls", description="SmartLLMs Scheduler: replay, compare, run.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def trace_command(name: str, func, help_: str):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("trace", help="trace folder (models.csv, queries.csv[.gz], outcomes.csv[.gz])")
        p.set_defaults(func=func)
        return p

    def replay_args(p, policy: bool = True):
        if policy:
            p.add_argument("--policy", required=True, help="policy name (see `sls policies`)")
        p.add_argument("--budget", type=float, help="total budget for the run, USD")
        p.add_argument("--budget-per-1k", type=float, help="budget in USD per 1,000 jobs")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--scoring", choices=("recorded", "parsed"),
                       help="score with the trace's score column or with our task parser (default: per policy)")
        p.add_argument("--json", action="store_true", help="one JSON object per policy on stdout")

    p = trace_command("replay", cmd_replay, "replay a trace through one policy")
    replay_args(p)
    p.add_argument("--feedback", choices=FEEDBACK_MODES, default="reference")
    p.add_argument("--workspace", help="workspace directory (cache, event log, snapshots); resumable")
    p.add_argument("--when-exhausted", choices=EXHAUSTED_BEHAVIOURS, default="cheapest")
    p.add_argument("--warm-start", metavar="DIR",
                   help="start from the learned state (predictors, cache, thresholds, drift, judges; not the "
                        "budget or event log) of an earlier run's workspace; DIR is only read")
    p.add_argument("--through-engine", action="store_true",
                   help="run the trace through the live Engine with the recorded-trace backend (policy sls)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty(),
                   help="progress bar on stderr (default: when stderr is a terminal)")

    p = trace_command("baselines", cmd_baselines, "every single model, random, cheapest, best-single, oracle")
    replay_args(p, policy=False)

    p = trace_command("sweep", cmd_sweep, "replay one policy at several budgets (the what-if frontier)")
    p.add_argument("--policy", required=True)
    p.add_argument("--budgets", required=True, help="comma-separated budgets in USD, e.g. 0.1,0.2,0.5")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                   help=f"replays per budget (seeds SEED, SEED+1, …), averaged (default {DEFAULT_SEEDS})")
    p.add_argument("--feedback", choices=FEEDBACK_MODES, default="reference")
    p.add_argument("--scoring", choices=("recorded", "parsed"))
    p.add_argument("--workers", type=int, default=0, help="processes (default: one per core)")
    p.add_argument("--warm-start", metavar="DIR", help="every replay starts from this workspace's learned state")
    p.add_argument("--json", action="store_true")

    trace_command("describe", cmd_describe, "summarise a trace (tasks, datasets, models)")
    p = sub.add_parser("policies", help="list the registered policies and baselines")
    p.set_defaults(func=cmd_policies)
    from engine.live_cli import add_commands  # cheap: heavy client imports happen inside the commands
    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sls` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args._n_jobs = None
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except EngineError as exc:
        sys.stderr.write(f"error: {' '.join(str(exc).split())}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
