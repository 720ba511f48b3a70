"""In-memory form of a trace: the models, the jobs in arrival order and one outcome per (job, model).

Outcomes are stored as dense matrices aligned with `queries` (rows) and `models` (columns), which is what
replays and baselines need to run at thousands of jobs per second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.jobs import Job

MODEL_COLUMNS = ("model", "provider", "input_usd_per_mtok", "output_usd_per_mtok", "params_b")
QUERY_COLUMNS = ("query_id", "task", "dataset", "text", "reference")
OUTCOME_COLUMNS = ("query_id", "model", "output", "raw_output", "score", "input_tokens", "output_tokens",
                   "cost_usd", "latency_s")


@dataclass(frozen=True, slots=True)
class ModelRow:
    """A row of models.csv. Prices and size may be unknown (None)."""

    model: str
    provider: str
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    params_b: float | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(eq=False)
class Trace:
    """A validated trace.

    Matrices have shape (n_queries, n_models); missing numbers are NaN (an ungraded score is NaN, not 0).
    `outputs` and `raw_outputs` are object arrays of the same shape.
    """

    name: str
    path: str
    models: list[ModelRow]
    queries: pd.DataFrame          # columns QUERY_COLUMNS (+ any extra), arrival order, reference "" -> None
    scores: np.ndarray             # float, NaN = ungraded
    costs: np.ndarray              # float USD
    input_tokens: np.ndarray       # float, NaN = unknown
    output_tokens: np.ndarray      # float, NaN = unknown
    latency_s: np.ndarray          # float, NaN = not recorded
    outputs: np.ndarray            # object (str)
    raw_outputs: np.ndarray        # object (str)
    # bool, True where an outcome exists; None = every outcome (a workspace's jobs: `engine.traces.workspace`)
    recorded: np.ndarray | None = None

    @property
    def model_names(self) -> list[str]:
        return [m.model for m in self.models]

    @property
    def n_queries(self) -> int:
        return len(self.queries)

    def model_index(self, name: str) -> int:
        return self.model_names.index(name)

    def job(self, i: int) -> Job:
        """The i-th job (arrival order) as a `Job`."""
        return self.jobs()[i]

    def output_tokens_or_estimate(self) -> np.ndarray:
        """Output tokens, with a missing count estimated from the raw completion (≈ 4 characters a token).
        Computed once per trace: every replay's latency model needs it."""
        cached = self.__dict__.get("_out_tokens")
        if cached is None:
            lengths = np.vectorize(lambda t: len(str(t)) / 4.0, otypes=[float])(self.raw_outputs)
            cached = np.where(np.isnan(self.output_tokens), lengths, self.output_tokens)
            self.__dict__["_out_tokens"] = cached
        return cached

    def memo(self, name: str) -> dict:
        """A dict that lives as long as this trace, for results that depend only on it (e.g. each outcome's
        parse and score): every replay of the trace in a process shares them."""
        return self.__dict__.setdefault("_memo", {}).setdefault(name, {})

    def jobs(self) -> list[Job]:
        """Every job in arrival order (built once, then shared: jobs are immutable)."""
        cached = self.__dict__.get("_jobs")
        if cached is None:
            q = self.queries
            labels = q["labels"].tolist() if "labels" in q.columns else [""] * len(q)
            cached = [
                Job(job_id=str(qid), task=str(task), text=str(text), dataset=str(ds),
                    reference=ref if isinstance(ref, str) and ref != "" else None,
                    labels=tuple(x for x in str(lab).split("|") if x) if isinstance(lab, str) and lab else ())
                for qid, task, ds, text, ref, lab in zip(q["query_id"].tolist(), q["task"].tolist(),
                                                         q["dataset"].tolist(), q["text"].tolist(),
                                                         q["reference"].tolist(), labels, strict=True)]
            self.__dict__["_jobs"] = cached
        return cached
