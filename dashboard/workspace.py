"""A live scheduler's workspace as a source of the results pages (pure: pandas, no streamlit/plotly).

Everything is read through `engine.eventlog.EventLog`'s read methods (`steps`, `decisions`, `spend`, `run`)
for the live run id, so it stays correct while the engine's internals change. A workspace without an event
log is not created: it is reported as empty.

Budget alerts: a configured budget per run, day or month; `alerts` says which of the 80/90/100% thresholds
the spend has crossed. Day and month need the time of each job (a step's `at`/`ts`/`time`/`started` key);
without it they fall back to the whole run and say so.
"""

from __future__ import annotations

import calendar
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard import data

log = logging.getLogger(__name__)

# engine.eventlog.LIVE_RUN / EVENTS_FILE, not imported here: the dashboard imports the engine lazily (layering test)
LIVE_RUN = "live"
EVENTS_FILE = "events.sqlite"

TIME_KEYS = ("at", "ts", "time", "started", "finished_at")
ALERT_LEVELS = (0.8, 0.9, 1.0)
LIVE_COLUMNS = ("at", "input_tokens", "output_tokens", "verdict", "text", "answer", "failures")
PERIODS = ("run", "day", "month")


@dataclass
class WorkspaceView:
    """What the pages show of a workspace: one row per job (the job frame plus extra live columns), the
    decisions, and a few totals."""

    path: Path
    exists: bool
    jobs: pd.DataFrame
    decisions: pd.DataFrame
    table: pd.DataFrame
    spend_usd: float = 0.0
    run: dict | None = None
    has_times: bool = False
    read_at: float = field(default_factory=time.time)

    @property
    def n_jobs(self) -> int:
        return len(self.jobs)


def _when(step: Mapping) -> float:
    for key in TIME_KEYS:
        v = step.get(key)
        if isinstance(v, int | float) and math.isfinite(v) and v > 1e9:
            return float(v)
    return math.nan


def _tokens(step: Mapping, kind: str) -> float:
    for key in (f"{kind}_tokens", f"tokens_{kind}"):
        v = step.get(key)
        if isinstance(v, int | float):
            return float(v)
    usage = step.get("usage")
    if isinstance(usage, Mapping) and isinstance(usage.get(f"{kind}_tokens"), int | float):
        return float(usage[f"{kind}_tokens"])
    return math.nan


def steps_frame(steps: Iterable[Mapping]) -> pd.DataFrame:
    """Logged live steps as the dashboard's job frame (`data.JOB_COLUMNS`) plus `at`, `input_tokens`,
    `output_tokens`, `verdict`, `text`, `answer` and `failures`."""
    rows = []
    for s in steps:
        attempts = s.get("attempts")
        tried = [str(a) for a in attempts] if isinstance(attempts, list | tuple) else []
        verdict = str(s.get("verdict") or "")
        engine_ms = s.get("engine_ms")
        rows.append({
            "seq": s.get("seq"), "job_id": s.get("job_id"), "task": s.get("task"), "dataset": s.get("dataset"),
            "source": s.get("source") or ("cache" if s.get("cached") else "model"), "model": s.get("model"),
            "attempts": len(tried) if tried else (attempts if isinstance(attempts, int) else 0),
            "score": s.get("score"), "cost_usd": s.get("cost_usd") or 0.0, "latency_s": s.get("latency_s"),
            "engine_us": engine_ms * 1000 if isinstance(engine_ms, int | float) else np.nan,
            "predicted_p": s.get("predicted_p"),
            "verified": True if verdict == "ok" else (False if verdict == "rejected" else None),
            "reason": s.get("verdict_reason") or "", "models_tried": ",".join(tried), "false_hit": False,
            "at": _when(s), "input_tokens": _tokens(s, "input"), "output_tokens": _tokens(s, "output"),
            "verdict": verdict, "text": str(s.get("text") or ""), "answer": str(s.get("answer") or ""),
            "failures": "; ".join(str(f) for f in s.get("failures") or []),
        })
    df = data.records_frame(rows)
    for col in LIVE_COLUMNS:
        if col not in df.columns:
            df[col] = pd.Series(dtype=object if col in ("verdict", "text", "answer", "failures") else float)
    for col in ("verdict", "text", "answer", "failures"):
        df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
    for col in ("at", "input_tokens", "output_tokens"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df


def read(path: str | Path) -> WorkspaceView:
    """The live run of the workspace at `path` (an empty view when it has no event log yet)."""
    folder = Path(path).expanduser()
    file = folder / EVENTS_FILE
    empty = steps_frame([])
    heads, table = data.decision_frames([])
    if not file.is_file():
        return WorkspaceView(folder, False, empty, heads, table)
    from engine.eventlog import EventLog
    events = EventLog(file)
    try:
        steps = events.steps(LIVE_RUN)
        decisions = events.decisions(LIVE_RUN)
        spend = float(events.spend(LIVE_RUN))
        run = events.run(LIVE_RUN)
    finally:
        events.close()
    jobs = steps_frame(steps)
    heads, table = data.decision_frames(decisions)
    if len(heads) and heads["job_id"].isna().all():       # decisions carry the seq only: name their jobs
        heads["job_id"] = heads["seq"].map(dict(zip(jobs["seq"], jobs["job_id"], strict=True)))
    return WorkspaceView(folder, True, jobs, heads, table, spend, run, bool(jobs["at"].notna().any()))


# -- figures of a workspace -------------------------------------------------------------------------------
def summary(view: WorkspaceView) -> dict:
    """N jobs, spend, model calls, cache hits, p50/p95 latency of model-answered jobs, tokens (None when the
    log does not record them), and the estimated cache saving."""
    jobs = view.jobs
    called = jobs[jobs["source"] == "model"]
    lat = called["latency_s"].dropna()
    tin, tout = jobs["input_tokens"], jobs["output_tokens"]
    return {"jobs": len(jobs), "spend_usd": float(view.spend_usd), "model_calls": int(jobs["attempts"].sum()),
            "cache_hits": int((jobs["source"] == "cache").sum()),
            "refused": int((jobs["source"] == "refused").sum()),
            "p50_latency_s": float(lat.quantile(0.5)) if len(lat) else None,
            "p95_latency_s": float(lat.quantile(0.95)) if len(lat) else None,
            "input_tokens": float(tin.sum()) if tin.notna().any() else None,
            "output_tokens": float(tout.sum()) if tout.notna().any() else None,
            **cache_savings(jobs)}


def cache_savings(jobs: pd.DataFrame) -> dict:
    """Dollars the cache saved, estimated: each hit would have cost what a model-answered job of the same
    task cost on average in this workspace (the task-wide average where the task has no model call)."""
    hits = jobs[jobs["source"] == "cache"]
    called = jobs[jobs["source"] == "model"]
    if hits.empty:
        return {"cache_saved_usd": 0.0, "cache_saved_estimated": False}
    overall = float(called["cost_usd"].mean()) if len(called) else 0.0
    per_task = called.groupby("task")["cost_usd"].mean().to_dict()
    saved = float(sum(per_task.get(t, overall) for t in hits["task"]))
    return {"cache_saved_usd": saved, "cache_saved_estimated": True}


def spend_over_time(jobs: pd.DataFrame, by: str = "model") -> pd.DataFrame:
    """Cumulative spend per `by` (model / task) over wall-clock time (`x` = time of the job) or, when the log
    records no times, over jobs (`x` = job number). Columns: x, group, cum_cost, jobs."""
    cols = ["x", "group", "cum_cost", "jobs"]
    if jobs is None or jobs.empty:
        return pd.DataFrame(columns=cols)
    df = jobs.copy()
    df["group"] = (data.routes(df) if by == "model" else df[by]).astype(str)
    timed = df["at"].notna().all()
    df["x"] = pd.to_datetime(df["at"], unit="s") if timed else np.arange(1, len(df) + 1)
    parts = []
    for group, part in sorted(df.groupby("group"), key=lambda kv: kv[0]):
        parts.append(pd.DataFrame({"x": part["x"].to_numpy(), "group": group,
                                   "cum_cost": part["cost_usd"].astype(float).cumsum().to_numpy(),
                                   "jobs": np.arange(1, len(part) + 1)}))
    return pd.concat(parts, ignore_index=True)[cols]


def search_jobs(jobs: pd.DataFrame, query: str = "") -> pd.DataFrame:
    """The job log, newest first, filtered by `query` in the job id, task, dataset, model, text, answer or
    reason (case-insensitive)."""
    cols = ["seq", "job_id", "task", "dataset", "source", "model", "cost_usd", "latency_s", "verdict", "reason",
            "text", "answer"]
    if jobs is None or jobs.empty:
        return pd.DataFrame(columns=cols)
    df = jobs[cols].iloc[::-1]
    q = (query or "").strip().lower()
    if q:
        hay = df[["job_id", "task", "dataset", "model", "text", "answer", "reason"]].astype(str).agg(
            "\x1f".join, axis=1).str.lower()
        df = df[hay.str.contains(q, regex=False)]
    return df.reset_index(drop=True)


def prediction_calibration(jobs: pd.DataFrame) -> pd.DataFrame:
    """Predicted success against the verifier's verdict, per model, over the same jobs: the model-answered
    jobs with both a prediction and a verdict. Columns: model, jobs, predicted, verified."""
    cols = ["model", "jobs", "predicted", "verified"]
    df = jobs[(jobs["source"] == "model") & jobs["predicted_p"].notna() & jobs["verdict"].isin(["ok", "rejected"])]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df.assign(ok=(df["verdict"] == "ok").astype(float))
    out = df.groupby("model").agg(jobs=("ok", "size"), predicted=("predicted_p", "mean"), verified=("ok", "mean"))
    return out.reset_index()[cols]


# -- budget alerts ----------------------------------------------------------------------------------------
def period_spend(jobs: pd.DataFrame, period: str, now: float | None = None) -> tuple[float, str]:
    """Spend in the current `period` ("run", "day" or "month", UTC) and a note on how it was counted."""
    if period not in PERIODS:
        raise ValueError(f"budget period must be one of {', '.join(PERIODS)}, got {period!r}")
    total = float(jobs["cost_usd"].sum()) if jobs is not None and len(jobs) else 0.0
    if period == "run":
        return total, "this run"
    if jobs is None or jobs.empty or jobs["at"].isna().any():
        return total, f"the whole run (the event log records no time per job, so no {period} can be told)"
    now = time.time() if now is None else now
    t = time.gmtime(now)
    start = calendar.timegm((t.tm_year, t.tm_mon, 1 if period == "month" else t.tm_mday, 0, 0, 0))
    return float(jobs.loc[jobs["at"] >= start, "cost_usd"].sum()), f"this {period} (UTC)"


def alerts(spent: float, budget: float | None) -> list[dict]:
    """The thresholds (80/90/100% of `budget`) the spend has crossed, highest first."""
    if not budget or budget <= 0:
        return []
    share = spent / budget
    return [{"level": lvl, "share": share, "spent_usd": spent, "budget_usd": budget}
            for lvl in sorted(ALERT_LEVELS, reverse=True) if share >= lvl][:1]
