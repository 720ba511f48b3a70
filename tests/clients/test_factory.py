"""Which client answers for a model, settings validation and the value objects' pricing rule."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage
from pydantic import SecretStr

import engine.clients
from engine.catalog import Catalog, ModelSpec
from engine.clients import (
    ClientSettings,
    FakeChatModel,
    ReplayChatModel,
    build_client,
    build_resilient_client,
    plan_client,
    price_call,
    reachable,
)
from engine.clients.completion import MalformedResponseError, completion_from_message, message_text
from engine.errors import ClientError, SettingsError
from tests.clients.conftest import SECRET_KEY

CLAUDE = ModelSpec("claude-x", "anthropic", 1.0, 5.0, api_model="fake-claude")
TRACED = ModelSpec("tok", "together", 1.0, 2.0)
UNSERVED = ModelSpec("mystery", "acme", 1.0, 1.0)


@pytest.mark.parametrize("backend, spec, with_trace, key, expected", [
    ("auto", TRACED, True, None, "replay"),
    ("auto", CLAUDE, True, None, None),             # not in the trace and no key
    ("auto", CLAUDE, False, SECRET_KEY, "anthropic"),
    ("auto", UNSERVED, False, SECRET_KEY, None),    # no live client for the provider
    ("replay", CLAUDE, True, SECRET_KEY, None),     # replay only, even with a key
    ("live", TRACED, True, SECRET_KEY, None),       # live only: provider 'together' has none
    ("live", CLAUDE, True, SECRET_KEY, "anthropic"),
    ("fake", UNSERVED, False, None, "fake"),
])
def test_plan_client_rules(tiny_trace, backend, spec, with_trace, key, expected):
    settings = ClientSettings(backend=backend, anthropic_api_key=key)
    plan = plan_client(spec, settings, tiny_trace if with_trace else None)
    assert plan.kind == expected and plan.available is (expected is not None) and plan.reason
    assert reachable(spec, settings, tiny_trace if with_trace else None) is plan.available


def test_plan_reasons_say_what_to_fix(tiny_trace):
    assert "ANTHROPIC_API_KEY" in plan_client(CLAUDE, ClientSettings()).reason
    assert "trace 'tiny' does not record it" in plan_client(CLAUDE, ClientSettings(backend="replay"), tiny_trace).reason
    assert "provider 'acme'" in plan_client(UNSERVED, ClientSettings()).reason


def test_the_key_may_come_from_the_environment(monkeypatch):
    assert not reachable(CLAUDE, ClientSettings())
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET_KEY)
    assert reachable(CLAUDE, ClientSettings())


def test_build_client_builds_each_kind(tiny_trace):
    assert isinstance(build_client(TRACED, ClientSettings(), tiny_trace), ReplayChatModel)
    fake = build_client(UNSERVED, ClientSettings(backend="fake", fake_delay_s=0.0))
    assert isinstance(fake, FakeChatModel) and fake.model_name == "mystery"
    chat = build_client(CLAUDE, ClientSettings(anthropic_api_key=SECRET_KEY))
    assert type(chat).__name__ == "ChatAnthropic" and chat.max_retries == 0 and chat.model == "fake-claude"


def test_build_client_error_names_the_model_and_never_a_key(monkeypatch):
    with pytest.raises(ClientError, match="model 'claude-x': no Anthropic API key"):
        build_client(CLAUDE, ClientSettings())
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET_KEY)
    with pytest.raises(ClientError) as info:
        build_client(UNSERVED, ClientSettings())
    assert SECRET_KEY not in str(info.value)


def test_build_resilient_client_skips_models_without_a_client(tiny_trace):
    catalog = Catalog([TRACED, CLAUDE])
    client = build_resilient_client(catalog, ClientSettings(), tiny_trace)
    assert client.model_names == ["tok"]
    assert client.call("tok", "line one", job_id="q1").text == "raw T1"
    with pytest.raises(ClientError, match="no model has a client.*claude-x"):
        build_resilient_client(Catalog([CLAUDE]), ClientSettings(), tiny_trace)


def _module_level_imports(tree: ast.Module) -> set[str]:
    """Top-level modules imported when the module body runs (`if TYPE_CHECKING:` blocks excluded)."""
    names: set[str] = set()
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            pending.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody)
    return names


def test_the_anthropic_sdk_is_imported_only_inside_functions():
    package = Path(engine.clients.__file__).parent
    offenders = {path.name: sorted(found) for path in package.glob("*.py")
                 if (found := _module_level_imports(ast.parse(path.read_text())) & {"anthropic", "langchain_anthropic"})}
    assert offenders == {}


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize("changes, message", [
    ({"backend": "cloud"}, "clients.backend must be one of"),
    ({"timeout_s": 0}, "clients.timeout_s must be a finite number > 0"),
    ({"max_tokens": 0}, "clients.max_tokens must be an integer >= 1"),
    ({"anthropic_base_url": "api.anthropic.com"}, "must start with http"),
    ({"retry": {"max_attempts": 0}}, "retry.max_attempts"),
    ({"retry": {"jitter": 2}}, "retry.jitter"),
    ({"breaker": {"failure_threshold": 0}}, "breaker.failure_threshold"),
    ({"breaker": {"cooldown": 3}}, "unknown keys \\['cooldown'\\]"),
    ({"colour": "red"}, "unknown keys \\['colour'\\]"),
])
def test_settings_errors_name_the_field(changes, message):
    with pytest.raises(SettingsError, match=message):
        ClientSettings.from_mapping(changes)


def test_settings_hold_the_key_as_a_secret():
    settings = ClientSettings.from_mapping({"anthropic_api_key": SECRET_KEY, "retry": {"max_attempts": 2}})
    assert isinstance(settings.anthropic_api_key, SecretStr) and settings.retry.max_attempts == 2
    assert SECRET_KEY not in repr(settings) and SECRET_KEY not in str(settings)
    assert ClientSettings(anthropic_api_key="").anthropic_api_key is None


# ------------------------------------------------------------------------ pricing, shape

PRICED = ModelSpec("p", "x", 2.0, 10.0)


@pytest.mark.parametrize("spec, tokens_in, tokens_out, reported, expected", [
    (PRICED, 1000, 100, 99.0, ((1000 * 2 + 100 * 10) / 1e6, "usage")),   # usage x prices wins
    (PRICED, None, None, 0.5, (0.5, "reported")),                         # unknown tokens: recorded cost
    (ModelSpec("u", "x"), 10, 10, 0.25, (0.25, "reported")),              # unknown prices: recorded cost
    (ModelSpec("u", "x"), 10, 10, None, (0.0, "unknown")),
    (None, 10, 10, float("nan"), (0.0, "unknown")),
])
def test_price_call(spec, tokens_in, tokens_out, reported, expected):
    cost, source = price_call(spec, tokens_in, tokens_out, reported)
    assert (cost, source) == (pytest.approx(expected[0]), expected[1])


def test_message_text_joins_text_blocks_and_rejects_others():
    assert message_text(AIMessage(content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])) == "ab"
    assert message_text(AIMessage(content="")) == ""
    with pytest.raises(MalformedResponseError, match="no text content"):
        message_text(AIMessage(content=[{"type": "tool_use", "id": "1", "name": "f", "input": {}}]))


def test_completion_from_message_rejects_bad_usage():
    usage = {"input_tokens": -1, "output_tokens": 2, "total_tokens": 1}
    with pytest.raises(MalformedResponseError, match="negative"):
        completion_from_message(AIMessage(content="x", usage_metadata=usage), PRICED, "p", measured_latency_s=0.1)
    relaxed = completion_from_message(AIMessage(content="x"), PRICED, "p", measured_latency_s=0.1,
                                      require_usage=False)
    assert (relaxed.input_tokens, relaxed.cost_source, relaxed.latency_s) == (None, "unknown", 0.1)
