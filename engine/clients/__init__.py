"""Model clients as LangChain-core chat models (replay, Anthropic, fakes) and the resilience layer.

Importing this package does not import the Anthropic SDK; `build_anthropic_chat` does, when called.
"""

from engine.clients.anthropic import build_anthropic_chat, resolve_api_key, resolve_base_url
from engine.clients.breaker import BreakerState, CircuitBreaker
from engine.clients.completion import Completion, Failure, FallbackResult, price_call
from engine.clients.factory import ClientPlan, build_client, build_resilient_client, plan_client, reachable
from engine.clients.fake import FakeChatModel, FakeReply
from engine.clients.replay import ReplayChatModel, ReplayTable
from engine.clients.resilience import ModelCallError, ResilientClient, parse_retry_after
from engine.clients.settings import BreakerPolicy, ClientSettings, RetryPolicy

__all__ = [
    "BreakerPolicy",
    "BreakerState",
    "CircuitBreaker",
    "ClientPlan",
    "ClientSettings",
    "Completion",
    "Failure",
    "FakeChatModel",
    "FakeReply",
    "FallbackResult",
    "ModelCallError",
    "ReplayChatModel",
    "ReplayTable",
    "ResilientClient",
    "RetryPolicy",
    "build_anthropic_chat",
    "build_client",
    "build_resilient_client",
    "parse_retry_after",
    "plan_client",
    "price_call",
    "reachable",
    "resolve_api_key",
    "resolve_base_url",
]
