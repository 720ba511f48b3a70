"""The protocol every task plug-in implements.

A task knows how to ask a model for a job (`prompt`), how to read the answer out of a raw completion
(`parse`), how to check an answer without labels (`verify`), how to grade it against the reference
(`score`) and which text a cache should match a job on (`cache_key`). Tasks are stateless apart from
their construction options, so one instance serves every job of its kind.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from engine.jobs import Job, Verdict


@runtime_checkable
class Task(Protocol):
    """One kind of LLM job (see the module docstring)."""

    name: str

    def prompt(self, job: Job) -> list[tuple[str, str]]:
        """Chat messages `(role, content)` (a system and a user message) for a LangChain chat model."""
        ...

    def parse(self, raw: str, job: Job) -> str:
        """The answer extracted from a raw completion (may be "" when there is none)."""
        ...

    def verify(self, job: Job, output: str) -> Verdict:
        """A label-free check of a parsed answer; never looks at `job.reference`."""
        ...

    def score(self, job: Job, output: str) -> float | None:
        """Quality in [0, 1] against `job.reference`; None when there is no usable reference."""
        ...

    def cache_key(self, job: Job) -> str:
        """The normalised text a cache should match this job on."""
        ...

    # Optional: `rule_answer(job) -> str | None` — an answer that costs nothing (a rule, not a model), given
    # when the budget pays no model for a job instead of leaving it unanswered. Tasks without one omit it.
