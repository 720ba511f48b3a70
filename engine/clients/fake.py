"""Deterministic fake chat models for tests and the `fake` backend: scripted answers, errors and delays.

A `FakeChatModel` plays its `script` one step per call, then answers with `responder` (default: echo the
last message). A step is

* a `str` — answer with this text (usage = whitespace word counts);
* a `FakeReply` — answer with this text, given token counts and/or a delay;
* an exception instance — raise it (see `rate_limited`, `server_error`, `overloaded`, `timed_out`,
  `connection_failed` for provider-like ones that `ResilientClient` classifies like the real thing);
* a `BaseMessage` — return it as is (to test malformed answers);
* a callable `(messages) -> step` — compute the step from the request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from engine.catalog import ModelSpec


@dataclass(frozen=True, slots=True)
class FakeReply:
    """A scripted answer; token counts default to whitespace word counts."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    delay_s: float = 0.0


class FakeAPIError(Exception):
    """A provider-style HTTP error: carries `status_code` and response `headers` like the SDK errors."""

    def __init__(self, status_code: int, message: str = "", headers: Mapping[str, str] | None = None):
        super().__init__(f"Error code: {status_code} - {message}" if message else f"Error code: {status_code}")
        self.status_code = status_code
        self.headers = dict(headers or {})


class FakeTimeoutError(TimeoutError):
    """A request that timed out."""


class FakeConnectionError(ConnectionError):
    """A request that could not reach the server."""


def rate_limited(retry_after: float | str | None = None) -> FakeAPIError:
    """A 429, optionally with a `retry-after` header (seconds or an HTTP date)."""
    headers = {} if retry_after is None else {"retry-after": str(retry_after)}
    return FakeAPIError(429, "rate_limit_error", headers)


def server_error(status: int = 500) -> FakeAPIError:
    """A 5xx server error."""
    return FakeAPIError(status, "api_error")


def overloaded() -> FakeAPIError:
    """Anthropic's 529 overloaded."""
    return FakeAPIError(529, "overloaded_error")


def timed_out() -> FakeTimeoutError:
    """A timeout, as a client library raises it."""
    return FakeTimeoutError("request timed out")


def connection_failed() -> FakeConnectionError:
    """A connection failure (refused, reset, DNS)."""
    return FakeConnectionError("connection refused")


def echo(messages: list[BaseMessage]) -> str:
    """The default responder: the text of the last message."""
    return str(messages[-1].content) if messages else ""


def _words(text: Any) -> int:
    return len(str(text).split())


class FakeChatModel(BaseChatModel):
    """A scripted, deterministic chat model (thread-safe; records every request it receives).

    `delay_s` is added to every call (to show concurrency gains without a network); `usage=False`
    leaves `usage_metadata` off the answers.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str = "fake-model"
    script: list[Any] = Field(default_factory=list)
    responder: Callable[[list[BaseMessage]], str] = echo
    delay_s: float = 0.0
    usage: bool = True
    spec: ModelSpec | None = None

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _position: int = PrivateAttr(default=0)
    _requests: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    @property
    def calls(self) -> int:
        """How many times the model was called."""
        return len(self._requests)

    @property
    def requests(self) -> list[list[BaseMessage]]:
        """The messages of every call, in order."""
        return list(self._requests)

    def _next_step(self, messages: list[BaseMessage]) -> Any:
        with self._lock:
            self._requests.append(list(messages))
            if self._position < len(self.script):
                step = self.script[self._position]
                self._position += 1
                return step
        return self.responder(messages)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        step = self._next_step(messages)
        if callable(step) and not isinstance(step, BaseMessage | BaseException):
            step = step(messages)
        if self.delay_s:
            time.sleep(self.delay_s)
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, BaseMessage):
            return ChatResult(generations=[ChatGeneration(message=step)])
        reply = step if isinstance(step, FakeReply) else FakeReply(str(step))
        if reply.delay_s:
            time.sleep(reply.delay_s)
        n_in = reply.input_tokens if reply.input_tokens is not None else sum(_words(m.content) for m in messages)
        n_out = reply.output_tokens if reply.output_tokens is not None else _words(reply.text)
        message = AIMessage(
            content=reply.text,
            usage_metadata=(UsageMetadata(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out)
                            if self.usage else None),
            response_metadata={"model_name": self.model_name, "model_provider": "fake", "stop_reason": "end_turn"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)],
                          llm_output={"model_name": self.model_name})
