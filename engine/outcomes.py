"""What a job's result means for a rerun and a summary: answered, or failed (and why).

A job is done when it has an answer — from a model that answered, or from the cache. A job the budget
refused, or whose every model call failed (an API outage), is logged too (its step says what happened) but
is *not* done: `sls run` runs it again on the rerun, and the summary counts it as an error with its reason.
A result whose every attempt failed names no model: no model answered it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence


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
