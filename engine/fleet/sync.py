"""Shared learning for a fleet: every feedback event goes to one Redis stream, and each scheduler folds the
OTHER schedulers' events into its own learned state (predictors, cache thresholds, drift monitors).

Exactly once, across crashes and Redis restarts:

* an event is `(origin, seq)`: the scheduler that learned it and its own feedback sequence number. Events of
  one origin are published in `seq` order, so a consumer keeps, per origin, the highest seq it applied and
  skips anything at or below it (a re-published event is ignored);
* the consumer's stream position, that per-origin high-water mark and the publisher's outbox (events
  learned here but not yet on Redis) are `FleetState`, kept INSIDE the learned state (an attribute of the
  update manager, pickled with it in every committed snapshot): a restart resumes from the position the
  state was saved with, re-reads what came after it, and re-publishes what it had not sent;
* Redis restarted without its data (a new `epoch` key): publishers re-send the last `retain` events they
  published — from their journal (the workspace's event log) when they have one, so a scheduler that was
  killed meanwhile re-sends them when it starts again — and consumers read the new stream from its start
  (the high-water marks drop the ones they had).

Events are JSON (never pickle): a process trusts another's numbers, not its code.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


# -- what a scheduler keeps with its learned state --------------------------------------------------------
@dataclass
class FleetState:
    """Pickled with the learned state: where this scheduler is in the stream, what it applied, what it owes."""

    origin: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    position: str = "0-0"                                  # last stream id read
    applied: dict[str, int] = field(default_factory=dict)  # origin → highest seq applied here
    outbox: list[dict] = field(default_factory=list)       # events learned here, not yet on Redis
    epoch: str | None = None                               # the Redis data set the position refers to
    foreign_applied: int = 0
    published: int = 0

    def fresh(self, event: dict) -> bool:
        return event["origin"] != self.origin and event["seq"] > self.applied.get(event["origin"], -1)


# -- the stream -------------------------------------------------------------------------------------------
class FleetSync:
    """One Redis stream of feedback events. `publish` never raises: while Redis is down events wait in the
    state's outbox. `poll` returns the foreign events after the saved position (empty while down)."""

    def __init__(self, url: str, state: FleetState | None = None, *, namespace: str = "sls:fleet",
                 retain: int = 10_000, maxlen: int = 1_000_000, retry_s: float = 0.5, client=None,
                 socket_timeout_s: float = 1.0, journal=None):
        import redis
        self.url, self.namespace, self.retry_s, self.maxlen = url, namespace, retry_s, maxlen
        self.state = state or FleetState()
        self._redis = client or redis.Redis.from_url(url, socket_timeout=socket_timeout_s,
                                                     socket_connect_timeout=socket_timeout_s)
        self._errors = (redis.ConnectionError, redis.TimeoutError, OSError)
        self._retained: deque[dict] = deque(maxlen=retain)   # sent events, re-sent if Redis loses its data
        self.retain = retain
        self.journal = journal     # durable copy of what was published (`EventLog`), or None: in memory only
        self._lock = threading.RLock()
        self._next_try = 0.0
        self.failures = 0

    @property
    def stream(self) -> str:
        return f"{self.namespace}:events"

    @property
    def online(self) -> bool:
        return self._next_try == 0.0

    def attach(self, state: FleetState) -> None:
        """Use the state restored with the learned state (its position, marks and outbox)."""
        with self._lock:
            self.state = state

    def publish(self, event: dict) -> None:
        """Queue `event` (this scheduler's) and send the outbox if Redis answers."""
        with self._lock:
            if self.journal is not None:
                self.journal.add_fleet_event(event["origin"], event["seq"], json.dumps(event))
            self.state.outbox.append(event)
            self.flush()

    def flush(self) -> bool:
        """Send the outbox in order; True when it is empty."""
        with self._lock:
            if not self._reachable():
                return False
            try:
                self._check_epoch()
                while self.state.outbox:
                    event = self.state.outbox[0]
                    self._redis.xadd(self.stream, {"e": json.dumps(event)}, maxlen=self.maxlen, approximate=True)
                    self.state.outbox.pop(0)
                    if self.journal is None:
                        self._retained.append(event)
                    self.state.published += 1
            except self._errors as exc:
                self._down(exc)
                return False
            return True

    def poll(self, count: int = 1000) -> list[tuple[str, dict]]:
        """Foreign events after the saved position, as (stream id, event). The caller applies each and then
        calls `advance(stream_id, event)` (under the same lock as its learned state)."""
        with self._lock:
            if not self.flush():
                return []
            try:
                reply = self._redis.xread({self.stream: self.state.position}, count=count)
            except self._errors as exc:
                self._down(exc)
                return []
        out = []
        for _, entries in reply or ():
            for sid, fields in entries:
                sid = sid.decode() if isinstance(sid, bytes) else sid
                try:
                    event = json.loads(fields[b"e"] if b"e" in fields else fields["e"])
                except (KeyError, ValueError) as exc:
                    log.warning("fleet stream %s: skipping unreadable event %s (%s)", self.stream, sid, exc)
                    event = None
                out.append((sid, event))
        return out

    def advance(self, stream_id: str, event: dict | None) -> None:
        """Record that `event` (read at `stream_id`) was applied, or skipped as one of ours or seen."""
        self.state.position = stream_id
        if event is not None and event.get("origin") != self.state.origin:
            self.state.applied[event["origin"]] = max(self.state.applied.get(event["origin"], -1), event["seq"])

    def position(self) -> str:
        return self.state.position

    def set_position(self, stream_id: str) -> None:
        self.state.position = stream_id

    # -- internals -------------------------------------------------------------------------------------
    def _reachable(self) -> bool:
        return self._next_try == 0.0 or time.monotonic() >= self._next_try

    def _down(self, exc: Exception) -> None:
        self.failures += 1
        if self._next_try == 0.0:
            log.warning("fleet learning: Redis at %s unreachable (%s); buffering events", self.url,
                        type(exc).__name__)
        self._next_try = time.monotonic() + self.retry_s

    def _sent(self) -> list[dict]:
        """The last `retain` events this scheduler published, oldest first."""
        if self.journal is None:
            return list(self._retained)
        return [json.loads(e) for e in self.journal.fleet_events(self.state.origin, self.retain)]

    def _check_epoch(self) -> None:
        """Detect a Redis that lost its data: read the new stream from its start, re-send what we retain."""
        key = f"{self.namespace}:epoch"
        self._redis.set(key, uuid.uuid4().hex, nx=True)
        epoch = self._redis.get(key)
        epoch = epoch.decode() if isinstance(epoch, bytes) else epoch
        if self._next_try != 0.0:
            log.info("fleet learning: Redis at %s is back", self.url)
        self._next_try = 0.0
        if epoch == self.state.epoch:
            return
        if self.state.epoch is not None:
            waiting = {e["seq"] for e in self.state.outbox if e["origin"] == self.state.origin}
            sent = [e for e in self._sent() if e["seq"] not in waiting]
            log.warning("fleet learning: Redis at %s lost its data; re-sending %d events", self.url, len(sent))
            # in seq order: a consumer skips an event below one of the same origin it already applied
            self.state.outbox = sorted(sent + self.state.outbox, key=lambda e: e["seq"])
            self._retained.clear()
            self.state.position = "0-0"
        self.state.epoch = epoch
