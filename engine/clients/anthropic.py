"""Live Anthropic models through `langchain_anthropic.ChatAnthropic`.

`langchain_anthropic` (and `anthropic`) take seconds to import, so they are imported only inside
`build_anthropic_chat`. The SDK's own retries are switched off (`max_retries=0`): `ResilientClient`
retries instead, so every attempt reaches the circuit breaker, `retry-after` is honoured with our cap,
and attempts do not multiply (SDK 3 x ours 3 = 9 requests per model) before a fallback.

The key and base URL are always passed explicitly: left unset, `ChatAnthropic` would also consult
`ANTHROPIC_API_URL` and the LangSmith gateway variables, which would make the target depend on
environment variables this project does not document.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pydantic import SecretStr

from engine.catalog import ModelSpec
from engine.clients.settings import ClientSettings
from engine.errors import ClientError

if TYPE_CHECKING:  # pragma: no cover - typing only; the real import is lazy
    from langchain_anthropic import ChatAnthropic

API_KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
DEFAULT_BASE_URL = "https://api.anthropic.com"


def resolve_api_key(settings: ClientSettings, api_key: SecretStr | str | None = None) -> SecretStr | None:
    """The key to use: `api_key` if passed, else `settings.anthropic_api_key`, else `$ANTHROPIC_API_KEY`."""
    for candidate in (api_key, settings.anthropic_api_key, os.environ.get(API_KEY_ENV)):
        value = candidate.get_secret_value() if isinstance(candidate, SecretStr) else candidate
        if value and value.strip():
            return SecretStr(value.strip())
    return None


def resolve_base_url(settings: ClientSettings) -> str:
    """`settings.anthropic_base_url`, else `$ANTHROPIC_BASE_URL`, else the public API."""
    return (settings.anthropic_base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")


def build_anthropic_chat(spec: ModelSpec, settings: ClientSettings,
                         api_key: SecretStr | str | None = None) -> ChatAnthropic:
    """A `ChatAnthropic` for catalog entry `spec` (its `api_model`, else its name).

    Uses the resolved key and base URL, `settings.timeout_s`, `max_tokens` and `temperature`, and no
    SDK-level retries. Raises `ClientError` when no key is configured (the message names where to set
    one, never a value).
    """
    key = resolve_api_key(settings, api_key)
    if key is None:
        raise ClientError(f"model '{spec.name}': no Anthropic API key; set {API_KEY_ENV} or "
                          "clients.anthropic_api_key")
    from langchain_anthropic import ChatAnthropic  # lazy: importing it takes seconds

    options: dict = {}
    if settings.temperature is not None:
        options["temperature"] = settings.temperature
    return ChatAnthropic(
        model=spec.api_model or spec.name,
        api_key=key,
        base_url=resolve_base_url(settings),
        timeout=settings.timeout_s,
        max_retries=0,
        max_tokens=settings.max_tokens,
        **options,
    )
