"""A per-model circuit breaker: stop calling a model that keeps failing, probe it again after a cool-down.

    closed ──N consecutive failures──► open ──cooldown elapsed──► half-open (one probe allowed)
      ▲                                 ▲                              │
      └──────────── probe succeeds ─────┼──────────────────────────────┤
                                        └──────── probe fails ─────────┘

Thread-safe; the clock is injectable so tests step through the cool-down without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive failed attempts of one model and decides whether the next attempt may go out."""

    def __init__(self, failure_threshold: int = 5, cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, name: str = ""):
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if cooldown_s < 0:
            raise ValueError("cooldown_s must be >= 0")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    def __repr__(self) -> str:
        return (f"CircuitBreaker(name={self.name!r}, state={self.state.value}, "
                f"consecutive_failures={self._failures})")

    @property
    def state(self) -> BreakerState:
        """The state as of now; an open breaker whose cool-down has elapsed reads as half-open."""
        with self._lock:
            if self._state is BreakerState.OPEN and self._cooled_down():
                return BreakerState.HALF_OPEN
            return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when calls are allowed)."""
        with self._lock:
            if self._state is not BreakerState.OPEN:
                return 0.0
            return max(0.0, self._opened_at + self.cooldown_s - self._clock())

    def allow(self) -> bool:
        """Whether an attempt may be made now. In half-open state exactly one caller (the probe) gets True
        until it reports its outcome."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.OPEN:
                if not self._cooled_down():
                    return False
                self._state = BreakerState.HALF_OPEN
                self._probe_in_flight = False
            if self._probe_in_flight:
                return False
            self._probe_in_flight = True
            return True

    def record_success(self) -> None:
        """The attempt succeeded (or the service proved alive): close and reset the count."""
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._probe_in_flight = False

    def record_failure(self) -> None:
        """The attempt failed: count it; open on the threshold, or again at once after a failed probe."""
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                self._probe_in_flight = False

    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self.cooldown_s
