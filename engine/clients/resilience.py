"""Calling chat models without trusting them: retries, backoff, retry-after, circuit breakers, fallback.

`ResilientClient` holds one chat model per catalog name (replay, Anthropic, fake: any LangChain chat
model) and calls them:

* retries 429, 408/409, 5xx and 529, timeouts, connection errors and malformed answers, with
  exponential backoff and seeded jitter, honouring `retry-after` / `retry-after-ms` (seconds or an HTTP
  date, capped);
* keeps a circuit breaker per model (`engine.clients.breaker`): while it is open the model is skipped
  without a request;
* `call_with_fallback` tries models in preference order and reports every model that failed, so the
  engine can record negative feedback for it;
* turns every answer into a `Completion` priced from reported usage x catalog prices
  (`engine.clients.completion`).

Secrets (API keys found on the models, passed in, or in `ANTHROPIC_API_KEY`) are scrubbed from every
message this module logs or raises, and raised errors carry no chained provider exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import SecretStr

from engine import secrets as engine_secrets
from engine.catalog import Catalog, ModelSpec
from engine.clients.breaker import BreakerState, CircuitBreaker
from engine.clients.completion import (
    Completion,
    Failure,
    FallbackResult,
    MalformedResponseError,
    completion_from_message,
)
from engine.clients.settings import BreakerPolicy, RetryPolicy
from engine.errors import ClientError, EngineError, UnknownNameError

logger = logging.getLogger(__name__)

REDACTED = "[REDACTED]"
MAX_MESSAGE_CHARS = 400
_MIN_SECRET_CHARS = 6   # shorter "secrets" would scrub ordinary words out of messages


class ModelCallError(ClientError):
    """Every model asked for a call failed; `failures` lists each one (model, kind, scrubbed message)."""

    def __init__(self, message: str, failures: Sequence[Failure]):
        super().__init__(message)
        self.failures: tuple[Failure, ...] = tuple(failures)

    @property
    def kind(self) -> str:
        """The kind of the last failure (e.g. `server_error`, `circuit_open`)."""
        return self.failures[-1].kind if self.failures else "other"


class Scrubber:
    """Replaces secret values in text. Its repr never shows them."""

    def __init__(self, secrets: Iterable[str | SecretStr | None] = ()):
        values = {s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets}
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted((v for v in values if v and len(v) >= _MIN_SECRET_CHARS), key=len, reverse=True)

    def __repr__(self) -> str:
        return f"Scrubber({len(self._secrets)} secrets)"

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def secrets_of(model: Any) -> list[SecretStr]:
    """The `SecretStr` fields of a pydantic chat model (e.g. `ChatAnthropic.anthropic_api_key`)."""
    fields = getattr(type(model), "model_fields", {})
    return [value for name in fields if isinstance(value := getattr(model, name, None), SecretStr)]


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait according to `retry-after-ms` or `retry-after` (seconds or an HTTP date).

    Header names are matched case-insensitively. Returns None when absent or unparseable, never a
    negative number.
    """
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True, slots=True)
class Classified:
    """What a failed attempt means: its kind, whether to retry it, whether it counts against the breaker."""

    kind: str
    retryable: bool
    counts_for_breaker: bool
    message: str
    status_code: int | None = None
    retry_after: float | None = None


_STATUS_KINDS: dict[int, tuple[str, bool, bool]] = {
    # status: (kind, retryable, counts against the breaker)
    401: ("auth", False, True),
    403: ("auth", False, True),
    404: ("not_found", False, True),
    408: ("timeout", True, True),
    409: ("server_error", True, True),
    429: ("rate_limited", True, True),
    529: ("overloaded", True, True),
}


def classify(exc: BaseException, *, retry_malformed: bool = True, scrub: Callable[[str], str] = str,
             now: float | None = None) -> Classified:
    """Classify an exception raised by a chat model call (works for anthropic / langchain-anthropic errors,
    the fakes and builtin exceptions without importing any provider SDK)."""
    message = _describe(exc, scrub)
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) and not isinstance(status, bool) else None
    retry_after = parse_retry_after(_headers_of(exc), now=now)
    names = {cls.__name__ for cls in type(exc).__mro__}

    if isinstance(exc, MalformedResponseError) or (status is not None and 200 <= status < 300):
        # A 2xx that failed to parse (e.g. anthropic.APIResponseValidationError) is a malformed answer.
        return Classified("malformed", retry_malformed, True, message, status)
    if status is not None:
        if status in _STATUS_KINDS:
            kind, retryable, counts = _STATUS_KINDS[status]
            return Classified(kind, retryable, counts, message, status, retry_after)
        if status >= 500:
            return Classified("server_error", True, True, message, status, retry_after)
        # Other 4xx: this request is wrong, the service is fine (so it does not trip the breaker).
        return Classified("bad_request", False, False, message, status)
    if isinstance(exc, TimeoutError) or any("Timeout" in n for n in names):
        return Classified("timeout", True, True, message)
    if isinstance(exc, ConnectionError) or any("Connection" in n for n in names):
        return Classified("connection", True, True, message)
    if isinstance(exc, ValueError | KeyError | TypeError | AttributeError | IndexError):
        # Raised while decoding the provider's answer: non-JSON body, missing fields, wrong types.
        return Classified("malformed", retry_malformed, True, message)
    return Classified("other", bool(getattr(exc, "is_retryable", False)), True, message)


def _headers_of(exc: BaseException) -> Mapping[str, str] | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        headers = getattr(exc, "headers", None)
    return headers if isinstance(headers, Mapping) or hasattr(headers, "items") else None


def _describe(exc: BaseException, scrub: Callable[[str], str]) -> str:
    text = scrub(f"{type(exc).__name__}: {exc}")
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


class ResilientClient:
    """Calls named chat models with retries, per-model circuit breakers and fallback.

    models: catalog name -> LangChain chat model (anything with `invoke`/`ainvoke` returning an
    `AIMessage`). `catalog` prices the answers (a model missing from it is priced by its own `spec`
    attribute, else by the cost it reports). `clock` drives the breakers and `sleep`/`asleep` the
    backoff, so tests can inject both. Thread-safe: one instance can serve a thread pool.
    """

    def __init__(self, models: Mapping[str, Any], catalog: Catalog | None = None, *,
                 retry: RetryPolicy | None = None, breaker: BreakerPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 secrets: Iterable[str | SecretStr] = (), require_usage: bool = True,
                 fast_replay: bool = True):
        if not models:
            raise ClientError("ResilientClient needs at least one model")
        self.retry = retry or RetryPolicy()
        self.breaker_policy = breaker or BreakerPolicy()
        self.require_usage = require_usage
        self.fast_replay = fast_replay
        self._models = dict(models)
        self._specs = {name: _spec_for(name, model, catalog) for name, model in self._models.items()}
        self._breakers = {name: CircuitBreaker(self.breaker_policy.failure_threshold,
                                               self.breaker_policy.cooldown_s, clock=clock, name=name)
                          for name in self._models}
        found = [s for model in self._models.values() for s in secrets_of(model)]
        self._scrub = Scrubber([*secrets, *found, os.environ.get("ANTHROPIC_API_KEY")])
        # Process-wide from here on: answers, cache entries, traces and log records are scrubbed of these.
        engine_secrets.register(*secrets, *found)
        engine_secrets.install_log_scrubbing()
        self._sleep, self._asleep = sleep, asleep
        self._rng = random.Random(self.retry.seed)
        self._rng_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ResilientClient(models={list(self._models)}, retry={self.retry}, breaker={self.breaker_policy})"

    @property
    def model_names(self) -> list[str]:
        return list(self._models)

    def model(self, name: str) -> Any:
        """The chat model registered under `name`."""
        return self._entry(name)[0]

    def breaker(self, name: str) -> CircuitBreaker:
        """The circuit breaker of model `name`."""
        return self._entry(name)[2]

    def breaker_states(self) -> dict[str, BreakerState]:
        """Current breaker state of every model (for the dashboard and `sls models`)."""
        return {name: b.state for name, b in self._breakers.items()}

    def scrub(self, text: str) -> str:
        """`text` with every known secret replaced by `[REDACTED]`."""
        return self._scrub(text)

    # ----------------------------------------------------------------- sync

    def call(self, model: str, messages: Any, *, job_id: str | None = None,
             config: Mapping[str, Any] | None = None, **invoke_kwargs: Any) -> Completion:
        """Call one model with retries; return its `Completion` or raise `ModelCallError`.

        `job_id` travels in the run metadata (replay models read it; live providers never see it).
        Extra keyword arguments go to the model's `invoke` (e.g. `stop`, `max_tokens`).
        """
        outcome = self._try(model, messages, job_id, config, invoke_kwargs)
        if isinstance(outcome, Failure):
            raise _error([outcome])
        return outcome

    def call_with_fallback(self, models: Sequence[str], messages: Any, *, job_id: str | None = None,
                           config: Mapping[str, Any] | None = None, **invoke_kwargs: Any) -> FallbackResult:
        """Try `models` in preference order; the first answer wins.

        Returns the answer with the failures of the models tried before it; raises `ModelCallError`
        (with every failure) when none answers.
        """
        failures = []
        for name in _non_empty(models):
            outcome = self._try(name, messages, job_id, config, invoke_kwargs)
            if isinstance(outcome, Completion):
                return FallbackResult(outcome, tuple(failures))
            failures.append(outcome)
            _log_fallback(outcome, models)
        raise _error(failures)

    def _try(self, name: str, messages: Any, job_id: str | None, config: Mapping[str, Any] | None,
             kwargs: dict[str, Any]) -> Completion | Failure:
        attempts = _Attempts(self, name)
        if (fast := attempts.fast_path(job_id)) is not None:
            return fast
        run_config = _run_config(config, job_id, name)
        while True:
            if (stop := attempts.admit()) is not None:
                return stop
            started = time.perf_counter()
            try:
                message = attempts.model.invoke(messages, config=run_config, **kwargs)
                return attempts.succeed(message, time.perf_counter() - started)
            except EngineError:
                raise
            except Exception as exc:  # every provider failure is classified; none escapes raw
                step = attempts.fail(exc)
            if isinstance(step, Failure):
                return step
            self._sleep(step)

    # ---------------------------------------------------------------- async

    async def acall(self, model: str, messages: Any, *, job_id: str | None = None,
                    config: Mapping[str, Any] | None = None, **invoke_kwargs: Any) -> Completion:
        """Async `call` (uses the model's `ainvoke`; backoff with the injected `asleep`).

        Run every async call of a process in one long-lived event loop (e.g. `asyncio.gather` under a
        semaphore inside a single `asyncio.run`). langchain-anthropic shares one process-wide async HTTP
        client whose keep-alive connections are bound to the loop that opened them
        (langchain-ai/langchain#35783): from a second loop the first attempt fails *after* the request
        was sent, so the retry sends it again (billed twice). Sync `call` in a thread pool is unaffected.
        """
        outcome = await self._atry(model, messages, job_id, config, invoke_kwargs)
        if isinstance(outcome, Failure):
            raise _error([outcome])
        return outcome

    async def acall_with_fallback(self, models: Sequence[str], messages: Any, *, job_id: str | None = None,
                                  config: Mapping[str, Any] | None = None,
                                  **invoke_kwargs: Any) -> FallbackResult:
        """Async `call_with_fallback`."""
        failures = []
        for name in _non_empty(models):
            outcome = await self._atry(name, messages, job_id, config, invoke_kwargs)
            if isinstance(outcome, Completion):
                return FallbackResult(outcome, tuple(failures))
            failures.append(outcome)
            _log_fallback(outcome, models)
        raise _error(failures)

    async def _atry(self, name: str, messages: Any, job_id: str | None, config: Mapping[str, Any] | None,
                    kwargs: dict[str, Any]) -> Completion | Failure:
        attempts = _Attempts(self, name)
        if (fast := attempts.fast_path(job_id)) is not None:
            return fast
        run_config = _run_config(config, job_id, name)
        while True:
            if (stop := attempts.admit()) is not None:
                return stop
            started = time.perf_counter()
            try:
                message = await attempts.model.ainvoke(messages, config=run_config, **kwargs)
                return attempts.succeed(message, time.perf_counter() - started)
            except EngineError:
                raise
            except Exception as exc:  # classified like the sync path
                step = attempts.fail(exc)
            if isinstance(step, Failure):
                return step
            await self._asleep(step)

    # -------------------------------------------------------------- helpers

    def _entry(self, name: str) -> tuple[Any, ModelSpec | None, CircuitBreaker]:
        try:
            return self._models[name], self._specs[name], self._breakers[name]
        except KeyError:
            raise UnknownNameError(f"no client for model '{name}'; configured: {', '.join(self._models)}") from None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        policy = self.retry
        if retry_after is not None:
            return min(retry_after, policy.retry_after_cap_s)
        raw = min(policy.max_delay_s, policy.base_delay_s * policy.multiplier ** (attempt - 1))
        with self._rng_lock:
            u = self._rng.random()
        return raw * (1.0 - policy.jitter * u)


class _Attempts:
    """Book-keeping of the attempts on one model within one call; shared by the sync and async loops."""

    __slots__ = ("client", "name", "model", "spec", "breaker", "attempt", "last")

    def __init__(self, client: ResilientClient, name: str):
        self.client, self.name = client, name
        self.model, self.spec, self.breaker = client._entry(name)
        self.attempt = 0
        self.last: Classified | None = None

    def fast_path(self, job_id: str | None) -> Completion | None:
        """A replay model's cached answer, bypassing LangChain's per-call machinery."""
        if job_id is not None and self.client.fast_replay and hasattr(self.model, "answer"):
            return self.model.answer(job_id)
        return None

    def admit(self) -> Failure | None:
        """None when the next attempt may go out, else the `Failure` that ends this model's turn."""
        if self.breaker.allow():
            self.attempt += 1
            return None
        if self.last is not None:
            return self._final(self.last, note="circuit breaker opened")
        message = (f"circuit open for model '{self.name}' after {self.breaker.consecutive_failures} consecutive "
                   f"failures; next probe in {self.breaker.retry_in():.1f} s")
        logger.info("%s", message)
        return Failure(self.name, "circuit_open", message, attempts=0, retryable=True)

    def succeed(self, message: Any, latency_s: float) -> Completion:
        completion = completion_from_message(
            message, self.spec, self.name, measured_latency_s=latency_s, attempts=self.attempt,
            error=self.last.message if self.last else None, require_usage=self.client.require_usage)
        self.breaker.record_success()
        text = self.client._scrub(completion.text)    # the boundary: nothing downstream stores an echoed key
        return completion if text == completion.text else dataclasses.replace(completion, text=text)

    def fail(self, exc: Exception) -> float | Failure:
        """Record a failed attempt; return the delay before the next one, or the final `Failure`."""
        policy = self.client.retry
        info = classify(exc, retry_malformed=policy.retry_malformed, scrub=self.client._scrub)
        self.last = info
        if info.counts_for_breaker:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()   # the service answered; only this request was wrong
        logger.warning("model %s: attempt %d/%d failed (%s): %s", self.name, self.attempt, policy.max_attempts,
                       info.kind, info.message)
        if not info.retryable or self.attempt >= policy.max_attempts:
            return self._final(info)
        if self.breaker.retry_in() > 0:   # this failure opened the breaker: no point waiting to retry
            return self._final(info, note="circuit breaker opened")
        delay = self.client._backoff(self.attempt, info.retry_after)
        logger.info("model %s: retrying in %.3f s%s", self.name, delay,
                    " (retry-after)" if info.retry_after is not None else "")
        return delay

    def _final(self, info: Classified, note: str = "") -> Failure:
        suffix = f"; {note}" if note else ""
        return Failure(self.name, info.kind, info.message + suffix, attempts=self.attempt,
                       status_code=info.status_code, retryable=info.retryable)


def _spec_for(name: str, model: Any, catalog: Catalog | None) -> ModelSpec | None:
    if catalog is not None and name in catalog:
        return catalog.get(name)
    spec = getattr(model, "spec", None)
    return spec if isinstance(spec, ModelSpec) else None


def _run_config(config: Mapping[str, Any] | None, job_id: str | None, name: str) -> dict[str, Any]:
    run_config = dict(config or {})
    metadata = dict(run_config.get("metadata") or {})
    metadata.setdefault("catalog_model", name)
    if job_id is not None:
        metadata["job_id"] = job_id
    run_config["metadata"] = metadata
    return run_config


def _non_empty(models: Sequence[str]) -> Sequence[str]:
    if isinstance(models, str) or not models:
        raise ClientError("call_with_fallback needs a non-empty sequence of model names")
    return models


def _log_fallback(failure: Failure, models: Sequence[str]) -> None:
    names = list(models)
    position = names.index(failure.model)
    if position + 1 < len(names):
        logger.warning("model %s failed (%s after %d attempts); falling back to %s",
                       failure.model, failure.kind, failure.attempts, names[position + 1])


def _error(failures: Sequence[Failure]) -> ModelCallError:
    if len(failures) == 1:
        f = failures[0]
        message = f"model '{f.model}' failed ({f.kind}, {f.attempts} attempts): {f.message}"
    else:
        parts = "; ".join(f"{f.model}: {f.kind} after {f.attempts} attempts" for f in failures)
        message = f"all {len(failures)} models failed — {parts}. Last error: {failures[-1].message}"
    return ModelCallError(message, failures)
