"""What a replay records for every job, and the run's result."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import pandas as pd

from engine.outcome import SOURCES, Outcome  # noqa: F401 - re-exported

StepRecord = Outcome   # the replay's name for it
FRAME_COLUMNS = [f.name for f in fields(Outcome)][:17]   # seq … explore_gap: the per-job table


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
            return pd.DataFrame(columns=FRAME_COLUMNS)
        df = pd.DataFrame([{k: getattr(r, k) for k in FRAME_COLUMNS} for r in self.records])
        df["models_tried"] = df["models_tried"].map(lambda t: ",".join(t))
        return df
