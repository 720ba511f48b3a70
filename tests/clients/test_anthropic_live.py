"""The live path end to end: ChatAnthropic -> real HTTP on 127.0.0.1 -> FakeAnthropicServer, under
ResilientClient. Small timeouts and backoffs keep the whole file to a few seconds."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine.clients import (
    BreakerPolicy,
    BreakerState,
    ClientSettings,
    ModelCallError,
    RetryPolicy,
    build_anthropic_chat,
    build_resilient_client,
)
from tests.clients.conftest import SECRET_KEY
from tests.fakes.anthropic_server import (
    ApiError,
    FakeAnthropicServer,
    Hang,
    Malformed,
    RateLimited,
    Reply,
    last_user_text,
    storm,
)

pytestmark = pytest.mark.integration

TIMEOUT_S = 5.0        # generous: a loaded CI machine must not turn a normal answer into a timeout
HANG_TIMEOUT_S = 0.25  # only for the tests whose server hangs on purpose


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server():
    with FakeAnthropicServer(responder=lambda body: f"template for: {last_user_text(body)}") as srv:
        yield srv


def settings_for(server, *, attempts=3, threshold=5, cooldown=30.0, timeout_s=TIMEOUT_S) -> ClientSettings:
    return ClientSettings(
        anthropic_api_key=SECRET_KEY, anthropic_base_url=server.base_url, timeout_s=timeout_s, max_tokens=64,
        retry=RetryPolicy(max_attempts=attempts, base_delay_s=0.01, max_delay_s=0.05, retry_after_cap_s=1.0),
        breaker=BreakerPolicy(failure_threshold=threshold, cooldown_s=cooldown))


def models_seen(server) -> list[str]:
    return [r.body["model"] for r in server.requests]


def test_a_normal_answer_is_priced_from_usage_and_sends_the_key_to_the_server(server, live_catalog):
    server.enqueue(Reply(input_tokens=1200, output_tokens=300))
    client = build_resilient_client(live_catalog, settings_for(server))
    got = client.call("cheap", [("system", "Parse the log line."), ("human", "GET /index 200")], job_id="q7")
    assert got.text == "template for: GET /index 200"
    assert (got.input_tokens, got.output_tokens, got.attempts) == (1200, 300, 1)
    assert got.cost_usd == pytest.approx((1200 * 1.0 + 300 * 5.0) / 1e6) and got.cost_source == "usage"
    assert got.latency_modelled is False and got.latency_s > 0
    request = server.requests[0]
    assert request.path == "/v1/messages" and request.api_key == SECRET_KEY
    assert request.headers.get("anthropic-version")
    # Only API fields: the job id travels in run metadata, never in the provider payload.
    assert set(request.body) == {"model", "max_tokens", "messages", "system", "temperature"}
    assert request.body["model"] == "fake-cheap" and request.body["max_tokens"] == 64
    assert request.body["system"] == "Parse the log line."
    assert request.body["messages"] == [{"role": "user", "content": "GET /index 200"}]


def test_429_then_success_honours_retry_after_with_sdk_retries_off(server, live_catalog):
    server.enqueue(RateLimited(retry_after=0.3), Reply("finally"))
    client = build_resilient_client(live_catalog, settings_for(server))
    got = client.call("cheap", "hi")
    assert (got.text, got.attempts) == ("finally", 2) and "RateLimitError" in got.error
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.3
    # Both requests are first tries as far as the SDK knows: the retry was ours.
    assert [r.headers.get("x-stainless-retry-count") for r in server.requests] == ["0", "0"]


@pytest.mark.parametrize("status, kind", [(500, "server_error"), (529, "overloaded")])
def test_error_storm_falls_back_to_the_next_model_and_reports_the_failure(server, live_catalog, status, kind):
    server.enqueue(storm(status, 3))
    client = build_resilient_client(live_catalog, settings_for(server))
    result = client.call_with_fallback(["cheap", "strong"], "hi")
    assert result.model == "strong" and result.completion.text == "template for: hi"
    [failure] = result.failures
    assert (failure.model, failure.kind, failure.attempts, failure.status_code) == ("cheap", kind, 3, status)
    assert models_seen(server) == ["fake-cheap"] * 3 + ["fake-strong"]


def test_timeout_is_retried_then_succeeds(server, live_catalog):
    server.enqueue(Hang(seconds=5), Reply("after the hang"))
    client = build_resilient_client(live_catalog, settings_for(server, timeout_s=HANG_TIMEOUT_S))
    got = client.call("cheap", "hi")
    assert (got.text, got.attempts) == ("after the hang", 2) and "Timeout" in got.error


def test_timeouts_on_every_attempt_fall_back_then_raise_when_nothing_is_left(server, live_catalog):
    server.enqueue(Hang(5), Hang(5))
    client = build_resilient_client(live_catalog, settings_for(server, attempts=2, timeout_s=HANG_TIMEOUT_S))
    result = client.call_with_fallback(["cheap", "strong"], "hi")
    assert result.model == "strong" and result.failures[0].kind == "timeout"

    server.enqueue(Hang(5), Hang(5))
    with pytest.raises(ModelCallError) as info:
        client.call("cheap", "hi")
    assert info.value.kind == "timeout" and info.value.failures[0].attempts == 2


@pytest.mark.parametrize("body", [
    "this is not json",
    '{"id": "m", "type": "message", "role": "assistant", "model": "x", "usage": {"input_tokens": 1, "output_tokens": 1}}',
    '{"id": "m", "type": "message", "role": "assistant", "model": "x", "content": [{"type": "text", "text": "hi"}]}',
    '{"id": "m", "type": "message", "role": "assistant", "model": "x", "content": [], '
    '"usage": {"input_tokens": 1, "output_tokens": 1}}',
    "[1, 2, 3]",
], ids=["non-json", "no-content", "no-usage", "empty-content", "wrong-shape"])
def test_malformed_responses_are_failures_that_are_retried(server, live_catalog, body):
    server.enqueue(Malformed(body), Reply("well formed", input_tokens=5, output_tokens=2))
    client = build_resilient_client(live_catalog, settings_for(server))
    got = client.call("cheap", "hi")
    assert (got.text, got.attempts, got.input_tokens) == ("well formed", 2, 5)


def test_malformed_storm_falls_back(server, live_catalog):
    server.enqueue([Malformed("<html>bad gateway</html>", content_type="text/html")] * 2)
    client = build_resilient_client(live_catalog, settings_for(server, attempts=2))
    result = client.call_with_fallback(["cheap", "strong"], "hi")
    assert result.model == "strong" and result.failures[0].kind == "malformed"


def test_circuit_breaker_opens_rejects_without_requests_half_opens_and_closes(server, live_catalog):
    clock = Clock()
    settings = settings_for(server, attempts=1, threshold=2, cooldown=10.0)
    client = build_resilient_client(live_catalog, settings, clock=clock)
    server.enqueue(storm(500, 2))
    for _ in range(2):
        with pytest.raises(ModelCallError):
            client.call("cheap", "hi")
    assert client.breaker("cheap").state is BreakerState.OPEN

    with pytest.raises(ModelCallError) as info:
        client.call("cheap", "hi")
    assert info.value.kind == "circuit_open" and server.request_count == 2   # rejected fast, no request

    clock.now += 10.0
    assert client.call("cheap", "probe").text == "template for: probe" and server.request_count == 3
    assert client.breaker("cheap").state is BreakerState.CLOSED


def test_the_key_never_appears_in_logs_errors_or_reprs(server, live_catalog, caplog):
    caplog.set_level(logging.DEBUG)      # including the SDK's and httpx's debug logging
    server.enqueue(ApiError(401, "invalid x-api-key: {key}"), storm(500, 3))
    client = build_resilient_client(live_catalog, settings_for(server))
    with pytest.raises(ModelCallError) as info:
        client.call_with_fallback(["cheap", "strong"], "hi")
    assert server.requests[0].api_key == SECRET_KEY     # it did travel, to the server only
    assert client.call("cheap", "fine").text == "template for: fine"
    texts = [str(info.value), repr(info.value), repr(client), repr(client.model("cheap")), caplog.text,
             *(repr(f) for f in info.value.failures)]
    leaks = [t[:80] for t in texts if SECRET_KEY in t]
    assert not leaks
    assert "[REDACTED]" in info.value.failures[0].message


def test_async_call_against_the_server(server, live_catalog):
    server.enqueue(RateLimited(retry_after=0.05))
    client = build_resilient_client(live_catalog, settings_for(server))
    got = asyncio.run(client.acall("cheap", "async hi"))
    assert (got.text, got.attempts) == ("template for: async hi", 2)


def test_build_anthropic_chat_configures_the_sdk(server, live_catalog, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    chat = build_anthropic_chat(live_catalog.get("strong"), ClientSettings(timeout_s=2.5, max_tokens=99))
    assert (chat.model, chat.max_retries, chat.default_request_timeout, chat.max_tokens) == ("fake-strong", 0, 2.5, 99)
    assert chat.anthropic_api_url == server.base_url
    assert chat.anthropic_api_key.get_secret_value() == SECRET_KEY and SECRET_KEY not in repr(chat)
    assert chat.invoke("direct").content == "template for: direct"


def test_concurrent_async_calls_in_one_event_loop_overlap_and_send_each_request_once(live_catalog):
    with FakeAnthropicServer(delay_s=0.2) as server:
        client = build_resilient_client(live_catalog, settings_for(server))

        async def run_all():
            return await asyncio.gather(*(client.acall("cheap", f"job {i}") for i in range(4)))

        results = asyncio.run(run_all())
        assert [r.text for r in results] == [f"echo: job {i}" for i in range(4)]
        assert all(r.attempts == 1 for r in results) and server.request_count == 4
        assert server.max_in_flight >= 2


def test_sync_calls_from_a_thread_pool_overlap(live_catalog):
    with FakeAnthropicServer(delay_s=0.2) as server:
        client = build_resilient_client(live_catalog, settings_for(server))
        with ThreadPoolExecutor(max_workers=4) as pool:
            texts = list(pool.map(lambda i: client.call("cheap", f"job {i}").text, range(4)))
        assert texts == [f"echo: job {i}" for i in range(4)] and server.request_count == 4
        assert server.max_in_flight >= 2


@pytest.mark.parametrize("headers, body, path, status, error_type", [
    ({}, {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}, "/v1/messages",
     401, "authentication_error"),
    ({"x-api-key": "k"}, {"model": "m", "messages": [{"role": "user", "content": "x"}]}, "/v1/messages",
     400, "invalid_request_error"),
    ({"x-api-key": "k"}, {"model": "m", "max_tokens": 8, "messages": []}, "/v1/messages",
     400, "invalid_request_error"),
    ({"x-api-key": "k"}, {}, "/v1/complete", 404, "not_found_error"),
])
def test_the_fake_server_rejects_requests_like_the_api(server, headers, body, path, status, error_type):
    request = urllib.request.Request(server.base_url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json", **headers})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == status
    assert json.loads(info.value.read())["error"]["type"] == error_type


def test_the_fake_server_answers_in_the_api_shape_and_accepts_x_api_key(server):
    server.enqueue(Reply("scripted", input_tokens=7, output_tokens=3))
    body = {"model": "m", "max_tokens": 8, "system": "sys", "messages": [{"role": "user", "content": "x y"}]}
    request = urllib.request.Request(server.base_url + "/v1/messages", data=json.dumps(body).encode(),
                                     method="POST", headers={"content-type": "application/json", "x-api-key": "k1"})
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = json.loads(response.read())
    assert answer["type"] == "message" and answer["role"] == "assistant" and answer["model"] == "m"
    assert answer["content"] == [{"type": "text", "text": "scripted"}] and answer["stop_reason"] == "end_turn"
    assert answer["usage"] == {"input_tokens": 7, "output_tokens": 3}
    assert server.requests[-1].api_key == "k1"
