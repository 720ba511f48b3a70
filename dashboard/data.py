"""Tidy frames for the dashboard: pure pandas over what the engine returns (no streamlit, no plotly).

Every function takes plain records / frames / dicts and returns a DataFrame with a fixed set of columns,
also when its input is empty, so pages and chart builders never have to special-case missing data.
Sorting is deterministic (by sequence number, then by name).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass

import numpy as np
import pandas as pd

from dashboard import formatting as fmt

JOB_COLUMNS = ["seq", "job_id", "task", "dataset", "source", "model", "attempts", "score", "cost_usd",
               "latency_s", "engine_us", "predicted_p", "verified", "reason", "models_tried", "false_hit"]
DECISION_COLUMNS = ["seq", "job_id", "chosen", "final", "reason", "lambda", "explored", "drift"]
TABLE_COLUMNS = ["seq", "job_id", "model", "p_success", "p_std", "cost_usd", "latency_s", "utility",
                 "affordable", "chosen"]
DRIFT_COLUMNS = ["seq", "model", "detail", "mean_before", "mean_after"]
THRESHOLD_COLUMNS = ["seq", "task", "threshold"]
ENTRY_COLUMNS = ["entry_id", "task", "dataset", "key", "answer", "model", "score", "hits", "last_used",
                 "created"]
OBSERVATION_COLUMNS = ["seq", "model", "predicted", "observed"]
METRIC_COLUMNS = ["policy", "kind", "accuracy", "cost_usd", "processing_time_s", "api_time_s",
                  "engine_time_s", "llm_calls", "cache_hit_rate", "false_hit_rate", "queries", "refused",
                  "budget_usd"]
POINT_COLUMNS = ["label", "group", "cost_usd", "accuracy", "budget_usd", "llm_calls", "processing_time_s",
                 "cache_hit_rate"]

CACHE_ROUTE = "cache"
REFUSED_ROUTE = "refused"

# The order policies are listed in: ours first, then the bounds, then the simple and published baselines.
POLICY_ORDER = ("sls", "sls-no-cache", "sls-frozen", "sls-no-pacing", "oracle", "best-single", "optllm",
                "cascade", "cheapest", "random")


# -- generic -------------------------------------------------------------------------------------------
def frame_of(rows: Iterable[Mapping] | None, columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame of dict rows with at least `columns` (missing ones filled with NaN), in that order,
    followed by any extra columns the rows carry."""
    rows = list(rows or [])
    df = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(columns))
    for col in columns:
        if col not in df.columns:
            df[col] = np.nan
    extra = [c for c in df.columns if c not in columns]
    return df[list(columns) + extra].reset_index(drop=True)


def _as_dict(record) -> dict:
    if isinstance(record, Mapping):
        return dict(record)
    if is_dataclass(record):
        return {f.name: getattr(record, f.name) for f in fields(record)}
    slots = getattr(type(record), "__slots__", ())
    return {k: getattr(record, k) for k in slots}


def records_frame(records: Iterable) -> pd.DataFrame:
    """Per-job records (engine `StepRecord`s or dicts) as the job frame (`JOB_COLUMNS`)."""
    rows = [_as_dict(r) for r in records]
    for row in rows:
        tried = row.get("models_tried")
        if isinstance(tried, tuple | list):
            row["models_tried"] = ",".join(tried)
    df = frame_of(rows, JOB_COLUMNS)
    return _typed_jobs(df)


def _typed_jobs(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("score", "cost_usd", "latency_s", "engine_us", "predicted_p"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["seq"] = pd.to_numeric(df["seq"], errors="coerce").fillna(-1).astype(int)
    df["attempts"] = pd.to_numeric(df["attempts"], errors="coerce").fillna(0).astype(int)
    df["false_hit"] = df["false_hit"].astype(object).where(df["false_hit"].notna(), False).astype(bool)
    for col in ("job_id", "task", "dataset", "source", "reason", "models_tried"):
        df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
    df["model"] = df["model"].where(df["model"].notna(), None)
    return df.sort_values("seq", kind="stable").reset_index(drop=True)


def job_frame(df: pd.DataFrame | None) -> pd.DataFrame:
    """Normalise a frame from `RunResult.frame()` to `JOB_COLUMNS` with numeric dtypes."""
    if df is None or df.empty:
        return _typed_jobs(frame_of([], JOB_COLUMNS))
    out = df.reset_index(drop=True).copy()     # column-wise, as `frame_of` would do it row by row (6x faster)
    for col in JOB_COLUMNS:
        if col not in out.columns:
            out[col] = np.nan
    return _typed_jobs(out[JOB_COLUMNS + [c for c in out.columns if c not in JOB_COLUMNS]])


def routes(jobs: pd.DataFrame) -> pd.Series:
    """Where each job was answered: the model's name, "cache", "refused", or "missing" (a workspace replay's job
    with no recorded outcome)."""
    source = jobs["source"].astype(str)
    model = jobs["model"].astype(object).where(jobs["model"].notna(), "?").astype(str)
    route = np.where(source == "refused", REFUSED_ROUTE, np.where(source == "missing", "missing", model))
    return pd.Series(np.where(source == "cache", CACHE_ROUTE, route), index=jobs.index, dtype=object)


def window_for(n: int, target_points: int = 60, minimum: int = 10) -> int:
    """A rolling window giving about `target_points` distinct windows over n jobs."""
    return max(minimum, int(math.ceil(n / max(1, target_points))))


# -- extras of the sls policy --------------------------------------------------------------------------
def decision_frames(decisions: Iterable[Mapping] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per decided job, one row per (job, candidate model)) from `extras["decisions"]`."""
    decisions = list(decisions or [])
    table_rows = []
    for d in decisions:
        chosen = d.get("chosen")
        for row in d.get("table") or []:
            table_rows.append({"seq": d.get("seq"), "job_id": d.get("job_id"), **row,
                               "chosen": row.get("model") == chosen})
    heads = [{k: v for k, v in d.items() if k != "table"} for d in decisions]
    head = frame_of(heads, DECISION_COLUMNS)
    if "final" in head:
        head["final"] = head["final"].where(head["final"].notna(), head["chosen"])
    table = frame_of(table_rows, TABLE_COLUMNS)
    for col in ("p_success", "p_std", "cost_usd", "latency_s", "utility"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    table["chosen"] = table["chosen"].astype(object).where(table["chosen"].notna(), False).astype(bool)
    head = head.sort_values("seq", kind="stable").reset_index(drop=True)
    table = table.sort_values(["seq", "model"], kind="stable").reset_index(drop=True)
    return head, table


def extras_frames(extras: Mapping | None) -> dict:
    """Every artefact of `RunResult.extras` as a tidy frame (empty frames where the policy has none)."""
    extras = extras or {}
    decisions, table = decision_frames(extras.get("decisions"))
    drift = frame_of(extras.get("drift_events"), DRIFT_COLUMNS).sort_values(["seq", "model"], kind="stable")
    thresholds = frame_of(extras.get("thresholds"), THRESHOLD_COLUMNS).sort_values(["seq", "task"], kind="stable")
    entries = frame_of(extras.get("cache_entries"), ENTRY_COLUMNS)
    observations = frame_of(extras.get("observations"), OBSERVATION_COLUMNS)
    for col in ("predicted", "observed"):
        observations[col] = pd.to_numeric(observations[col], errors="coerce").astype(float)
    for col in ("hits", "last_used", "created", "score"):
        entries[col] = pd.to_numeric(entries[col], errors="coerce")
    return {
        "decisions": decisions,
        "table": table,
        "drift": drift.reset_index(drop=True),
        "thresholds": thresholds.reset_index(drop=True),
        "entries": entries.sort_values(["task", "entry_id"], kind="stable").reset_index(drop=True),
        "observations": observations.sort_values(["seq", "model"], kind="stable").reset_index(drop=True),
        "cache_stats": dict(extras.get("cache_stats") or {}),
    }


def has_insights(extras: Mapping | None) -> bool:
    """Whether a run carries the scheduler's artefacts (only the `sls` family does)."""
    return bool(extras) and any(extras.get(k) for k in ("decisions", "observations", "cache_entries",
                                                         "drift_events", "thresholds"))


# -- time series over a run ----------------------------------------------------------------------------
def traffic_share(jobs: pd.DataFrame, window: int | None = None) -> pd.DataFrame:
    """Share of jobs per route (model / cache / refused) in consecutive windows of `window` jobs.

    Columns: start (first seq of the window), route, jobs, share. Every route appears in every window."""
    cols = ["start", "route", "jobs", "share"]
    if jobs is None or jobs.empty:
        return pd.DataFrame(columns=cols)
    window = window or window_for(len(jobs), 40, 5)
    df = pd.DataFrame({"start": (jobs["seq"].to_numpy() // window) * window, "route": routes(jobs).to_numpy()})
    counts = df.groupby(["start", "route"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=sorted(counts.columns))
    shares = counts.div(counts.sum(axis=1), axis=0)
    out = counts.stack().rename("jobs").to_frame().join(shares.stack().rename("share")).reset_index()
    out.columns = cols
    return out.sort_values(["start", "route"], kind="stable").reset_index(drop=True)


def run_series(jobs: pd.DataFrame, budget_usd: float | None = None, total_jobs: int | None = None,
               window: int | None = None) -> pd.DataFrame:
    """Per job: cumulative cost, the budget line, rolling and cumulative accuracy, rolling predicted success.

    `rolling_predicted` and `rolling_called_accuracy` are over the same jobs: those a model answered with a
    prediction (cache hits and refusals have none), so the two lines compare like with like.

    Columns: seq, done, cum_cost, budget_line, rolling_accuracy, cum_accuracy, rolling_predicted,
    rolling_called_accuracy."""
    cols = ["seq", "done", "cum_cost", "budget_line", "rolling_accuracy", "cum_accuracy", "rolling_predicted",
            "rolling_called_accuracy"]
    if jobs is None or jobs.empty:
        return pd.DataFrame(columns=cols)
    window = window or window_for(len(jobs))
    score = jobs["score"].astype(float)
    done = np.arange(1, len(jobs) + 1)
    total = total_jobs or len(jobs)
    out = pd.DataFrame({
        "seq": jobs["seq"].to_numpy(),
        "done": done,
        "cum_cost": jobs["cost_usd"].astype(float).cumsum().to_numpy(),
        "budget_line": (budget_usd * done / total) if budget_usd is not None else np.nan,
        "rolling_accuracy": score.rolling(window, min_periods=1).mean().to_numpy(),
        "cum_accuracy": (score.fillna(0).cumsum() / score.notna().cumsum().replace(0, np.nan)).to_numpy(),
        "rolling_predicted": np.nan,
        "rolling_called_accuracy": np.nan,
    })
    predicted = jobs["predicted_p"].astype(float)
    both = predicted.notna() & score.notna()
    if both.any():      # rolling over the predicted jobs only, carried forward between them
        idx = np.flatnonzero(both.to_numpy())
        w = window_for(int(both.sum()))
        out.loc[idx, "rolling_predicted"] = predicted[both].rolling(w, min_periods=1).mean().to_numpy()
        out.loc[idx, "rolling_called_accuracy"] = score[both].rolling(w, min_periods=1).mean().to_numpy()
        out[["rolling_predicted", "rolling_called_accuracy"]] = out[["rolling_predicted",
                                                                    "rolling_called_accuracy"]].ffill()
    return out


def decision_feed(jobs: pd.DataFrame, n: int = 15) -> pd.DataFrame:
    """The last n jobs, newest first, for the live feed: job, task, dataset, decision, predicted, actual, cost."""
    cols = ["seq", "job", "task", "dataset", "decision", "predicted", "actual", "cost_usd", "attempts"]
    if jobs is None or jobs.empty:
        return pd.DataFrame(columns=cols)
    tail = jobs.tail(n).iloc[::-1]
    route = routes(tail)
    decision = np.where(route == CACHE_ROUTE, "cache hit (" + tail["model"].astype(object).where(tail["model"].notna(), "?").astype(str) + ")",
                        np.where(route == REFUSED_ROUTE, "refused", route))
    return pd.DataFrame({
        "seq": tail["seq"].to_numpy(), "job": tail["job_id"].to_numpy(), "task": tail["task"].to_numpy(),
        "dataset": tail["dataset"].to_numpy(), "decision": decision,
        "predicted": tail["predicted_p"].to_numpy(), "actual": tail["score"].to_numpy(),
        "cost_usd": tail["cost_usd"].to_numpy(), "attempts": tail["attempts"].to_numpy(),
    }).reset_index(drop=True)


def hit_rate_over_time(jobs: pd.DataFrame, window: int | None = None) -> pd.DataFrame:
    """Rolling cache hit rate per task (over that task's own jobs). Columns: seq, task, hit_rate."""
    cols = ["seq", "task", "hit_rate"]
    if jobs is None or jobs.empty:
        return pd.DataFrame(columns=cols)
    parts = []
    for task, part in sorted(jobs.groupby("task"), key=lambda kv: kv[0]):
        w = window or window_for(len(part), 25, 20)
        hit = (part["source"] == "cache").astype(float)
        parts.append(pd.DataFrame({"seq": part["seq"].to_numpy(), "task": task,
                                   "hit_rate": hit.rolling(w, min_periods=1).mean().to_numpy()}))
    return pd.concat(parts, ignore_index=True)[cols]


def false_hits_over_time(jobs: pd.DataFrame) -> pd.DataFrame:
    """Cumulative cache hits and false hits per task. Columns: seq, task, hits, false_hits, false_hit_rate."""
    cols = ["seq", "task", "hits", "false_hits", "false_hit_rate"]
    if jobs is None or jobs.empty:
        return pd.DataFrame(columns=cols)
    parts = []
    for task, part in sorted(jobs.groupby("task"), key=lambda kv: kv[0]):
        hits = (part["source"] == "cache").astype(int).cumsum()
        false = part["false_hit"].astype(int).cumsum()
        parts.append(pd.DataFrame({"seq": part["seq"].to_numpy(), "task": task, "hits": hits.to_numpy(),
                                   "false_hits": false.to_numpy(),
                                   "false_hit_rate": (false / hits.replace(0, np.nan)).fillna(0.0).to_numpy()}))
    return pd.concat(parts, ignore_index=True)[cols]


def cache_size_over_time(entries: pd.DataFrame) -> pd.DataFrame:
    """Entries still in the cache at the end, counted by the job at which each was created, per task.

    Columns: seq, task, size. Empty when the entries carry no creation sequence number."""
    cols = ["seq", "task", "size"]
    if entries is None or entries.empty or "created" not in entries or entries["created"].isna().all():
        return pd.DataFrame(columns=cols)
    df = entries.dropna(subset=["created"]).sort_values(["task", "created"], kind="stable")
    parts = []
    for task, part in sorted(df.groupby("task"), key=lambda kv: kv[0]):
        sizes = part.groupby("created").size().cumsum()
        parts.append(pd.DataFrame({"seq": sizes.index.astype(int), "task": task, "size": sizes.to_numpy()}))
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def search_entries(entries: pd.DataFrame, query: str = "", tasks: Sequence[str] = (),
                   models: Sequence[str] = ()) -> pd.DataFrame:
    """Cache entries whose key, answer, model or dataset contains `query` (case-insensitive), most hit first."""
    if entries is None or entries.empty:
        return frame_of([], ENTRY_COLUMNS)
    df = entries
    if tasks:
        df = df[df["task"].isin(tasks)]
    if models:
        df = df[df["model"].isin(models)]
    q = (query or "").strip().lower()
    if q:
        hay = (df["key"].astype(str) + "\x1f" + df["answer"].astype(str) + "\x1f" + df["model"].astype(str)
               + "\x1f" + df["dataset"].astype(str)).str.lower()
        df = df[hay.str.contains(q, regex=False)]
    return df.sort_values(["hits", "last_used", "entry_id"], ascending=[False, False, True],
                          kind="stable").reset_index(drop=True)


# -- predictors and drift ------------------------------------------------------------------------------
def rolling_predictions(observations: pd.DataFrame, window: int | None = None) -> pd.DataFrame:
    """Per model, rolling means over its own observations of predicted and observed success and of the
    absolute error and Brier score. Columns: seq, model, predicted, observed, abs_error, brier, n."""
    cols = ["seq", "model", "predicted", "observed", "abs_error", "brier", "n"]
    if observations is None or observations.empty:
        return pd.DataFrame(columns=cols)
    parts = []
    for model, part in sorted(observations.groupby("model"), key=lambda kv: kv[0]):
        w = window or window_for(len(part), 80, 10)
        pred, obs = part["predicted"].astype(float), part["observed"].astype(float)
        roll = lambda s, w=w: s.rolling(w, min_periods=1).mean().to_numpy()  # noqa: E731
        parts.append(pd.DataFrame({"seq": part["seq"].to_numpy(), "model": model, "predicted": roll(pred),
                                   "observed": roll(obs), "abs_error": roll((obs - pred).abs()),
                                   "brier": roll((obs - pred) ** 2), "n": np.arange(1, len(part) + 1)}))
    return pd.concat(parts, ignore_index=True)[cols]


def calibration(observations: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Reliability table per model: mean predicted vs observed success in equal-width bins of the prediction.

    Columns: model, bin, predicted, observed, n (bins without observations are left out)."""
    cols = ["model", "bin", "predicted", "observed", "n"]
    if observations is None or observations.empty:
        return pd.DataFrame(columns=cols)
    df = observations.dropna(subset=["predicted", "observed"]).copy()
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["bin"] = np.minimum((df["predicted"].clip(0, 1) * bins).astype(int), bins - 1)
    out = (df.groupby(["model", "bin"]).agg(predicted=("predicted", "mean"), observed=("observed", "mean"),
                                            n=("observed", "size")).reset_index())
    return out.sort_values(["model", "bin"], kind="stable").reset_index(drop=True)[cols]


def calibration_summary(observations: pd.DataFrame) -> pd.DataFrame:
    """Per model: observations, mean predicted, mean observed, Brier score, mean absolute error."""
    cols = ["model", "n", "predicted", "observed", "brier", "abs_error"]
    if observations is None or observations.empty:
        return pd.DataFrame(columns=cols)
    df = observations.dropna(subset=["predicted", "observed"]).copy()
    df["brier"] = (df["observed"] - df["predicted"]) ** 2
    df["abs_error"] = (df["observed"] - df["predicted"]).abs()
    out = df.groupby("model").agg(n=("observed", "size"), predicted=("predicted", "mean"),
                                  observed=("observed", "mean"), brier=("brier", "mean"),
                                  abs_error=("abs_error", "mean")).reset_index()
    return out.sort_values("model", kind="stable").reset_index(drop=True)[cols]


def drift_aftermath(drift: pd.DataFrame, observations: pd.DataFrame, jobs: pd.DataFrame,
                    window: int = 100) -> pd.DataFrame:
    """What happened around each drift event, on the event's task, over `window` observations / jobs before and
    after it: the model's observed and predicted success on that task, its absolute prediction error and its
    share of that task's traffic (an event without a task: over all tasks)."""
    cols = ["seq", "model", "task", "detail", "observed_before", "observed_after", "predicted_before",
            "predicted_after", "error_before", "error_after", "share_before", "share_after"]
    if drift is None or drift.empty:
        return pd.DataFrame(columns=cols)
    jobs = jobs if jobs is not None and not jobs.empty else job_frame(None)
    observations = observations if observations is not None else frame_of([], OBSERVATION_COLUMNS)
    if "task" not in observations.columns:
        observations = with_task(observations, jobs)
    route = routes(jobs) if not jobs.empty else pd.Series(dtype=object)
    mean = lambda s: float(s.mean()) if len(s) else np.nan  # noqa: E731
    rows = []
    for ev in drift.sort_values(["seq", "model"], kind="stable").to_dict("records"):
        task = ev.get("task") or None
        obs = observations[(observations["model"] == ev["model"])
                           & ((observations["task"] == task) if task else True)]
        on_task = (jobs["task"] == task).to_numpy() if task else np.ones(len(jobs), dtype=bool)
        seqs, chosen = jobs["seq"].to_numpy()[on_task], route.to_numpy()[on_task]
        row = {"seq": int(ev["seq"]), "model": ev["model"], "task": task or "all tasks", "detail": ev["detail"]}
        for side in ("before", "after"):
            part = obs[obs["seq"] < ev["seq"]].tail(window) if side == "before" else obs[obs["seq"] > ev["seq"]].head(window)
            row[f"observed_{side}"] = mean(part["observed"].astype(float))
            row[f"predicted_{side}"] = mean(part["predicted"].astype(float))
            row[f"error_{side}"] = mean((part["observed"].astype(float) - part["predicted"].astype(float)).abs())
            idx = np.flatnonzero(seqs < ev["seq"] if side == "before" else seqs > ev["seq"])
            idx = idx[-window:] if side == "before" else idx[:window]
            row[f"share_{side}"] = float((chosen[idx] == ev["model"]).mean()) if len(idx) else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


# -- decisions -----------------------------------------------------------------------------------------
def filter_jobs(jobs: pd.DataFrame, tasks: Sequence[str] = (), datasets: Sequence[str] = (),
                models: Sequence[str] = ()) -> pd.DataFrame:
    """Jobs of the given tasks / datasets / routes (empty selection = no filter on that field)."""
    if jobs is None or jobs.empty:
        return job_frame(None)
    mask = pd.Series(True, index=jobs.index)
    if tasks:
        mask &= jobs["task"].isin(tasks)
    if datasets:
        mask &= jobs["dataset"].isin(datasets)
    if models:
        mask &= routes(jobs).isin(models)
    return jobs[mask].reset_index(drop=True)


def job_decision(table: pd.DataFrame, decisions: pd.DataFrame, seq: int) -> tuple[pd.DataFrame, dict]:
    """The candidate table of job `seq` (best utility first) and its decision row as a dict ({} if none)."""
    rows = table[table["seq"] == seq].sort_values(["utility", "model"], ascending=[False, True], kind="stable")
    head = decisions[decisions["seq"] == seq]
    return rows.reset_index(drop=True), (head.iloc[0].to_dict() if len(head) else {})


def typical_decision(jobs: pd.DataFrame, decisions: pd.DataFrame) -> int | None:
    """The seq of a decision worth opening first: the latest decided job whose first choice answered it
    correctly without exploring (else the latest decided job answered correctly, else the latest one)."""
    if jobs is None or jobs.empty or decisions is None or decisions.empty:
        return None
    head = decisions.set_index("seq")
    cand = jobs[jobs["seq"].isin(head.index)]
    if cand.empty:
        return None
    ok = cand["score"].fillna(0) > 0
    chosen = cand["seq"].map(head["chosen"]) if "chosen" in head else pd.Series(None, index=cand.index)
    first = cand["model"].astype(object) == chosen.astype(object)
    reason = cand["seq"].map(head["reason"]).astype(str) if "reason" in head else pd.Series("", index=cand.index)
    explored = reason.str.contains("explor", case=False)
    if "explored" in head:
        explored |= cand["seq"].map(head["explored"]).astype(object).eq(True)
    for mask in (ok & first & ~explored, ok & first, ok):
        if mask.any():
            return int(cand.loc[mask, "seq"].iloc[-1])
    return int(cand["seq"].iloc[-1])


def decision_table(rows: Iterable[Mapping], chosen: str | None) -> pd.DataFrame:
    """A decision's `table` list (as in `extras["decisions"][i]["table"]`) as a frame, best utility first."""
    df = frame_of([{**r, "chosen": r.get("model") == chosen} for r in rows or []],
                  [c for c in TABLE_COLUMNS if c not in ("seq", "job_id")])
    for col in ("p_success", "p_std", "cost_usd", "latency_s", "utility"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df.sort_values(["utility", "model"], ascending=[False, True], kind="stable").reset_index(drop=True)


# -- comparisons ---------------------------------------------------------------------------------------
def policy_sort_key(name: str) -> tuple:
    if name in POLICY_ORDER:
        return (0, POLICY_ORDER.index(name), "")
    if name.startswith("single:"):
        return (1, 0, name)
    return (2, 0, name)


def metrics_table(metrics: Iterable[Mapping], kinds: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per policy run (`METRIC_COLUMNS`), in the dashboard's policy order."""
    rows = []
    for m in metrics:
        row = {k: m.get(k) for k in METRIC_COLUMNS}
        name = str(m.get("policy", ""))
        row["kind"] = (kinds or {}).get(name) or ("single" if name.startswith("single:") else row.get("kind"))
        rows.append(row)
    df = frame_of(rows, METRIC_COLUMNS)
    for col in METRIC_COLUMNS[2:]:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    if df.empty:
        return df
    order = sorted(range(len(df)), key=lambda i: policy_sort_key(str(df["policy"].iloc[i])))
    return df.iloc[order].reset_index(drop=True)


def best_single(table: pd.DataFrame) -> pd.Series | None:
    """The most accurate `single:<model>` row (ties: cheaper), or None."""
    singles = table[table["policy"].astype(str).str.startswith("single:")]
    if singles.empty:
        return None
    singles = singles.assign(_acc=singles["accuracy"].round(9)).sort_values(
        ["_acc", "cost_usd", "policy"], ascending=[False, True, True], kind="stable")
    return singles.drop(columns="_acc").iloc[0]


def comparison(current: Mapping, table: pd.DataFrame) -> pd.DataFrame:
    """How the current run compares with each baseline row: accuracy difference (pp), money saved (USD and
    % of the baseline's cost), time saved (%) and LLM calls saved."""
    cols = ["policy", "kind", "accuracy", "cost_usd", "processing_time_s", "llm_calls", "accuracy_delta",
            "saving_usd", "saving_pct", "time_saving_pct", "calls_saved"]
    if table is None or table.empty or not current:
        return pd.DataFrame(columns=cols)
    df = table.copy()
    acc, cost = float(current.get("accuracy") or 0), float(current.get("cost_usd") or 0)
    time_s, calls = float(current.get("processing_time_s") or 0), float(current.get("llm_calls") or 0)
    df["accuracy_delta"] = acc - df["accuracy"]
    df["saving_usd"] = df["cost_usd"] - cost
    base_ok = (df["cost_usd"] > 0) & (df["cost_usd"] >= PCT_MIN_BASE * cost)     # no % of a near-zero base
    df["saving_pct"] = np.where(base_ok, df["saving_usd"] / df["cost_usd"].where(base_ok), np.nan)
    df["time_saving_pct"] = np.where(df["processing_time_s"] > 0,
                                     (df["processing_time_s"] - time_s) / df["processing_time_s"].where(
                                         df["processing_time_s"] > 0), np.nan)
    df["calls_saved"] = df["llm_calls"] - calls
    return df[cols].reset_index(drop=True)


def headline(current: Mapping, table: pd.DataFrame) -> dict:
    """The stakeholder headline: the current run against the best single model."""
    best = best_single(table) if table is not None and not table.empty else None
    if not current:
        return {}
    out = {"accuracy": current.get("accuracy"), "cost_usd": current.get("cost_usd"),
           "processing_time_s": current.get("processing_time_s"), "llm_calls": current.get("llm_calls"),
           "cache_hit_rate": current.get("cache_hit_rate"), "budget_usd": current.get("budget_usd"),
           "best_single": None}
    if best is not None:
        cmp = comparison(current, pd.DataFrame([best]))
        row = cmp.iloc[0]
        out.update(best_single=str(best["policy"]).split(":", 1)[1], best_accuracy=float(best["accuracy"]),
                   best_cost_usd=float(best["cost_usd"]), best_time_s=float(best["processing_time_s"]),
                   best_llm_calls=float(best["llm_calls"]), accuracy_delta=float(row["accuracy_delta"]),
                   saving_usd=float(row["saving_usd"]), saving_pct=float(row["saving_pct"]),
                   time_saving_pct=float(row["time_saving_pct"]), calls_saved=float(row["calls_saved"]))
    return out


PCT_MIN_BASE = 0.2   # no percentage of a base under a fifth of the run's own cost (it reads as −10,288%)


def saving_pct(base_cost: float, saved: float, own_cost: float) -> float | None:
    """`saved` as a share of `base_cost`, or None when the base is zero or tiny next to the run's own cost."""
    if not base_cost or base_cost <= 0 or base_cost < PCT_MIN_BASE * max(own_cost, 0.0):
        return None
    return saved / base_cost


def money_story(current: Mapping, table: pd.DataFrame, jobs: pd.DataFrame | None = None,
                costs: np.ndarray | None = None, model_names: Sequence[str] = (),
                no_pacing: Mapping | None = None) -> dict:
    """What the scheduler saved, at what quality: against the most accurate single model (`top`) and the
    cheapest single model at least as accurate as the scheduler (`match`; None when no model is), and the
    saving against `top` split into cache, routing and pacing.

    The split is exact: cache = what `top` would have charged for the jobs the cache answered (from the
    trace's recorded costs); pacing = the same run with pacing off (`no_pacing`, the sls-no-pacing
    ablation at the same budget) minus this run (None without a budget or before the ablation ran); routing
    = the rest (choosing cheaper models per job). Amounts in USD; percentages of the comparison's cost."""
    out: dict = {"accuracy": current.get("accuracy"), "cost_usd": current.get("cost_usd"),
                 "budget_usd": current.get("budget_usd"), "queries": current.get("queries"), "top": None,
                 "match": None, "split": None}
    if table is None or table.empty or not current:
        return out
    acc, cost = float(current.get("accuracy") or 0.0), float(current.get("cost_usd") or 0.0)
    singles = table[table["policy"].astype(str).str.startswith("single:")].dropna(subset=["accuracy", "cost_usd"])
    if singles.empty:
        return out

    def against(row) -> dict:
        base = float(row["cost_usd"])
        saved = base - cost
        return {"model": str(row["policy"]).split(":", 1)[1], "accuracy": float(row["accuracy"]),
                "cost_usd": base, "saving_usd": saved, "saving_pct": saving_pct(base, saved, cost),
                "accuracy_delta": acc - float(row["accuracy"])}

    top_row = best_single(table)
    out["top"] = against(top_row)
    able = singles[singles["accuracy"] >= acc - 5e-4].sort_values(["cost_usd", "policy"], kind="stable")
    out["match"] = against(able.iloc[0]) if len(able) else None
    if jobs is not None and costs is not None and out["top"]["model"] in model_names and len(jobs):
        m = list(model_names).index(out["top"]["model"])
        cached = jobs.loc[jobs["source"] == CACHE_ROUTE, "seq"].to_numpy()
        cached = cached[(cached >= 0) & (cached < costs.shape[0])]
        cache = float(np.nansum(costs[cached, m])) if len(cached) else 0.0
        pacing = None
        if current.get("budget_usd") is not None and no_pacing and no_pacing.get("cost_usd") is not None:
            pacing = float(no_pacing["cost_usd"]) - cost
        routing = out["top"]["saving_usd"] - cache - (pacing or 0.0)
        out["split"] = {"cache_usd": cache, "routing_usd": routing, "pacing_usd": pacing,
                        "cache_hits": int(len(cached))}
    return out


def cost_accuracy_points(baselines: pd.DataFrame, frontier: pd.DataFrame | None = None,
                         current: Mapping | None = None, whatif: Mapping | None = None) -> pd.DataFrame:
    """Points of the cost–accuracy chart: each baseline, the sls frontier (one point per budget), the
    current run and the what-if run. Columns: `POINT_COLUMNS`."""
    rows = []

    def add(m: Mapping, label: str, group: str):
        rows.append({"label": label, "group": group, **{k: m.get(k) for k in POINT_COLUMNS[2:]}})

    for m in (baselines.to_dict("records") if baselines is not None else []):
        name = str(m["policy"])
        if name.startswith("single:"):
            add(m, name.split(":", 1)[1], "single model")
        elif name == "oracle":
            add(m, name, "oracle")
        elif name.startswith("sls"):
            add(m, name, "sls variant")
        else:
            add(m, name, "baseline")
    for m in (frontier.to_dict("records") if frontier is not None else []):
        budget = m.get("budget_usd")
        label = "sls (no budget)" if budget is None or (isinstance(budget, float) and math.isnan(budget)) \
            else f"sls @ budget {budget:.4g}"
        add(m, label, "sls frontier")
        if m.get("measured_accuracy") is not None and m.get("seeds"):
            rows[-1].update(from_budget_usd=m.get("from_budget_usd"))
            rows.append({"label": label, "group": "sls measured", "cost_usd": m["measured_cost_usd"],
                         "accuracy": m["measured_accuracy"], "budget_usd": budget,
                         "accuracy_lo": m.get("accuracy_lo"), "accuracy_hi": m.get("accuracy_hi"),
                         "seeds": m.get("seeds"), **{k: m.get(k) for k in POINT_COLUMNS[5:]}})
    if current:
        add(current, "current run", "current run")
    if whatif:
        add(whatif, "what-if", "what-if")
    df = frame_of(rows, POINT_COLUMNS)
    for col in POINT_COLUMNS[2:]:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df


def frontier_frame(runs: Iterable[Mapping]) -> pd.DataFrame:
    """The sls frontier from replays at several budgets and seeds (metrics dicts carrying `budget_usd` and
    `seed`), one row per budget, lowest first (no budget last).

    `measured_accuracy` / `measured_cost_usd` are the means over the seeds run so far at that budget, with
    their range (`accuracy_lo`, `accuracy_hi`) and `seeds`; `accuracy` / `cost_usd` are the frontier: the
    best measured mean at any budget <= this one (a budget is a ceiling, so a run that fit a lower budget fits
    this one too — the same rule as `sls sweep`), with `from_budget_usd` naming the budget it comes from."""
    cols = ["budget_usd", "seeds", "measured_accuracy", "measured_cost_usd", "accuracy_lo", "accuracy_hi",
            "accuracy", "cost_usd", "from_budget_usd", "llm_calls", "processing_time_s", "cache_hit_rate"]
    groups: dict = {}
    for m in runs:
        b = m.get("budget_usd")
        groups.setdefault(math.inf if b is None else float(b), []).append(m)
    rows, best = [], None
    for b in sorted(groups):
        ms = groups[b]
        acc = [float(m["accuracy"]) for m in ms if m.get("accuracy") is not None]
        if not acc:
            continue
        row = {"budget_usd": None if b == math.inf else b, "seeds": len(acc),
               "measured_accuracy": float(np.mean(acc)),
               "measured_cost_usd": float(np.mean([float(m.get("cost_usd") or 0.0) for m in ms])),
               "accuracy_lo": min(acc), "accuracy_hi": max(acc)}
        for key in ("llm_calls", "processing_time_s", "cache_hit_rate"):
            vals = [float(m[key]) for m in ms if isinstance(m.get(key), int | float)]
            row[key] = float(np.mean(vals)) if vals else np.nan
        if best is None or row["measured_accuracy"] > best["measured_accuracy"]:
            best = row
        row.update(accuracy=best["measured_accuracy"], cost_usd=best["measured_cost_usd"],
                   from_budget_usd=best["budget_usd"])
        rows.append(row)
    df = pd.DataFrame(rows, columns=cols)
    return df


def pareto_mask(cost: Sequence[float], accuracy: Sequence[float]) -> np.ndarray:
    """True for points no other point beats on both cost (lower) and accuracy (higher)."""
    c, a = np.asarray(cost, dtype=float), np.asarray(accuracy, dtype=float)
    keep = np.ones(len(c), dtype=bool)
    for i in range(len(c)):
        dominated = (c <= c[i]) & (a >= a[i]) & ((c < c[i]) | (a > a[i]))
        keep[i] = not dominated.any()
    return keep


def whatif_delta(current: Mapping | None, whatif: Mapping | None) -> pd.DataFrame:
    """Side-by-side metrics of the current run and a what-if run with the difference."""
    keys = [("accuracy", "Accuracy"), ("cost_usd", "Cost"), ("processing_time_s", "Processing time"),
            ("llm_calls", "LLM calls"), ("cache_hit_rate", "Cache hit rate"), ("refused", "Refused jobs")]
    rows = []
    for key, label in keys:
        a = (current or {}).get(key)
        b = (whatif or {}).get(key)
        delta = (b - a) if isinstance(a, int | float) and isinstance(b, int | float) else None
        rows.append({"metric": key, "label": label, "current": a, "what_if": b, "delta": delta})
    return pd.DataFrame(rows, columns=["metric", "label", "current", "what_if", "delta"])


def budget_steps(lo: float, hi: float, n: int = 6) -> list[float]:
    """n budgets spread geometrically between lo and hi (for the sls frontier), rounded to 4 significant
    figures and deduplicated."""
    lo, hi = max(lo, 1e-9), max(hi, lo * 1.0001)
    values = np.geomspace(lo, hi, n)
    out = sorted({float(f"{v:.4g}") for v in values})
    return out


def per_dataset_frame(runs: Mapping[str, Mapping | None]) -> pd.DataFrame:
    """Accuracy and cost per dataset for several runs ({label: metrics}); columns dataset, run, accuracy,
    cost_usd, queries. Runs keep the given order; datasets are sorted."""
    rows = []
    for label, metrics in runs.items():
        for dataset, m in sorted(((metrics or {}).get("per_dataset") or {}).items()):
            rows.append({"dataset": dataset, "run": label, "accuracy": m.get("accuracy"),
                         "cost_usd": m.get("cost_usd"), "queries": m.get("queries")})
    return pd.DataFrame(rows, columns=["dataset", "run", "accuracy", "cost_usd", "queries"])


def metrics_by_policy(metrics: Iterable[Mapping], policy: str) -> Mapping | None:
    return next((m for m in metrics if m.get("policy") == policy), None)


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is ≥ x (slider ranges that read well)."""
    if not x or x <= 0 or not math.isfinite(x):
        return 1.0
    k = math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10 ** k >= x * (1 - 1e-12):
            return float(m * 10 ** k)
    return float(10 ** (k + 1))


FRONTIER_POINTS = 5


def frontier_budgets(table: pd.DataFrame) -> list[float | None]:
    """The budgets of the What-if page's sls frontier: `FRONTIER_POINTS` steps up to the dearest single
    model's cost, and no budget."""
    hi, _, _, cheapest = budget_range(table)
    return [*budget_steps(max(cheapest * 0.5, hi / 1000), hi, FRONTIER_POINTS), None]


def budget_range(table: pd.DataFrame) -> tuple[float, float, float, float]:
    """(max, step, default, cheapest) for the what-if budget slider, from the baselines' costs: up to the
    dearest single model, default half the best single model's cost."""
    singles = table[table["policy"].astype(str).str.startswith("single:")] if table is not None else table
    costs = singles["cost_usd"].dropna() if singles is not None and not singles.empty else pd.Series(dtype=float)
    if costs.empty or costs.max() <= 0:
        return 1.0, 0.01, 0.5, 0.0
    hi = nice_ceiling(float(costs.max()))
    step = nice_ceiling(hi / 400)
    best = best_single(table)
    default = float(best["cost_usd"]) / 2 if best is not None else hi / 2
    default = min(hi, max(step, round(default / step) * step))
    return hi, step, float(f"{default:.6g}"), float(costs.min())


_NICE_STEPS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)


def budget_options(table: pd.DataFrame) -> tuple[list[float], float]:
    """Budgets for the what-if slider on a log-like scale of round numbers (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6,
    8 × 10^k), from a quarter of the cheapest single model's cost to the dearest one's; and the default (the
    option closest to half the best single model's cost)."""
    hi, _, default, cheapest = budget_range(table)
    lo = max(cheapest / 4, hi / 1e4) if cheapest > 0 else hi / 1000
    options = []
    k = math.floor(math.log10(lo))
    while True:
        for m in _NICE_STEPS:
            v = float(f"{m * 10 ** k:.6g}")
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                options.append(v)
        if 10 ** (k + 1) > hi:
            break
        k += 1
    options = sorted(set(options)) or [hi]
    best = min(options, key=lambda v: (abs(math.log(v / default)) if default > 0 else v, v))
    return options, best


def planted_drift(events: object) -> pd.DataFrame:
    """Drift events a trace documents in its EVENTS.json (`{"drift": [{"model", "from_index", "before",
    "after", …}]}`), as seq, model, detail. Anything else gives an empty frame."""
    rows = []
    items = events.get("drift") if isinstance(events, Mapping) else None
    for ev in items if isinstance(items, list) else []:
        if not isinstance(ev, Mapping) or "model" not in ev:
            continue
        seq = ev.get("from_index", ev.get("seq"))
        if not isinstance(seq, int | float):
            continue
        before, after = ev.get("before"), ev.get("after")
        change = f" (success {before:.2f} → {after:.2f})" if isinstance(before, int | float) and \
            isinstance(after, int | float) else ""
        task = f" on {ev['task']}" if ev.get("task") else ""
        rows.append({"seq": int(seq), "model": str(ev["model"]), "detail": f"planted: {ev['model']}{task}{change}",
                     "task": str(ev.get("task") or "")})
    return pd.DataFrame(rows, columns=["seq", "model", "detail", "task"])


def apply_edits(original: pd.DataFrame, edited_rows: Mapping | None, *, locked: Sequence[str] = ("name",)) -> list[dict]:
    """Rows of `original` with `st.data_editor`'s `edited_rows` ({row: {column: value}}) applied, as plain
    dicts (NaN → None). Columns in `locked` and unknown columns are ignored."""
    df = original.copy().astype(object)
    for row, changes in (edited_rows or {}).items():
        for col, value in (changes or {}).items():
            if col in df.columns and col not in locked and 0 <= int(row) < len(df):
                df.at[int(row), col] = value
    out = []
    for rec in df.to_dict("records"):
        out.append({k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in rec.items()})
    return out


def with_task(observations: pd.DataFrame, jobs: pd.DataFrame) -> pd.DataFrame:
    """Observations with the task of their job (joined on the job sequence number)."""
    if observations is None or observations.empty or jobs is None or jobs.empty:
        out = observations.copy() if observations is not None else frame_of([], OBSERVATION_COLUMNS)
        out["task"] = pd.Series(dtype=object)
        return out
    tasks = jobs[["seq", "task"]].drop_duplicates("seq")
    return observations.drop(columns=["task"], errors="ignore").merge(tasks, on="seq", how="left")


def only_task(df: pd.DataFrame, task: str | None) -> pd.DataFrame:
    """Rows of `task` (all rows when task is None or the frame has no task column; rows with an empty task —
    events about every task — are kept)."""
    if df is None or task is None or "task" not in df.columns:
        return df
    keep = df["task"].isna() | (df["task"].astype(str) == task) | (df["task"].astype(str) == "")
    return df[keep].reset_index(drop=True)


# -- exports -------------------------------------------------------------------------------------------
def csv_bytes(df: pd.DataFrame, settings: dict | None = None) -> bytes:
    """`df` as CSV for a spreadsheet: every text cell a spreadsheet would run as a formula is neutralised
    (`fmt.csv_cell`), and the scenario's `settings` ride along as `scenario_<name>` columns on every row (so
    a CSV read later still says which settings produced it)."""
    safe = df.copy()
    for name, value in (settings or {}).items():
        safe[f"scenario_{name}"] = json.dumps(value, default=str) if isinstance(value, dict | list) else value
    for col in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[col]):
            safe[col] = safe[col].map(fmt.csv_cell)
    safe.columns = [fmt.csv_cell(str(c)) for c in safe.columns]
    return safe.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")   # a CR in a cell stays in it


def scenario_table(params_a: Mapping, metrics_a: Mapping, params_b: Mapping, metrics_b: Mapping) -> pd.DataFrame:
    """Two what-if scenarios side by side: their settings, then their figures (as text, formatted)."""
    def settings(p: Mapping) -> dict:
        pp = p.get("policy_params") or {}
        budget = p.get("budget_usd")
        return {"budget": "none" if budget is None else fmt.usd(budget), "cost weight λ": f"{pp.get('cost_weight')}",
                "latency weight μ": f"{pp.get('latency_weight')}", "cache": "on" if pp.get("cache", True) else "off",
                "models": ", ".join(pp["models"]) if pp.get("models") else "all"}

    def figures(m: Mapping) -> dict:
        return {"accuracy": fmt.pct(m.get("accuracy")), "cost": fmt.usd(m.get("cost_usd")),
                "LLM calls": fmt.count(m.get("llm_calls")), "cache hit rate": fmt.pct(m.get("cache_hit_rate")),
                "refused jobs": fmt.count(m.get("refused"))}
    a, b = {**settings(params_a), **figures(metrics_a)}, {**settings(params_b), **figures(metrics_b)}
    return pd.DataFrame({"": list(a), "A (pinned)": list(a.values()), "B (on screen)": [b[k] for k in a]})
