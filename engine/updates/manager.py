"""The update manager: the only writer of learned state. Applies one feedback event at a time.

Per event: learn the predictors from every attempt (quality label per feedback mode, tokens, cost,
latency), feed each model's residual to its drift detector and adapt on drift, confirm or refute a cache
hit, and insert a verified answer into the cache. Idempotent per event sequence number.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from engine.catalog import Catalog
from engine.jobs import Job, Verdict
from engine.updates.drift import DriftMonitor

log = logging.getLogger(__name__)
FEEDBACK_MODES = ("reference", "verifier", "none")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One model call made for a job."""

    model: str
    output: str
    verdict: Verdict
    score: float            # against the reference, NaN when unknown (only used in reference mode)
    predicted_p: float
    cost_usd: float
    latency_s: float
    input_tokens: float
    output_tokens: float | None


@dataclass(frozen=True, slots=True)
class Feedback:
    """Everything learned from one job: its attempts, the cache hit (if any) and its verdict."""

    seq: int
    job: Job
    key: str
    attempts: tuple[Attempt, ...] = ()
    hit: object | None = None          # engine.cache CacheHit
    hit_correct: bool | None = None


def quality_label(attempt: Attempt, mode: str) -> float | None:
    """What the predictors learn about an attempt's quality under a feedback mode (None: nothing)."""
    if mode == "reference":
        return None if math.isnan(attempt.score) else attempt.score
    if mode == "verifier":
        return None if attempt.verdict.ok is None else float(attempt.verdict.ok)
    return None


OBSERVATIONS_KEPT = 10_000   # (predicted, observed) pairs kept for calibration charts: the latest 10k-20k


class UpdateManager:
    """Applies feedback events to predictors, cache and drift monitors."""

    def __init__(self, predictors, cache, catalog: Catalog, *, mode: str = "reference",
                 drift: DriftMonitor | None = None, learn: bool = True, drift_forget: float = 0.2):
        if mode not in FEEDBACK_MODES:
            raise ValueError(f"feedback mode must be one of {FEEDBACK_MODES}")
        self.predictors, self.cache, self.catalog, self.mode = predictors, cache, catalog, mode
        self.drift = drift or DriftMonitor()
        self.learn = learn
        self.drift_forget = drift_forget
        self.last_seq = -1
        self.observations: list[dict] = []

    def apply(self, fb: Feedback) -> list:
        """Apply one event; returns the drift events it raised. Re-applying an old seq does nothing."""
        if fb.seq <= self.last_seq:
            return []
        self.last_seq = fb.seq
        events = []
        for attempt in fb.attempts:
            label = quality_label(attempt, self.mode)
            spec = self.catalog.get(attempt.model)
            if self.learn:
                self.predictors.learn(fb.job, spec, score=label, input_tokens=attempt.input_tokens,
                                      output_tokens=attempt.output_tokens, cost_usd=attempt.cost_usd,
                                      latency_s=attempt.latency_s)
            if label is not None:
                self.observations.append({"seq": fb.seq, "model": attempt.model,
                                          "predicted": round(attempt.predicted_p, 4), "observed": label})
                if len(self.observations) > 2 * OBSERVATIONS_KEPT:   # bounded: it is in every snapshot
                    del self.observations[:-OBSERVATIONS_KEPT]
                event = self.drift.update(attempt.model, fb.seq, attempt.predicted_p, label, fb.job.task)
                if event is not None:
                    log.info("drift: %s", event.detail)
                    if self.learn:
                        self.predictors.forget(attempt.model, self.drift_forget)
                    events.append(event)
        if self.cache is None:
            return events
        if fb.hit is not None and fb.hit_correct is not None:
            self.cache.feedback(fb.hit, fb.hit_correct, fb.seq)
        good = self._verified_answer(fb)
        if good is not None:
            self.cache.store(fb.job, fb.key, good.output, good.model, 1.0, fb.seq)
        return events

    def _verified_answer(self, fb: Feedback) -> Attempt | None:
        """The attempt whose answer feedback confirmed (reference) or the verifier accepted (otherwise)."""
        for attempt in reversed(fb.attempts):
            if self.mode == "reference":
                if not math.isnan(attempt.score) and attempt.score >= 1.0:
                    return attempt
            elif attempt.verdict.ok:
                return attempt
        return None
