"""ResilientClient with fake chat models: retries, backoff, retry-after, malformed answers, breaker,
fallback, secrets. No network, no real sleeping."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from langchain_core.messages import AIMessage
from pydantic import SecretStr

from engine.catalog import Catalog, ModelSpec
from engine.clients import (
    BreakerPolicy,
    BreakerState,
    FakeChatModel,
    FakeReply,
    ModelCallError,
    ResilientClient,
    RetryPolicy,
    parse_retry_after,
)
from engine.clients.fake import (
    FakeAPIError,
    connection_failed,
    overloaded,
    rate_limited,
    server_error,
    timed_out,
)
from engine.clients.resilience import Scrubber, classify
from engine.errors import ClientError, UnknownNameError
from tests.clients.conftest import SECRET_KEY

CATALOG = Catalog([ModelSpec("a", "fake", 1.0, 5.0), ModelSpec("b", "fake", 2.0, 10.0),
                   ModelSpec("c", "fake", 3.0, 15.0)])


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Sleeps(list):
    """Records the backoff delays instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(models, *, attempts=3, threshold=5, cooldown=30.0, clock=None, seed=0, **policy):
    sleeps = Sleeps()
    client = ResilientClient(
        models, CATALOG, retry=RetryPolicy(max_attempts=attempts, seed=seed, **policy),
        breaker=BreakerPolicy(failure_threshold=threshold, cooldown_s=cooldown),
        clock=clock or Clock(), sleep=sleeps)
    return client, sleeps


def test_a_clean_answer_is_priced_from_usage_and_catalog():
    model = FakeChatModel(script=[FakeReply("hello", input_tokens=1000, output_tokens=200)])
    client, sleeps = make_client({"a": model})
    got = client.call("a", "hi")
    assert (got.text, got.input_tokens, got.output_tokens, got.attempts, got.error) == ("hello", 1000, 200, 1, None)
    assert got.cost_usd == pytest.approx((1000 * 1.0 + 200 * 5.0) / 1e6)
    assert got.latency_modelled is False and got.latency_s >= 0
    assert sleeps == []


@pytest.mark.parametrize("error, kind", [
    (rate_limited(), "rate_limited"), (server_error(500), "server_error"), (server_error(503), "server_error"),
    (overloaded(), "overloaded"), (timed_out(), "timeout"), (connection_failed(), "connection"),
    (FakeAPIError(408), "timeout"),
])
def test_transient_errors_are_retried_and_the_overcome_error_is_reported(error, kind):
    model = FakeChatModel(script=[error, "ok"])
    client, sleeps = make_client({"a": model})
    got = client.call("a", "hi")
    assert got.text == "ok" and got.attempts == 2 and model.calls == 2
    assert got.error is not None and type(error).__name__ in got.error
    assert len(sleeps) == 1
    assert classify(error).kind == kind


def test_backoff_is_exponential_jittered_capped_and_seeded():
    def delays(seed):
        model = FakeChatModel(script=[server_error()] * 6)
        client, sleeps = make_client({"a": model}, attempts=6, threshold=10, seed=seed, base_delay_s=1.0, multiplier=2.0,
                                     max_delay_s=5.0, jitter=0.5)
        with pytest.raises(ModelCallError):
            client.call("a", "hi")
        return list(sleeps)

    first = delays(seed=7)
    assert first == delays(seed=7) and first != delays(seed=8)
    assert len(first) == 5
    for k, delay in enumerate(first, start=1):
        raw = min(5.0, 2.0 ** (k - 1))
        assert raw * 0.5 <= delay <= raw


def test_retry_after_seconds_is_honoured_and_capped():
    model = FakeChatModel(script=[rate_limited(retry_after=3), rate_limited(retry_after=120), "ok"])
    client, sleeps = make_client({"a": model}, retry_after_cap_s=10.0)
    assert client.call("a", "hi").attempts == 3
    assert sleeps == [3.0, 10.0]


def test_parse_retry_after_reads_seconds_milliseconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    in_30s = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": "2.5"}) == 2.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": in_30s}, now=now.timestamp()) == pytest.approx(30.0)
    assert parse_retry_after({"retry-after": in_30s}, now=now.timestamp() + 60) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


def test_retry_after_http_date_drives_the_wait():
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    model = FakeChatModel(script=[rate_limited(retry_after=when), "ok"])
    client, sleeps = make_client({"a": model})
    client.call("a", "hi")
    assert 3.0 <= sleeps[0] <= 5.0


@pytest.mark.parametrize("bad", [
    AIMessage(content=[{"type": "image", "source": {}}]),   # no text block
    AIMessage(content=[]),                                   # empty content list
    AIMessage(content="no usage"),                           # usage missing
    AIMessage(content="raw usage lost", usage_metadata={"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
              response_metadata={"usage": None}),            # what ChatAnthropic makes of a body without usage
    ValueError("Expecting value: line 1 column 1"),          # non-JSON body
    AttributeError("'str' object has no attribute 'model_dump'"),  # body of the wrong shape
])
def test_malformed_answers_are_failures_that_are_retried(bad):
    model = FakeChatModel(script=[bad, "good"])
    client, _ = make_client({"a": model})
    got = client.call("a", "hi")
    assert got.text == "good" and got.attempts == 2


def test_malformed_answers_can_be_made_non_retryable():
    model = FakeChatModel(script=[AIMessage(content=[])])
    client, _ = make_client({"a": model}, retry_malformed=False)
    with pytest.raises(ModelCallError) as info:
        client.call("a", "hi")
    assert info.value.kind == "malformed" and model.calls == 1


def test_exhausted_retries_raise_a_client_error_with_the_failure():
    model = FakeChatModel(script=[server_error(502)] * 3)
    client, _ = make_client({"a": model})
    with pytest.raises(ClientError) as info:
        client.call("a", "hi")
    failure = info.value.failures[0]
    assert (failure.model, failure.kind, failure.attempts, failure.status_code) == ("a", "server_error", 3, 502)
    assert "model 'a' failed (server_error, 3 attempts)" in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize("status, kind", [(400, "bad_request"), (401, "auth"), (404, "not_found")])
def test_client_side_errors_are_not_retried(status, kind):
    model = FakeChatModel(script=[FakeAPIError(status, "nope"), "never"])
    client, sleeps = make_client({"a": model})
    with pytest.raises(ModelCallError) as info:
        client.call("a", "hi")
    assert info.value.kind == kind and model.calls == 1 and sleeps == []


def test_bad_requests_do_not_trip_the_breaker():
    model = FakeChatModel(script=[FakeAPIError(400)] * 5)
    client, _ = make_client({"a": model}, threshold=2)
    for _ in range(5):
        with pytest.raises(ModelCallError):
            client.call("a", "hi")
    assert client.breaker("a").state is BreakerState.CLOSED


def test_fallback_goes_to_the_next_model_and_reports_the_failure():
    a = FakeChatModel(script=[server_error()] * 3)
    b = FakeChatModel(script=[FakeReply("from b", 10, 2)])
    client, _ = make_client({"a": a, "b": b})
    result = client.call_with_fallback(["a", "b"], "hi")
    assert result.model == "b" and result.completion.text == "from b" and result.fell_back
    assert [(f.model, f.kind, f.attempts) for f in result.failures] == [("a", "server_error", 3)]
    assert result.completion.cost_usd == pytest.approx((10 * 2.0 + 2 * 10.0) / 1e6)


def test_fallback_when_everything_fails_lists_every_failure():
    a = FakeChatModel(script=[timed_out()] * 2)
    b = FakeChatModel(script=[FakeAPIError(401, "bad key")])
    client, _ = make_client({"a": a, "b": b}, attempts=2)
    with pytest.raises(ModelCallError) as info:
        client.call_with_fallback(["a", "b"], "hi")
    assert [(f.model, f.kind) for f in info.value.failures] == [("a", "timeout"), ("b", "auth")]
    assert "all 2 models failed" in str(info.value)


def test_breaker_opens_rejects_fast_half_opens_and_closes():
    clock = Clock()
    a = FakeChatModel(script=[server_error()] * 4 + ["recovered"])
    b = FakeChatModel()
    client, _ = make_client({"a": a, "b": b}, attempts=2, threshold=4, cooldown=30.0, clock=clock)

    for _ in range(2):                                # 2 calls x 2 attempts = 4 consecutive failures
        with pytest.raises(ModelCallError):
            client.call("a", "hi")
    assert client.breaker("a").state is BreakerState.OPEN and a.calls == 4

    with pytest.raises(ModelCallError) as info:      # rejected without touching the model
        client.call("a", "hi")
    assert info.value.kind == "circuit_open" and info.value.failures[0].attempts == 0 and a.calls == 4
    result = client.call_with_fallback(["a", "b"], "hi")
    assert result.model == "b" and result.failures[0].kind == "circuit_open" and a.calls == 4

    clock.now += 30.0                                 # cool-down over: one probe goes out
    assert client.breaker_states()["a"] is BreakerState.HALF_OPEN
    assert client.call("a", "hi").text == "recovered" and a.calls == 5
    assert client.breaker("a").state is BreakerState.CLOSED


def test_breaker_opening_mid_call_stops_the_retries():
    a = FakeChatModel(script=[server_error()] * 10)
    client, sleeps = make_client({"a": a}, attempts=5, threshold=2)
    with pytest.raises(ModelCallError) as info:
        client.call("a", "hi")
    assert a.calls == 2 and len(sleeps) == 1
    assert info.value.kind == "server_error" and "circuit breaker opened" in str(info.value)


def test_failed_half_open_probe_reopens():
    clock = Clock()
    a = FakeChatModel(script=[server_error()] * 3)
    client, _ = make_client({"a": a}, attempts=1, threshold=2, cooldown=10, clock=clock)
    for _ in range(2):
        with pytest.raises(ModelCallError):
            client.call("a", "hi")
    clock.now += 10
    with pytest.raises(ModelCallError) as info:
        client.call("a", "hi")
    assert info.value.kind == "server_error" and a.calls == 3
    assert client.breaker("a").state is BreakerState.OPEN


def test_the_key_never_reaches_logs_errors_or_reprs(caplog):
    leaky = FakeAPIError(401, f"invalid x-api-key {SECRET_KEY}")
    a = FakeChatModel(script=[FakeAPIError(500, f"upstream said key={SECRET_KEY}")] * 3)
    b = FakeChatModel(script=[leaky])
    caplog.set_level(logging.DEBUG)
    client = ResilientClient({"a": a, "b": b}, CATALOG, retry=RetryPolicy(max_attempts=3, base_delay_s=0),
                             secrets=[SecretStr(SECRET_KEY)], sleep=lambda s: None)
    with pytest.raises(ModelCallError) as info:
        client.call_with_fallback(["a", "b"], "hi")
    texts = [str(info.value), repr(info.value), repr(client), caplog.text,
             *(f.message for f in info.value.failures), *(repr(f) for f in info.value.failures)]
    assert all(SECRET_KEY not in t for t in texts)
    assert "[REDACTED]" in str(info.value) and "[REDACTED]" in caplog.text


def test_scrubber_takes_keys_from_the_environment_and_ignores_trivial_values(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET_KEY)
    client = ResilientClient({"a": FakeChatModel()}, CATALOG)
    assert client.scrub(f"x{SECRET_KEY}y") == "x[REDACTED]y"
    assert Scrubber(["", None, "ab"])("ab") == "ab"
    assert SECRET_KEY not in repr(Scrubber([SECRET_KEY]))


def test_unknown_model_and_empty_fallback_list_are_errors():
    client, _ = make_client({"a": FakeChatModel()})
    with pytest.raises(UnknownNameError, match="no client for model 'zzz'"):
        client.call("zzz", "hi")
    with pytest.raises(ClientError, match="non-empty"):
        client.call_with_fallback([], "hi")


def test_async_call_retries_and_falls_back():
    a = FakeChatModel(script=[overloaded()] * 2)
    b = FakeChatModel(script=[rate_limited(retry_after=0.5), "async b"])
    waits = []

    async def asleep(seconds):
        waits.append(seconds)

    client = ResilientClient({"a": a, "b": b}, CATALOG, retry=RetryPolicy(max_attempts=2, base_delay_s=0.01),
                             asleep=asleep)
    result = asyncio.run(client.acall_with_fallback(["a", "b"], "hi"))
    assert result.model == "b" and result.completion.attempts == 2 and result.failures[0].kind == "overloaded"
    assert waits[-1] == 0.5 and len(waits) == 2
    assert asyncio.run(client.acall("b", "again")).text == "again"


def test_one_client_serves_a_thread_pool():
    model = FakeChatModel(delay_s=0.01)
    client, _ = make_client({"a": model})
    with ThreadPoolExecutor(max_workers=8) as pool:
        texts = list(pool.map(lambda i: client.call("a", f"job {i}").text, range(40)))
    assert texts == [f"job {i}" for i in range(40)] and model.calls == 40
