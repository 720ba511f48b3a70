"""CircuitBreaker state machine with an injected clock."""

from __future__ import annotations

from engine.clients import BreakerState, CircuitBreaker


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_n_consecutive_failures_only():
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=10, clock=Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()           # resets the streak
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_half_opens_after_cooldown_with_a_single_probe_then_closes_on_success():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=10, clock=clock)
    breaker.record_failure()
    clock.now += 9.9
    assert not breaker.allow() and breaker.retry_in() > 0
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN and breaker.retry_in() == 0.0
    assert breaker.allow()               # the probe
    assert not breaker.allow()           # nobody else while it is in flight
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.allow()


def test_failed_probe_reopens_for_a_full_cooldown():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=5, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_repr_shows_state_not_internals():
    assert "state=closed" in repr(CircuitBreaker(name="m"))
