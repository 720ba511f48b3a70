"""`Outcome`: what happened to one job — the one record the pipeline returns, the event log stores, replays
aggregate into metrics and the dashboard reads.

`as_step()` is the event-log row (the step keys of the contract: job_id, seq, task, dataset, text, answer,
model, cost_usd, latency_s, verdict, cached, attempts (the models called), source, score, predicted_p,
engine_ms, …; `llm_calls` counts the calls),
`as_result()` the answer of `Engine.ask`/`run` and `sls ask --json`, `from_step()` reads a row back.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

SOURCES = ("cache", "model", "refused")


def _num(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


RULE = "rule"   # source and model of an answer the task's rule gave when the budget paid no model
MISSING = "missing"   # source of a replayed job whose outcome was never recorded (a workspace's own jobs)
NO_OUTCOME = ("no recorded outcome: the live run did not call a model for this job (cache, rule or refusal), "
              "so a replay cannot know what one would have answered")

@dataclass(frozen=True, slots=True)
class Outcome:
    """One job's outcome. `score` is NaN when the job was ungraded; `latency_s` is the API time (recorded,
    modelled where a trace has none, or measured live); `engine_us` is the scheduler's own time."""

    seq: int
    job_id: str
    task: str
    dataset: str
    source: str                 # "cache" | "model" | "refused" | "rule" | "missing"
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
    text: str = ""
    labels: tuple[str, ...] = ()
    answer: str = ""
    verdict_reason: str = ""
    failures: tuple[str, ...] = ()
    explored: bool = False
    lam: float | None = None    # λ (the paced cost weight) the decision used
    drift: tuple[str, ...] = ()  # models whose drift detector fired on this job's feedback
    decision: object | None = field(default=None, compare=False, repr=False)   # scheduling.decision.Decision

    @classmethod
    def refused(cls, seq: int, job, reason: str = "budget exhausted") -> Outcome:
        """A job left unanswered (it scores 0)."""
        return cls(seq, job.job_id, job.task, job.dataset, "refused", None, score=0.0, reason=reason,
                   text=job.text, labels=tuple(job.labels), verdict_reason=reason)

    @classmethod
    def missing(cls, seq: int, job, reason: str = NO_OUTCOME) -> Outcome:
        """A replayed job whose counterfactual outcome is unknown (ungraded: it counts neither way)."""
        return cls(seq, job.job_id, job.task, job.dataset, MISSING, None, reason=reason, text=job.text,
                   labels=tuple(job.labels), verdict_reason=reason)

    @property
    def cached(self) -> bool:
        return self.source == "cache"

    @property
    def verdict(self) -> str:
        if self.source == "refused":
            return "rejected"      # `source` says why
        return "ok" if self.verified else ("unknown" if self.verified is None else "rejected")

    def decision_row(self) -> dict | None:
        """The decision as the event log's `decisions` table keeps it (None for cache hits and refusals)."""
        d = self.decision
        if d is None:
            return None
        return {"seq": self.seq, "job_id": self.job_id, "chosen": d.chosen, "final": self.model,
                "reason": self.reason, "lambda": round(d.cost_weight, 5), "explored": d.explored,
                "drift": list(self.drift), "table": [r.as_dict() for r in d.table]}

    def as_step(self) -> dict:
        """The event-log row of this job."""
        return {"job_id": self.job_id, "seq": self.seq, "task": self.task, "dataset": self.dataset,
                "text": self.text, "labels": list(self.labels), "answer": self.answer, "model": self.model,
                "source": self.source, "cost_usd": self.cost_usd, "latency_s": self.latency_s,
                "verdict": self.verdict, "verdict_reason": self.verdict_reason, "verified": self.verified,
                "cached": self.cached, "attempts": list(self.models_tried), "llm_calls": self.attempts,
                "models_tried": list(self.models_tried),
                "failures": list(self.failures), "score": _num(self.score), "predicted_p": _num(self.predicted_p),
                "engine_ms": round(self.engine_us / 1000, 3), "engine_us": self.engine_us,
                "reason": self.reason, "false_hit": self.false_hit, "explore_gap": self.explore_gap,
                "explored": self.explored, "lambda": self.lam, "drift": list(self.drift),
                "decision": None if self.decision is None else {
                    "chosen": self.decision.chosen, "reason": self.decision.reason,
                    "explored": self.decision.explored, "table": [r.as_dict() for r in self.decision.table]}}

    def as_result(self) -> dict:
        """What `Engine.ask`/`run` return (the same dict the event log keeps for a live job)."""
        return self.as_step()

    @classmethod
    def from_step(cls, step: dict) -> Outcome:
        """An outcome read back from an event-log row (replay checkpoints and live steps alike)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in step.items() if k in names and k != "decision"}
        if isinstance(step.get("attempts"), list):      # the models tried (older replay rows: a count)
            values["attempts"] = step.get("llm_calls", len(step["attempts"]))
            values.setdefault("models_tried", step["attempts"])
        if "lambda" in step:
            values["lam"] = step["lambda"]
        for key in ("models_tried", "labels", "failures", "drift"):
            if key in values:
                values[key] = tuple(values[key] or ())
        for key in ("score", "predicted_p"):
            if values.get(key) is None:
                values[key] = math.nan
        if "engine_us" not in step and step.get("engine_ms") is not None:
            values["engine_us"] = float(step["engine_ms"]) * 1000
        values.setdefault("answer", "")
        values["answer"] = values["answer"] or ""
        return cls(**values)


# -- answered or failed: what a result means for a rerun and a summary ------------------------------
# What a job's result means for a rerun and a summary: answered, or failed (and why).
#
# A job is done when it has an answer — from a model that answered, or from the cache. A job the budget
# refused, or whose every model call failed (an API outage), is logged too (its step says what happened) but
# is *not* done: `sls run` runs it again on the rerun, and the summary counts it as an error with its reason.
# A result whose every attempt failed names no model: no model answered it.

def answered_model(model: str | None, attempts: Sequence, failures: Sequence) -> str | None:
    """The model that answered, or None when every attempt failed (`failures` has one entry per failed
    attempt)."""
    if attempts and len(failures) >= len(attempts):
        return None
    return model


def failure_reason(result: dict) -> str | None:
    """Why a job's result (as `Engine.process` returns it or the event log holds it) has no answer, or
    None when it has one."""
    if result.get("error"):
        return str(result["error"])
    if result.get("cached"):
        return None
    attempts, failures = result.get("attempts") or [], result.get("failures") or []
    if attempts and len(failures) >= len(attempts):
        return "every model failed: " + "; ".join(str(f) for f in failures)[:300]
    if result.get("model") is None:
        return str(result.get("verdict_reason") or "no model answered")
    return None


def is_answered(result: dict) -> bool:
    """True when the job has an answer (a rerun leaves it alone)."""
    return failure_reason(result) is None


def error_lines(results: Iterable[dict], limit: int = 5) -> tuple[int, list[str]]:
    """The number of results without an answer and a few lines saying why (grouped by reason)."""
    reasons = Counter()
    for r in results:
        reason = failure_reason(r)
        if reason is not None:
            key = reason if not reason.startswith("every model failed") else "every model failed"
            reasons[key] += 1
    lines = [f"  {n} × {reason}" for reason, n in reasons.most_common(limit)]
    if len(reasons) > limit:
        lines.append(f"  … and {len(reasons) - limit} other reasons")
    return sum(reasons.values()), lines
