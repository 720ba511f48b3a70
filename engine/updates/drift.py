"""Drift detection on each model's prediction-error stream (River ADWIN).

For every graded call of a model we feed `observed − predicted` (the residual of the quality predictor) to
that model's detector. While the predictor is right the residuals hover around 0; when the model's
behaviour changes, their mean shifts and ADWIN fires. A minimum number of observations and a cool-down
after each event keep one change from being reported many times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from river import drift


@dataclass(frozen=True, slots=True)
class DriftEvent:
    seq: int
    model: str
    mean_before: float
    mean_after: float
    detail: str

    def as_dict(self) -> dict:
        return {"seq": self.seq, "model": self.model, "mean_before": round(self.mean_before, 4),
                "mean_after": round(self.mean_after, 4), "detail": self.detail}


@dataclass
class DriftMonitor:
    """One ADWIN per model over residuals; `update` returns a DriftEvent when one fires."""

    delta: float = 0.002
    min_observations: int = 30
    cooldown: int = 50
    _detectors: dict = field(default_factory=dict)
    _counts: dict = field(default_factory=dict)
    _last_event: dict = field(default_factory=dict)
    _recent: dict = field(default_factory=dict)
    events: list = field(default_factory=list)

    def update(self, model: str, seq: int, predicted: float, observed: float) -> DriftEvent | None:
        detector = self._detectors.get(model)
        if detector is None:
            detector = self._detectors[model] = drift.ADWIN(delta=self.delta)
        n = self._counts[model] = self._counts.get(model, 0) + 1
        recent = self._recent.setdefault(model, [])
        recent.append(observed)
        if len(recent) > 200:
            del recent[:100]
        detector.update(observed - predicted)
        if not detector.drift_detected or n < self.min_observations:
            return None
        if n - self._last_event.get(model, -10**9) < self.cooldown:
            return None
        self._last_event[model] = n
        half = max(1, min(len(recent) // 2, int(detector.width) or 1))
        before = sum(recent[:-half]) / max(1, len(recent[:-half])) if len(recent) > half else float("nan")
        after = sum(recent[-half:]) / half
        event = DriftEvent(seq, model, before, after,
                           f"{model}: success rate moved from {before:.2f} to {after:.2f} (ADWIN on residuals)")
        self.events.append(event)
        return event
