"""Live commands of `sls`: models, ask, run, feedback.

Live calls use the client defaults (`engine.clients.settings`); two environment variables override them
for `ask`, `run` and `feedback` (tests and slow or flaky networks): `SLS_CLIENT_TIMEOUT_S` (seconds per
request, default 60) and `SLS_RETRY_BASE_DELAY_S` (first backoff before a retry, default 0.5; it doubles
per retry, and a server's `retry-after` still wins).

`sls run FILE` resumes: jobs are named after the file and line, and those already in the workspace's event
log (same task and text) are not run again — their logged results are printed, and their cost counts
against `--budget`. A workspace that cannot be written (full disk, read-only) stops the run with one error
line; nothing logged before is lost, and running the same command again carries on.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import sys
from pathlib import Path

from engine.errors import ClientError, EngineError, SettingsError
from engine.outcome import RULE, error_lines, is_answered

log = logging.getLogger(__name__)
CLIENT_ENV = {"SLS_CLIENT_TIMEOUT_S": "timeout_s", "SLS_RETRY_BASE_DELAY_S": "base_delay_s"}


def _client_options() -> dict:
    """`ClientSettings` fields from the `CLIENT_ENV` variables that are set (validated by the settings)."""
    from engine.clients.settings import RetryPolicy
    values = {}
    for name, field in CLIENT_ENV.items():
        raw = os.environ.get(name, "").strip()
        if raw:
            try:
                values[field] = float(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    options = {"timeout_s": values["timeout_s"]} if "timeout_s" in values else {}
    if "base_delay_s" in values:
        options["retry"] = RetryPolicy(base_delay_s=values["base_delay_s"])
    return options


def _engine(args):
    from engine.clients.settings import ClientSettings
    from engine.service import build_engine
    from engine.settings import load_settings
    settings = load_settings(workspace=getattr(args, "workspace", None))
    trace = None
    if getattr(args, "replay", None):
        from engine.traces import load_trace
        trace = load_trace(args.replay)
    backend = "replay" if trace is not None else "auto"
    return build_engine(settings, client_settings=ClientSettings(backend=backend, **_client_options()),
                        trace=trace)


@contextlib.contextmanager
def _closing(engine):
    """Close the engine after a command. When the command failed, its error is the one reported (closing
    a workspace that just failed to write fails too, and would hide the first message)."""
    try:
        yield engine
    except BaseException:
        try:
            engine.close()
        except EngineError as exc:
            log.debug("closing the engine after an error failed too: %s", exc)
        raise
    engine.close()


def cmd_models(args) -> int:
    from engine.catalog import Catalog
    from engine.clients.factory import plan_client
    from engine.clients.settings import ClientSettings
    from engine.settings import load_settings
    settings = load_settings()
    catalog = Catalog.load(settings.catalog) if settings.catalog else Catalog.default()
    rows = []
    for spec in catalog:
        plan = plan_client(spec, ClientSettings())
        base, per_tok = spec.latency_model
        rows.append({"name": spec.name, "provider": spec.provider, "api_model": spec.api_model,
                     "input_usd_per_mtok": spec.input_usd_per_mtok, "output_usd_per_mtok": spec.output_usd_per_mtok,
                     "latency_base_s": base, "latency_per_token_s": per_tok, "reachable": plan.available,
                     "why": plan.reason})
    if args.json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
    else:
        for r in rows:
            sys.stdout.write(f"{r['name']:20s} {r['provider']:10s} in ${r['input_usd_per_mtok']}/Mtok  "
                             f"out ${r['output_usd_per_mtok']}/Mtok  latency {r['latency_base_s']}s + "
                             f"{r['latency_per_token_s']}s/token  {'reachable' if r['reachable'] else 'unreachable'}"
                             f" ({r['why']})\n")
    return 0


def _print_result(result: dict, as_json: bool) -> None:
    if as_json:
        keys = ("answer", "model", "cost_usd", "latency_s", "verdict", "cached", "job_id", "attempts", "failures",
                "decision")
        sys.stdout.write(json.dumps({k: result.get(k) for k in keys}, default=str) + "\n")
        return
    source = "cache" if result["cached"] else result["model"]
    sys.stdout.write(f"{result['answer']}\n-- {source} · ${result['cost_usd']:.6f} · {result['latency_s']:.2f}s · "
                     f"verdict {result['verdict']} · job {result['job_id']}\n")


def cmd_ask(args) -> int:
    labels = [x.strip() for x in args.labels.split(",") if x.strip()] if args.labels else []
    with _closing(_engine(args)) as engine:
        result = engine.ask(args.text, args.task, labels=labels, budget=args.budget, model=args.model)
    if result["attempts"] and len(result["failures"]) == len(result["attempts"]):
        raise ClientError(f"no model answered job {result['job_id']}: {'; '.join(result['failures'])}")
    _print_result(result, args.json)
    return 0


def read_jobs(path: str, task: str, labels: list[str]):
    """Jobs from a text file (one per line) or a CSV with a `text` column (optional reference, dataset, labels)."""
    from engine.jobs import Job
    p = Path(path)
    if not p.is_file():
        raise EngineError(f"{path}: no such file")
    jobs = []
    try:
        if p.suffix.lower() == ".csv":
            with p.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                if not reader.fieldnames or "text" not in reader.fieldnames:
                    raise EngineError(f"{path}: a CSV of jobs needs a 'text' column (found {reader.fieldnames})")
                for n, row in enumerate(reader, 1):
                    if not (row.get("text") or "").strip():
                        raise EngineError(f"{path}, row {n}, column 'text': empty")
                    row_labels = [x for x in (row.get("labels") or "").split("|") if x] or labels
                    jobs.append(Job(f"{p.stem}-{n:05d}", task, row["text"], row.get("dataset") or p.stem,
                                    row.get("reference") or None, tuple(row_labels)))
        else:
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    jobs.append(Job(f"{p.stem}-{n:05d}", task, line, p.stem, None, tuple(labels)))
    except UnicodeDecodeError as exc:
        raise EngineError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not jobs:
        raise EngineError(f"{path}: no jobs in the file")
    return jobs


def cmd_run(args) -> int:
    from engine.tasks import get_task
    get_task(args.task)
    labels = [x.strip() for x in args.labels.split(",") if x.strip()] if args.labels else []
    jobs = read_jobs(args.file, args.task, labels)
    progress, close = None, lambda: None
    with _closing(_engine(args)) as engine:
        done = logged_results(engine, jobs)
        todo = [j for j, r in zip(jobs, done, strict=True) if r is None]
        spent = sum(r["cost_usd"] for r in done if r is not None)
        if len(todo) < len(jobs):
            sys.stderr.write(f"resuming: {len(jobs) - len(todo)} of {len(jobs)} jobs are already in the event log "
                             f"{engine.events.path} (${spent:.6f}); running the other {len(todo)}\n")
        if args.progress and todo:
            from tqdm import tqdm
            bar = tqdm(total=len(todo), unit="job", file=sys.stderr, leave=False)
            progress, close = (lambda n, total: bar.update(n - bar.n)), bar.close
        try:
            fresh = iter(engine.run(todo, budget=args.budget, concurrency=args.concurrency, progress=progress,
                                    done_jobs=len(jobs) - len(todo), done_spend_usd=spent) if todo else [])
        finally:
            close()
        results = [r if r is not None else next(fresh) for r in done]
        cache = engine.scheduler.cache
        store = (cache.stats()["store"] or {}) if cache is not None else {}
        if args.trace_out:
            write_run_trace(args.trace_out, engine, jobs, results)
    if args.json:
        for r in results:
            _print_result(r, True)
    else:
        cost = sum(r["cost_usd"] for r in results)
        hits = sum(bool(r["cached"]) for r in results)
        errors, reasons = error_lines(results)   # h14: refused and all-failed jobs are errors, with reasons
        ruled = sum(r.get("model") == RULE for r in results)
        by_rule = f" · {ruled} by the task's rule (the budget paid no model)" if ruled else ""
        sys.stdout.write(f"{len(results)} jobs · {hits} from cache{by_rule} · {errors} errors · ${cost:.6f}\n")
        if errors:
            sys.stdout.write("jobs without an answer (run the same command again to retry them):\n"
                             + "\n".join(reasons) + "\n")
        if store.get("errors"):
            state = "reachable again" if store["healthy"] else f"still unreachable, {store['pending']} writes pending"
            sys.stdout.write(f"cache store {store['backend']} failed {store['errors']} times during the run "
                             f"({state}); jobs went on without it\n")
    return 0


def logged_results(engine, jobs) -> list[dict | None]:
    """For each job of a file, its result as the workspace's event log recorded it (None: not run yet).

    `sls run` names jobs after the file and line, so running a file again on the same workspace (after a
    crash, a kill or a full disk) resumes it: logged jobs are not run, billed or learned from twice. A
    logged step counts only for a job with the same task and text (an edited file runs its changed lines),
    and each step answers one job (a replay maps repeated lines to one recorded job id)."""
    from engine.service import LIVE_RUN
    ids = [engine._replayable(job, strict=False).job_id for job in jobs]   # the ids the engine logs under
    logged = engine.events.steps_of_jobs(LIVE_RUN, ids)
    out: list[dict | None] = []
    for job, job_id in zip(jobs, ids, strict=True):
        steps = logged.get(job_id) or []
        match = next((k for k, s in enumerate(steps) if s.get("task") == job.task and s.get("text") == job.text
                      and is_answered(s)), None)   # h14: a job is done when it has an answer
        out.append(None if match is None else steps.pop(match))
    return out


def write_run_trace(folder: str, engine, jobs, results) -> None:
    """A trace of a live run: the jobs and, for each, the answer of the model that produced it.

    The format needs one outcome per (job, model); a live run calls one model per job, so the trace lists
    only that model per job under a single pseudo-model `scheduled` (cost, tokens and latency as billed)."""
    import pandas as pd

    from engine.traces import write_trace_frames
    models = pd.DataFrame([{"model": "scheduled", "provider": "sls", "input_usd_per_mtok": "",
                            "output_usd_per_mtok": "", "params_b": ""}])
    queries = pd.DataFrame([{"query_id": j.job_id, "task": j.task, "dataset": j.dataset, "text": j.text,
                             "reference": j.reference or ""} for j in jobs])
    outcomes = pd.DataFrame([{"query_id": j.job_id, "model": "scheduled", "output": r.get("answer") or "",
                              "raw_output": r.get("answer") or "", "score": "", "input_tokens": "",
                              "output_tokens": "", "cost_usd": r.get("cost_usd", 0.0),
                              "latency_s": r.get("latency_s", "")} for j, r in zip(jobs, results, strict=True)])
    write_trace_frames(folder, models, queries, outcomes)


def cmd_feedback(args) -> int:
    with _closing(_engine(args)) as engine:
        result = engine.feedback(args.job_id, args.score)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("models", help="list the model catalog and whether each model is reachable now")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("ask", help="run one job through the whole engine")
    p.add_argument("text")
    p.add_argument("--task", required=True)
    p.add_argument("--labels", help="allowed labels, comma-separated (classification)")
    p.add_argument("--budget", type=float)
    p.add_argument("--model", help="force a model (skips the cache and the policy)")
    p.add_argument("--workspace")
    p.add_argument("--replay", help="answer from this trace's recorded outcomes instead of live models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("run", help="run a file of jobs (one per line, or a CSV with a 'text' column)")
    p.add_argument("file")
    p.add_argument("--task", required=True)
    p.add_argument("--labels")
    p.add_argument("--budget", type=float)
    p.add_argument("--concurrency", type=int, default=4, help="model calls in flight")
    p.add_argument("--workspace")
    p.add_argument("--replay")
    p.add_argument("--trace-out", help="write the run as a trace folder")
    p.add_argument("--progress", action=__import__("argparse").BooleanOptionalAction, default=sys.stderr.isatty())
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("feedback", help="give feedback on an earlier job")
    p.add_argument("job_id")
    p.add_argument("--score", type=float, required=True)
    p.add_argument("--workspace")
    p.set_defaults(func=cmd_feedback)
