"""The live backend of the pipeline: a model call through the resilient LangChain chat-model client.

Its worst case is a true bound on what the provider can bill: every byte of the prompt counted as a token
(a token is at least one byte) plus the client's max-tokens setting as output. When the budget cannot
cover that, the call is sent with a lower max-tokens that fits what it was given (and not at all below
`MIN_OUTPUT_TOKENS`), so a budget stays a ceiling even for a call that is cut.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from engine.catalog import Catalog
from engine.errors import ClientError
from engine.jobs import Job, estimate_input_tokens, is_valid_text
from engine.pipeline import Call
from engine.tasks import get_task

MIN_OUTPUT_TOKENS = 16       # below this a cut call could not say anything useful: it is not sent
PER_MESSAGE_TOKENS = 16      # role markers and separators of a chat message, generously
_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD: a model's answer is parsed and stored, and a JSON
    "\\ud800" escape in an API response decodes to one."""
    return text if is_valid_text(text) else _SURROGATE.sub("\ufffd", text)


class LiveBackend:
    """`Backend` over a `ResilientClient` (live providers, or a trace's replay chat models)."""

    verdict_scores = True    # without a reference the verifier grades a live answer
    partial = False          # a live job can always call a model

    def __init__(self, client: Callable[[], object], catalog: Catalog, max_tokens: int):
        self._client = client            # built on first use: importing providers takes seconds
        self.catalog = catalog
        self.max_tokens = max_tokens

    @property
    def client(self):
        return self._client()

    def candidates(self, job: Job) -> list[str]:
        try:
            return [m for m in self.client.model_names if m in self.catalog]
        except ClientError:
            return []

    def input_tokens(self, job: Job, model: str) -> float:
        return estimate_input_tokens(job.text)

    @staticmethod
    def _input_bound(messages) -> int:
        return sum(len(str(content).encode("utf-8", "replace")) + PER_MESSAGE_TOKENS for _, content in messages)

    def worst_case_usd(self, job: Job, model: str, output_tokens: float | None = None) -> float:
        """What the provider can bill at most for this call (0 for a model without prices), with the
        output capped at `output_tokens` (at least `MIN_OUTPUT_TOKENS`) when given."""
        spec = self.catalog.get(model)
        if not spec.has_prices:
            return 0.0
        cap = self.max_tokens
        if output_tokens is not None:
            cap = min(cap, max(MIN_OUTPUT_TOKENS, math.ceil(output_tokens)))
        return spec.cost(self._input_bound(get_task(job.task).prompt(job)), cap)

    def call(self, job: Job, model: str, *, limit_usd: float) -> Call:
        messages = get_task(job.task).prompt(job)
        spec = self.catalog.get(model)
        kwargs = {}
        if spec.has_prices and spec.output_usd_per_mtok > 0:
            room = limit_usd - spec.cost(self._input_bound(messages), 0)
            fits = math.floor(room * 1e6 / spec.output_usd_per_mtok + 1e-9) if room > 0 else 0
            if fits < self.max_tokens:
                if fits < MIN_OUTPUT_TOKENS:
                    return Call(model, truncated=True, input_tokens=estimate_input_tokens(job.text))
                kwargs["max_tokens"] = fits
        completion = self.client.call(model, messages, job_id=job.job_id, **kwargs)
        return Call(model, valid_text(completion.text), completion.cost_usd, completion.latency_s,
                    float(completion.input_tokens or estimate_input_tokens(job.text)),
                    completion.output_tokens, truncated=False)

    def reference_score(self, job: Job, answer: str) -> float:
        if job.reference is None:
            return math.nan
        score = get_task(job.task).score(job, answer)
        return math.nan if score is None else float(score)
