"""A live scheduler's workspace read as a trace: its own recorded jobs, for what-if replays.

`load_trace(DIR)` reads a workspace folder (one holding `events.sqlite` and no trace files) through this
module, so `sls replay DIR`, `sls sweep DIR` and the dashboard replay a workspace's real jobs like any trace.

What the live run recorded allows only part of a counterfactual: each job has the outcome of the model
that answered it (its answer, what the job cost, its latency and tokens, and a score when feedback graded
it), and nothing for the models it did not call — nor for a job answered from the cache, by the task's rule,
or refused. Those outcomes are *missing*, not failures: `Trace.recorded` marks what exists, a replay
chooses only among recorded outcomes (`ReplayEnv.available`), and `missing_outcomes` says what is missing,
so a what-if reads "with half the budget, 40 of these jobs would have been refused", never "model X would
have failed them".
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from engine.catalog import Catalog
from engine.errors import TraceError
from engine.eventlog import EVENTS_FILE, LIVE_RUN, EventLog
from engine.traces.model import ModelRow, Trace


def is_workspace(folder: Path) -> bool:
    """A folder holding a workspace's event log and no trace files."""
    return (folder / EVENTS_FILE).is_file() and not any(
        (folder / f"{kind}.csv{ext}").is_file() for kind in ("models", "queries", "outcomes") for ext in ("", ".gz"))


def _number(value) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
        else math.nan


def workspace_trace(folder: str | Path) -> Trace:
    """The live jobs of the workspace at `folder` as a trace whose `recorded` matrix marks the outcomes that
    exist (see the module docstring). Raises `TraceError` when it has no live job yet."""
    folder = Path(folder).resolve()
    events = EventLog(folder / EVENTS_FILE)
    try:
        steps = events.steps(LIVE_RUN)
        graded = events.feedback_scores(LIVE_RUN)
    finally:
        events.close()
    if not steps:
        raise TraceError("this workspace has no live jobs yet (run `sls run` or `sls ask` on it first)",
                         file=str(folder / EVENTS_FILE))
    known = Catalog.default()
    models: dict[str, None] = {}
    for step in steps:
        for name in [step.get("model"), *(step.get("models_tried") or [])]:
            if isinstance(name, str) and name and step.get("source") in ("model", "cache"):
                models.setdefault(name, None)
    names = list(models)
    n, m = len(steps), len(names)
    col = {name: j for j, name in enumerate(names)}
    scores, costs = np.full((n, m), np.nan), np.zeros((n, m))
    in_tok, out_tok, latency = np.full((n, m), np.nan), np.full((n, m), np.nan), np.full((n, m), np.nan)
    outputs = np.full((n, m), "", dtype=object)
    recorded = np.zeros((n, m), dtype=bool)
    rows, seen = [], set()
    for i, step in enumerate(steps):
        job_id = str(step.get("job_id") or f"job-{step.get('seq', i)}")
        if job_id in seen:
            job_id = f"{job_id}#{step.get('seq', i)}"
        seen.add(job_id)
        labels = step.get("labels") or []
        rows.append({"query_id": job_id, "task": str(step.get("task") or ""), "dataset": str(step.get("dataset") or ""),
                     "text": str(step.get("text") or ""), "reference": None,
                     "labels": "|".join(str(x) for x in labels)})
        model = step.get("model")
        if step.get("source") != "model" or model not in col:
            continue
        j = col[model]
        recorded[i, j] = True
        outputs[i, j] = str(step.get("answer") or "")
        cost = _number(step.get("cost_usd"))
        costs[i, j] = 0.0 if math.isnan(cost) else max(0.0, cost)
        latency[i, j] = _number(step.get("latency_s"))
        in_tok[i, j], out_tok[i, j] = _number(step.get("input_tokens")), _number(step.get("output_tokens"))
        score = graded.get(str(step.get("job_id")), step.get("score"))
        scores[i, j] = _number(score)
    catalog_rows = []
    for name in names:
        spec = known.get(name) if name in known else None
        catalog_rows.append(ModelRow(name, spec.provider if spec else "unknown",
                                     spec.input_usd_per_mtok if spec else None,
                                     spec.output_usd_per_mtok if spec else None, spec.params_b if spec else None))
    queries = pd.DataFrame(rows, columns=["query_id", "task", "dataset", "text", "reference", "labels"])
    return Trace(name=f"{folder.name} (workspace)", path=str(folder), models=catalog_rows, queries=queries,
                 scores=scores, costs=costs, input_tokens=in_tok, output_tokens=out_tok, latency_s=latency,
                 outputs=outputs, raw_outputs=outputs.copy(), recorded=recorded)


def missing_outcomes(trace: Trace) -> dict:
    """What a replay of a workspace cannot know: jobs with no recorded outcome at all, and per model the
    jobs whose outcome on it is missing."""
    if trace.recorded is None:
        return {"jobs": trace.n_queries, "jobs_without_outcome": 0, "missing_per_model": {}}
    rec = trace.recorded
    return {"jobs": trace.n_queries, "jobs_without_outcome": int((~rec.any(axis=1)).sum()),
            "missing_per_model": {name: int((~rec[:, j]).sum()) for j, name in enumerate(trace.model_names)}}
