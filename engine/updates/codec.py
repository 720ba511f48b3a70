"""A feedback event as JSON: what the update manager needs to learn it again — in another scheduler of a
fleet (`engine.fleet.sync`) or in this one after a restart (the event log keeps each job's event, see
`engine.service`). JSON, never pickle: learned state is rebuilt from data, not code."""

from __future__ import annotations

import math

from engine.jobs import Job, Verdict
from engine.updates.manager import Attempt, Feedback

EVENT_VERSION = 1


def _float(x, default: float) -> float:
    return default if x is None else float(x)


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def feedback_event(fb: Feedback, origin: str, drift: list | None = None) -> dict:
    """A feedback event as a JSON-able dict: what another scheduler needs to learn from it."""
    hit = fb.hit
    return {
        "v": EVENT_VERSION, "origin": origin, "seq": fb.seq,
        "job": {"job_id": fb.job.job_id, "task": fb.job.task, "text": fb.job.text, "dataset": fb.job.dataset,
                "reference": fb.job.reference, "labels": list(fb.job.labels)},
        "key": fb.key,
        "attempts": [{"model": a.model, "output": a.output, "ok": a.verdict.ok, "reason": a.verdict.reason,
                      "score": _num(a.score), "predicted_p": a.predicted_p, "cost_usd": a.cost_usd,
                      "latency_s": a.latency_s, "input_tokens": a.input_tokens, "output_tokens": a.output_tokens}
                     for a in fb.attempts],
        "hit": None if hit is None else {
            "entry_id": hit.entry_id, "answer": hit.answer, "similarity": hit.similarity,
            "kind": hit.kind, "model": hit.model, "task": hit.task,
            "dataset": hit.dataset, "threshold": hit.threshold},
        "hit_correct": fb.hit_correct,
        "source": fb.source,
        "withdraw": fb.withdraw,
        "drift": [e.as_dict() for e in drift or ()],
    }


def event_feedback(event: dict, seq: int) -> Feedback:
    """The `Feedback` of a foreign event, under this scheduler's own `seq` (its update manager is
    idempotent per local seq; foreign seqs are another process's numbering)."""
    j = event["job"]
    job = Job(j["job_id"], j["task"], j["text"], j.get("dataset", "default"), j.get("reference"),
              tuple(j.get("labels") or ()))
    attempts = tuple(Attempt(a["model"], a.get("output") or "", Verdict(a.get("ok"), a.get("reason") or ""),
                             math.nan if a.get("score") is None else float(a["score"]),
                             _float(a.get("predicted_p"), 0.5), float(a.get("cost_usd") or 0.0),
                             float(a.get("latency_s") or 0.0), float(a.get("input_tokens") or 0.0),
                             None if a.get("output_tokens") is None else float(a["output_tokens"]))
                     for a in event.get("attempts") or ())
    hit = None
    if event.get("hit"):
        from engine.cache.entry import CacheHit
        h = event["hit"]
        hit = CacheHit(h["entry_id"], h["answer"], float(h["similarity"]), str(h["kind"]), h["model"], h["task"],
                       h["dataset"], threshold=h.get("threshold"))
    return Feedback(seq, job, event.get("key") or "", attempts, hit, event.get("hit_correct"),
                    source=event.get("source") or "job", withdraw=event.get("withdraw"))


