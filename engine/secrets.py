"""Secrets nowhere: the configured API keys are scrubbed from every text the engine stores or prints.

The keys known here are the ones clients were built with (`register`, called by `ResilientClient`) and
`ANTHROPIC_API_KEY` from the environment. `scrub(text)` replaces each with ``[REDACTED]``. Where it is used:

* the client boundary (`ResilientClient`): a completion's text is scrubbed before anything downstream sees
  it, so answers in the event log, the cache, traces and the dashboard never hold a key a model echoed;
* the cache store (`ChromaStore.put`) and the trace writer (`write_trace_frames`), for texts that did not
  come from a model (a job's own text);
* logging (`install_log_scrubbing`, idempotent, done when a client is built): every log record's message
  and traceback is scrubbed; `warnings` (pydantic's serializer warnings print the raw body) go through
  logging; the HTTP clients' DEBUG loggers (httpx, httpx2, httpcore, anthropic), which print request
  options and headers, are capped at INFO unless ``SLS_HTTP_DEBUG=1``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 6          # shorter "secrets" would scrub ordinary words out of texts
ENV_KEYS = ("ANTHROPIC_API_KEY",)
HTTP_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "anthropic", "anthropic._base_client")

_registered: set[str] = set()
_lock = threading.Lock()
_installed = False


def _value(secret: Any) -> str | None:
    if secret is None:
        return None
    getter = getattr(secret, "get_secret_value", None)
    value = getter() if callable(getter) else secret
    return value if isinstance(value, str) else None


def register(*secrets: Any) -> None:
    """Remember keys (strings or pydantic `SecretStr`) to scrub from now on, process-wide."""
    values = {v for v in map(_value, secrets) if v and len(v) >= MIN_SECRET_CHARS}
    if values - _registered:
        with _lock:
            _registered.update(values)


def known() -> list[str]:
    """Every key to scrub, longest first (a key that contains another is replaced whole)."""
    values = set(_registered)
    for name in ENV_KEYS:
        value = os.environ.get(name, "")
        if len(value) >= MIN_SECRET_CHARS:
            values.add(value)
    return sorted(values, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every known key replaced by ``[REDACTED]`` (non-strings are returned as they are)."""
    if not isinstance(text, str) or not text:
        return text
    for secret in known() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_mapping(values: dict[str, Any]) -> dict[str, Any]:
    """A copy of a flat mapping (cache metadata, a record) with its string values scrubbed."""
    secrets = known()
    if not secrets:
        return values
    return {k: scrub(v, secrets) if isinstance(v, str) else v for k, v in values.items()}


def pattern() -> re.Pattern[str] | None:
    """A regex matching any known key (None when there is none): for vectorised checks of tables."""
    secrets = known()
    return re.compile("|".join(map(re.escape, secrets))) if secrets else None


class _ScrubbingFactory:
    """A log record factory that scrubs the message (and a traceback) of every record as it is made."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, *args, **kwargs) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        secrets = known()
        if not secrets:
            return record
        try:
            message = record.getMessage()
        except Exception:      # noqa: BLE001 - a malformed record stays as it is, logging reports it
            return record
        clean = scrub(message, secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info), secrets)
        return record


def install_log_scrubbing() -> None:
    """Scrub known keys from every log record, route `warnings` through logging, and keep the HTTP client
    libraries' DEBUG output (request options, headers) off unless `SLS_HTTP_DEBUG=1`. Idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        current = logging.getLogRecordFactory()
        if not isinstance(current, _ScrubbingFactory):
            logging.setLogRecordFactory(_ScrubbingFactory(current))
    logging.captureWarnings(True)
    if os.environ.get("SLS_HTTP_DEBUG", "").strip() != "1":
        for name in HTTP_LOGGERS:
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET or logger.level < logging.INFO:
                logger.setLevel(logging.INFO)
