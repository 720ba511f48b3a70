"""What a replay records for every job, and the run's result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

SOURCES = ("cache", "model", "refused")


@dataclass(slots=True)
class StepRecord:
    """One job's outcome in a run. `score` is NaN when the job was ungraded; `latency_s` is the API time
    (modelled where the trace records none); `engine_us` is measured scheduler overhead."""

    seq: int
    job_id: str
    task: str
    dataset: str
    source: str                 # "cache" | "model" | "refused"
    model: str | None           # the model whose answer was used (the producing model for a cache hit)
    attempts: int = 0           # LLM calls made for this job
    score: float = math.nan
    cost_usd: float = 0.0
    latency_s: float = 0.0
    engine_us: float = 0.0
    predicted_p: float = math.nan
    verified: bool | None = None
    reason: str = ""
    models_tried: tuple[str, ...] = ()
    false_hit: bool = False
    explore_gap: float = 0.0    # expected utility the decision gave up to explore (0 when it exploited)

    @classmethod
    def refused(cls, seq: int, job, reason: str = "budget exhausted") -> StepRecord:
        """A job left unanswered (it scores 0)."""
        return cls(seq, job.job_id, job.task, job.dataset, "refused", None, score=0.0, reason=reason)


@dataclass
class RunResult:
    """Metrics plus the per-job records of one replay."""

    policy: str
    metrics: dict
    records: list[StepRecord] = field(repr=False, default_factory=list)
    extras: dict = field(repr=False, default_factory=dict)   # decisions, drift events, thresholds …

    def frame(self) -> pd.DataFrame:
        """Per-job records as a tidy DataFrame (one row per job)."""
        if not self.records:
            return pd.DataFrame(columns=list(StepRecord.__slots__))
        df = pd.DataFrame([{k: getattr(r, k) for k in StepRecord.__slots__} for r in self.records])
        df["models_tried"] = df["models_tried"].map(lambda t: ",".join(t))
        return df
