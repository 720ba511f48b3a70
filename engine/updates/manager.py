"""The dynamic update manager: the only writer of learned state. Applies one feedback event at a time.

Entry point: `UpdateManager.apply(feedback)` (plus `admit` for a new candidate model and `after_job` for the
pacer and counters). Learned state it owns: predictors, the pacer and counters, cache writes and
invalidations (user feedback included), thresholds, drift monitors, and the tasks' judges. Per event: learn the predictors from every attempt (quality label per feedback mode, tokens, cost,
latency), feed each model's residual to its drift detector and adapt on drift, confirm or refute a cache
hit, and insert a verified answer into the cache. Idempotent per event sequence number.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from engine.catalog import Catalog
from engine.config import FEEDBACK_MODES
from engine.jobs import Job, Verdict
from engine.tasks.templates import normalize_ws
from engine.updates.drift import DriftMonitor

log = logging.getLogger(__name__)


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
    source: str = "job"                # "job" (the pipeline) | "user" (feedback on an earlier job)
    withdraw: str | None = None        # an answer feedback proved wrong: take it out of the cache


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
                 drift: DriftMonitor | None = None, learn: bool = True, drift_forget: float = 0.2,
                 pacer=None):
        if mode not in FEEDBACK_MODES:
            raise ValueError(f"feedback mode must be one of {FEEDBACK_MODES}")
        self.predictors, self.cache, self.catalog, self.mode = predictors, cache, catalog, mode
        self.drift = drift or DriftMonitor()
        self.learn = learn
        self.drift_forget = drift_forget
        self.last_seq = -1
        self.observations: list[dict] = []
        self.judges: dict[str, object | None] = {}     # per task: its stateful verifier, None: stateless
        self.pacer = pacer                               # budget pacing (λ), moved after every job
        self.known: set[str] = set()                     # models the predictors have been told about
        self.thresholds: list[dict] = []                 # semantic-cache thresholds after each false hit
        self.jobs_done = 0
        self.jobs_called = 0                             # jobs the cache did not answer

    def admit(self, spec) -> None:
        """A candidate model: the predictors start it from what its features predict (once)."""
        if spec.name not in self.known:
            self.predictors.add_model(spec)
            self.known.add(spec.name)

    def after_job(self, ledger, called: bool = False) -> None:
        """Count the job and move λ against the budget line (before the ledger counts the job as seen)."""
        self.jobs_done += 1
        self.jobs_called += called
        if self.pacer is not None:
            self.pacer.update(ledger)

    def judge(self, task_name: str):
        """The task's stateful label-free verifier (`task.new_judge()`, created once per task), or None
        when the task verifies statelessly (`task.verify`)."""
        judges = self.__dict__.setdefault("judges", {})    # snapshots from before judges existed
        if task_name not in judges:
            from engine.tasks import get_task
            factory = getattr(get_task(task_name), "new_judge", None)
            judges[task_name] = factory() if callable(factory) else None
        return judges[task_name]

    def _teach_judge(self, fb: Feedback) -> None:
        """Tell the task's judge which outputs were right, when something other than the judge itself
        said so: a reference score, feedback on a cache hit graded by the reference, a user."""
        judge = self.judge(fb.job.task)
        if judge is None:
            return
        external = self.mode == "reference" or fb.source == "user"
        if not external:
            return
        for attempt in fb.attempts:
            if not math.isnan(attempt.score) and attempt.output:
                judge.learn(fb.job, attempt.output, attempt.score >= 1.0)
        if fb.hit is not None and fb.hit_correct is not None:
            judge.learn(fb.job, fb.hit.answer, bool(fb.hit_correct))

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
        if self.learn:
            self._teach_judge(fb)
        if self.cache is None:
            return events
        if fb.hit is not None and fb.hit_correct is not None:
            self.cache.feedback(fb.hit, fb.hit_correct, fb.seq)
            if fb.hit_correct is False:
                self.thresholds.append({"seq": fb.seq, "task": fb.job.task,
                                        "threshold": self.cache.threshold(fb.job.task)})
        if fb.withdraw is not None:
            hit = self.cache.lookup(fb.job, fb.key)
            if hit is not None and normalize_ws(hit.answer) == normalize_ws(fb.withdraw):
                self.cache.invalidate(hit.entry_id)
            return events
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
