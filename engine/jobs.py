"""Value objects that travel through the engine: a job and the verdict of a verifier."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of LLM work.

    `reference` is the ground truth where known (a log template, a label, a letter); it is used only to
    score feedback, never to decide. `labels` are the allowed answers of a classification job.
    """

    job_id: str
    task: str
    text: str
    dataset: str = "default"
    reference: str | None = None
    labels: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A label-free check of an output: `ok` is None when the task cannot judge (nothing to check)."""

    ok: bool | None
    reason: str = ""


def is_valid_text(text: str) -> bool:
    """True for text that can be stored, embedded and sent (no lone surrogates, e.g. from a JSON "\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def estimate_input_tokens(text: str) -> float:
    """The one input-token estimate (where a call's usage is not known yet): the text plus a prompt's
    worth of instructions."""
    return len(text) / 4.0 + 50.0
