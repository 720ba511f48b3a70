"""Which client answers for a catalog model, and building it.

Rules, in order (`ClientSettings.backend` narrows them):

1. backend `fake` -> `FakeChatModel` (deterministic, no network);
2. a trace is given and records the model (backend `auto` or `replay`) -> `ReplayChatModel`;
3. provider `anthropic` and an API key is configured (backend `auto` or `live`) -> `ChatAnthropic`;
4. otherwise a `ClientError` that says what is missing.

`plan_client` answers the question without building anything (no import of the Anthropic SDK, no
network), which is what `sls models` needs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from engine.catalog import Catalog, ModelSpec
from engine.clients.anthropic import API_KEY_ENV, build_anthropic_chat, resolve_api_key
from engine.clients.fake import FakeChatModel
from engine.clients.replay import ReplayChatModel
from engine.clients.resilience import ResilientClient
from engine.clients.settings import ClientSettings
from engine.errors import ClientError
from engine.traces.model import Trace

logger = logging.getLogger(__name__)

KIND_REPLAY, KIND_ANTHROPIC, KIND_FAKE = "replay", "anthropic", "fake"
LIVE_PROVIDERS = ("anthropic",)


@dataclass(frozen=True, slots=True)
class ClientPlan:
    """Which client would answer for a model (`kind` None: none can) and why, in words for a user."""

    model: str
    kind: str | None
    reason: str

    @property
    def available(self) -> bool:
        return self.kind is not None


def plan_client(spec: ModelSpec, settings: ClientSettings, trace: Trace | None = None,
                api_key: SecretStr | str | None = None) -> ClientPlan:
    """Decide which client `build_client` would build for `spec`, without building it."""
    backend = settings.backend
    if backend == "fake":
        return ClientPlan(spec.name, KIND_FAKE, "fake backend (deterministic, no network)")
    if backend in ("auto", "replay") and trace is not None and spec.name in trace.model_names:
        return ClientPlan(spec.name, KIND_REPLAY, f"replays trace '{trace.name}'")
    if backend == "replay":
        where = f"trace '{trace.name}' does not record it" if trace is not None else "no trace is loaded"
        return ClientPlan(spec.name, None, f"replay backend, but {where}")
    if spec.provider not in LIVE_PROVIDERS:
        return ClientPlan(spec.name, None, f"no live client for provider '{spec.provider}' (live providers: "
                                           f"{', '.join(LIVE_PROVIDERS)}); replay needs a trace that records it")
    if resolve_api_key(settings, api_key) is None:
        return ClientPlan(spec.name, None, f"no Anthropic API key: set {API_KEY_ENV} or clients.anthropic_api_key")
    return ClientPlan(spec.name, KIND_ANTHROPIC, "live Anthropic API (key configured)")


def build_client(spec: ModelSpec, settings: ClientSettings, trace: Trace | None = None,
                 api_key: SecretStr | str | None = None) -> Any:
    """The LangChain chat model that answers for `spec` (see the module docstring for the rules).

    Raises `ClientError` naming the model and what is missing when no client can be built.
    """
    plan = plan_client(spec, settings, trace, api_key)
    if plan.kind == KIND_FAKE:
        return FakeChatModel(model_name=spec.name, delay_s=settings.fake_delay_s, spec=spec)
    if plan.kind == KIND_REPLAY:
        return ReplayChatModel(trace, spec.name, spec=spec)
    if plan.kind == KIND_ANTHROPIC:
        return build_anthropic_chat(spec, settings, api_key)
    raise ClientError(f"model '{spec.name}': {plan.reason}")


def reachable(spec: ModelSpec, settings: ClientSettings, trace: Trace | None = None) -> bool:
    """Whether a client can be built for `spec` (key configured or replay available). No network call:
    a configured key is not proven valid until the first call."""
    return plan_client(spec, settings, trace).available


def build_resilient_client(catalog: Catalog, settings: ClientSettings, trace: Trace | None = None, *,
                           models: Iterable[str] | None = None, api_key: SecretStr | str | None = None,
                           clock: Callable[[], float] = time.monotonic,
                           sleep: Callable[[float], None] = time.sleep) -> ResilientClient:
    """A `ResilientClient` over every catalog model (or `models`) that has a client.

    Models without one are skipped with a log line; raises `ClientError` (listing the reasons) when none
    is left.
    """
    names = list(models) if models is not None else catalog.names
    clients: dict[str, Any] = {}
    reasons = []
    for name in names:
        spec = catalog.get(name)
        plan = plan_client(spec, settings, trace, api_key)
        if not plan.available:
            logger.info("model %s has no client: %s", name, plan.reason)
            reasons.append(f"{name}: {plan.reason}")
            continue
        clients[name] = build_client(spec, settings, trace, api_key)
    if not clients:
        raise ClientError("no model has a client — " + "; ".join(reasons))
    return ResilientClient(clients, catalog, retry=settings.retry, breaker=settings.breaker, clock=clock,
                           sleep=sleep, secrets=[s for s in (api_key, settings.anthropic_api_key) if s])
