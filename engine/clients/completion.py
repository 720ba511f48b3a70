"""Value objects of a model call and the one rule that turns a chat model's answer into them.

`Completion` is what every successful call returns (replay, live or fake); `Failure` describes a model
that could not answer (the engine records it as negative feedback). `completion_from_message` is the
single place where an `AIMessage` is checked for shape and priced, so replay and live calls are costed
the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.catalog import ModelSpec

# Cost sources, in order of preference.
COST_FROM_USAGE = "usage"        # reported tokens x catalog prices
COST_REPORTED = "reported"       # the cost the model reported (a replay's recorded cost)
COST_UNKNOWN = "unknown"         # neither known: cost_usd is 0.0 and says nothing


class MalformedResponseError(ValueError):
    """A model answered, but not with something we can use (no text, wrong shape, no usage)."""


@dataclass(frozen=True, slots=True)
class Completion:
    """A successful model call.

    Tokens are None where unknown (a trace without token counts). `latency_s` is the API time of the
    successful attempt (recorded for replays, else modelled from the catalog and `latency_modelled` is
    True; measured wall time for live calls). `attempts` counts tries on this model; `error` is the last
    transient error that a retry overcame (already scrubbed of secrets), None for a clean first try.
    """

    text: str
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float
    latency_s: float
    latency_modelled: bool
    model: str
    attempts: int = 1
    error: str | None = None
    cost_source: str = COST_FROM_USAGE


@dataclass(frozen=True, slots=True)
class Failure:
    """A model that could not answer a call: after its last retry, rejected by an open circuit breaker,
    or refused as a non-retryable error.

    kind: rate_limited | overloaded | server_error | timeout | connection | malformed | auth | not_found |
    bad_request | circuit_open | other. `message` never contains a secret.
    """

    model: str
    kind: str
    message: str
    attempts: int
    status_code: int | None = None
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class FallbackResult:
    """The answer of `call_with_fallback` and the models that failed before it (in the order tried)."""

    completion: Completion
    failures: tuple[Failure, ...] = ()

    @property
    def model(self) -> str:
        return self.completion.model

    @property
    def fell_back(self) -> bool:
        return bool(self.failures)


def price_call(spec: ModelSpec | None, input_tokens: int | None, output_tokens: int | None,
               reported_cost: float | None) -> tuple[float, str]:
    """(cost_usd, cost_source) of one call: usage x catalog prices when both are known, else the cost the
    model reported (a replay's recorded cost), else 0.0 flagged `unknown`."""
    if spec is not None and spec.has_prices and input_tokens is not None and output_tokens is not None:
        return spec.cost(input_tokens, output_tokens), COST_FROM_USAGE
    if reported_cost is not None and math.isfinite(reported_cost):
        return float(reported_cost), COST_REPORTED
    return 0.0, COST_UNKNOWN


def estimate_tokens(text: str) -> int:
    """A rough token count (characters / 4, at least 1), used only to model latency where none is known."""
    return max(1, (len(text) + 3) // 4)


def message_text(message: Any) -> str:
    """The text of a chat model's answer; raises `MalformedResponseError` when there is none.

    Accepts string content (which may be empty) and lists of content blocks, joining the text blocks.
    A list without any text block, or content of another type, is malformed.
    """
    content = getattr(message, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b if isinstance(b, str) else b.get("text") for b in content
                 if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text")]
        if parts and all(isinstance(p, str) for p in parts):
            return "".join(parts)
        kinds = sorted({b.get("type", "?") if isinstance(b, dict) else type(b).__name__ for b in content})
        raise MalformedResponseError(f"answer has no text content (blocks: {kinds or 'none'})")
    raise MalformedResponseError(f"answer content is {type(content).__name__}, expected text")


def completion_from_message(message: Any, spec: ModelSpec | None, model: str, *, measured_latency_s: float,
                            attempts: int = 1, error: str | None = None,
                            require_usage: bool = True) -> Completion:
    """Check a chat model's answer and turn it into a `Completion`.

    Usage comes from `usage_metadata` (`response_metadata["usage_known"] = False` marks recorded zeros
    as unknown); a provider's raw `response_metadata["usage"]`, when present, must hold integer counts. Latency is `response_metadata["latency_s"]` when the model reports one (replays), else
    the measured wall time. Raises `MalformedResponseError` for a missing/ill-typed answer or usage.
    """
    if message is None or not hasattr(message, "content"):
        raise MalformedResponseError(f"expected a chat message, got {type(message).__name__}")
    text = message_text(message)
    meta = getattr(message, "response_metadata", None) or {}
    usage = getattr(message, "usage_metadata", None)
    input_tokens = output_tokens = None
    if usage is not None and meta.get("usage_known", True):
        try:
            input_tokens, output_tokens = int(usage["input_tokens"]), int(usage["output_tokens"])
        except (KeyError, TypeError, ValueError):
            raise MalformedResponseError("answer usage lacks integer input_tokens/output_tokens") from None
        if input_tokens < 0 or output_tokens < 0:
            raise MalformedResponseError("answer usage has negative token counts")
    elif usage is None and require_usage:
        raise MalformedResponseError("answer reports no token usage")
    if require_usage and "usage" in meta and not _has_token_counts(meta["usage"]):
        # langchain-anthropic fills usage_metadata with zeros when the API body has no usage; the raw
        # provider usage it keeps in response_metadata tells the two apart.
        raise MalformedResponseError("provider response carries no token usage")

    cost, source = price_call(spec, input_tokens, output_tokens, _opt_float(meta.get("cost_usd")))
    latency = _opt_float(meta.get("latency_s"))
    if latency is not None:
        modelled = bool(meta.get("latency_modelled", False))
    else:
        latency, modelled = measured_latency_s, False
    return Completion(text=text, input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost,
                      latency_s=latency, latency_modelled=modelled, model=model, attempts=attempts,
                      error=error, cost_source=source)


def _has_token_counts(raw_usage: Any) -> bool:
    return (isinstance(raw_usage, dict) and isinstance(raw_usage.get("input_tokens"), int)
            and isinstance(raw_usage.get("output_tokens"), int))


def _opt_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
