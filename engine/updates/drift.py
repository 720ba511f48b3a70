"""Drift detection on each model's prediction-error stream (River ADWIN).

For every graded call of a model we feed its observed score to the detector of (model, task). The
residual `observed − predicted` would be the textbook stream, but the online predictor adapts within a
few events and so hides the very change we want to report; the raw success stream keeps it. A minimum
number of observations and a cool-down after each event keep one change from being reported many times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from river import drift


@dataclass(frozen=True, slots=True)
class DriftEvent:
    seq: int
    model: str
    task: str
    mean_before: float
    mean_after: float
    detail: str

    def as_dict(self) -> dict:
        return {"seq": self.seq, "model": self.model, "task": self.task, "mean_before": round(self.mean_before, 4),
                "mean_after": round(self.mean_after, 4), "detail": self.detail}


@dataclass
class DriftMonitor:
    """One ADWIN per model over residuals; `update` returns a DriftEvent when one fires."""

    delta: float = 0.01
    min_observations: int = 30
    cooldown: int = 50
    _detectors: dict = field(default_factory=dict)
    _counts: dict = field(default_factory=dict)
    _last_event: dict = field(default_factory=dict)
    _recent: dict = field(default_factory=dict)
    events: list = field(default_factory=list)

    def update(self, model: str, seq: int, predicted: float, observed: float, task: str = "") -> DriftEvent | None:
        key = (model, task)
        detector = self._detectors.get(key)
        if detector is None:
            detector = self._detectors[key] = drift.ADWIN(delta=self.delta, clock=8)
        n = self._counts[key] = self._counts.get(key, 0) + 1
        recent = self._recent.setdefault(key, [])
        recent.append(observed)
        if len(recent) > 200:
            del recent[:100]
        detector.update(observed)
        if not detector.drift_detected or n < self.min_observations:
            return None
        if n - self._last_event.get(key, -10**9) < self.cooldown:
            return None
        self._last_event[key] = n
        half = max(1, min(len(recent) // 2, int(detector.width) or 1))
        before = sum(recent[:-half]) / max(1, len(recent[:-half])) if len(recent) > half else float("nan")
        after = sum(recent[-half:]) / half
        event = DriftEvent(seq, model, task, before, after,
                           f"{model} on {task or 'all tasks'}: success rate moved from {before:.2f} to {after:.2f} (ADWIN)")
        self.events.append(event)
        return event
