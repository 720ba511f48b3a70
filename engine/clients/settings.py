"""Settings of the client layer: which backend answers, how live calls are made, retried and broken.

These are plain frozen dataclasses validated on construction (`SettingsError` names the field and the
accepted values). The engine-wide settings object embeds a `ClientSettings`; nothing here reads the
environment except where documented (`ANTHROPIC_API_KEY` / `ANTHROPIC_BASE_URL`, resolved only when a
live client is built, see `engine.clients.anthropic`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pydantic import SecretStr

from engine.errors import SettingsError

BACKENDS = ("auto", "replay", "live", "fake")


def _check_number(owner: str, name: str, value: Any, *, minimum: float = 0.0, strict: bool = False,
                  allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > minimum if strict else value >= minimum)
    if not ok:
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise SettingsError(f"{owner}.{name} must be a finite number {bound}, got {value!r}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one model is retried before the call gives up on it (and falls back to the next model).

    Delay before retry k (k = 1, 2, …) is `min(max_delay_s, base_delay_s * multiplier**(k-1))`, shrunk by
    a seeded random factor in `[1 - jitter, 1]`; a server's `retry-after` replaces it, capped at
    `retry_after_cap_s`.
    """

    max_attempts: int = 3
    base_delay_s: float = 0.5
    multiplier: float = 2.0
    max_delay_s: float = 8.0
    jitter: float = 0.25
    retry_after_cap_s: float = 20.0
    retry_malformed: bool = True
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.max_attempts, int) or isinstance(self.max_attempts, bool) or self.max_attempts < 1:
            raise SettingsError(f"retry.max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        for name in ("base_delay_s", "max_delay_s", "retry_after_cap_s"):
            _check_number("retry", name, getattr(self, name))
        _check_number("retry", "multiplier", self.multiplier, minimum=1.0)
        if not (isinstance(self.jitter, int | float) and 0.0 <= self.jitter <= 1.0):
            raise SettingsError(f"retry.jitter must be between 0 and 1, got {self.jitter!r}")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Per-model circuit breaker: open after `failure_threshold` consecutive failed attempts, allow one
    probe after `cooldown_s`."""

    failure_threshold: int = 5
    cooldown_s: float = 30.0

    def __post_init__(self):
        if (not isinstance(self.failure_threshold, int) or isinstance(self.failure_threshold, bool)
                or self.failure_threshold < 1):
            raise SettingsError(f"breaker.failure_threshold must be an integer >= 1, got {self.failure_threshold!r}")
        _check_number("breaker", "cooldown_s", self.cooldown_s)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Everything the client layer needs.

    backend: `auto` (replay when the trace has the model, else the live provider when a key is
    configured), `replay` (trace only), `live` (provider only) or `fake` (deterministic fake models).
    The API key is held as a `SecretStr`, so it never shows in a repr; when it is None the
    `ANTHROPIC_API_KEY` environment variable is used at build time.
    """

    backend: str = "auto"
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    timeout_s: float = 60.0
    max_tokens: int = 1024
    temperature: float | None = 0.0
    fake_delay_s: float = 0.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise SettingsError(f"clients.backend must be one of {', '.join(BACKENDS)}; got {self.backend!r}")
        key = self.anthropic_api_key
        if isinstance(key, str):
            object.__setattr__(self, "anthropic_api_key", SecretStr(key) if key else None)
        elif key is not None and not isinstance(key, SecretStr):
            raise SettingsError("clients.anthropic_api_key must be a string or SecretStr")
        if self.anthropic_base_url is not None and not str(self.anthropic_base_url).startswith(("http://", "https://")):
            raise SettingsError(
                f"clients.anthropic_base_url must start with http:// or https://, got {self.anthropic_base_url!r}")
        _check_number("clients", "timeout_s", self.timeout_s, strict=True)
        _check_number("clients", "fake_delay_s", self.fake_delay_s)
        _check_number("clients", "temperature", self.temperature, allow_none=True)
        if not isinstance(self.max_tokens, int) or isinstance(self.max_tokens, bool) or self.max_tokens < 1:
            raise SettingsError(f"clients.max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        if isinstance(self.retry, Mapping):
            object.__setattr__(self, "retry", _build(RetryPolicy, self.retry, "clients.retry"))
        if isinstance(self.breaker, Mapping):
            object.__setattr__(self, "breaker", _build(BreakerPolicy, self.breaker, "clients.breaker"))
        if not isinstance(self.retry, RetryPolicy) or not isinstance(self.breaker, BreakerPolicy):
            raise SettingsError("clients.retry / clients.breaker must be mappings or policy objects")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "clients") -> ClientSettings:
        """Settings from a plain mapping (a TOML/JSON section); unknown keys are an error, not ignored."""
        return _build(cls, data, source)


def _build(cls, data: Mapping[str, Any], source: str):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(f"{source}: unknown keys {unknown}; accepted: {sorted(known)}")
    return cls(**data)
