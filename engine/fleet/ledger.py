"""`RedisLedger`: one budget for a fleet of schedulers, kept on a Redis server.

Implements the `Ledger` protocol (reserve → call → settle/release). Every operation is one server-side Lua
script, so "check what remains, then hold the worst case" is atomic across every process and thread:

* amounts are integers of nano-USD (1e-9 USD) on the server, so no float drift accumulates;
* each process keeps its settled spend, its finished jobs and its expected jobs in its own hash field
  (`spent`, `jobs`, `expected`), and fleet totals are their sums. A process that finds its field missing
  (Redis restarted without persistence) re-seeds it with what Redis had acknowledged from it, and re-holds
  its outstanding reservations, inside the same script: a restart is healed on the next call;
* a reservation is a hold with an expiry (`ttl_s`): a process killed mid-call leaves nothing behind after
  the TTL, and its already-settled spend stays counted. The TTL must exceed the longest call (client
  timeout × retries); a settle after expiry is still charged (the call was billed).

When Redis cannot be reached, the ledger goes on with a conservative local slice: what remained at the last
contact divided by the number of live schedulers, never more. Its charges are buffered and sent when Redis
answers again (tried at most every `retry_s`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass

from engine.scheduling.budget import Reservation

log = logging.getLogger(__name__)


NANO = 1_000_000_000   # nano-USD per USD
LIVE_WINDOW_MS = 60_000  # a scheduler seen within this window counts as live (for the offline slice)

_SCRIPT = r"""
local total_k, spent_k, jobs_k, expected_k, holds_k, amounts_k, owners_k, procs_k =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local op, me, total_arg = ARGV[1], ARGV[2], ARGV[3]
local acked_spent, acked_jobs, expected, jobs_delta, mine = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local rid, amount, arg = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if total_arg ~= '' then redis.call('SET', total_k, total_arg, 'NX') end
if redis.call('HEXISTS', spent_k, me) == 0 then
  -- first contact, or Redis lost its data: re-seed what it had acknowledged from this process
  redis.call('HSET', spent_k, me, acked_spent)
  redis.call('HSET', jobs_k, me, acked_jobs)
  for _, h in ipairs(cjson.decode(mine)) do
    if tonumber(h[3]) > now then
      redis.call('ZADD', holds_k, h[3], h[1]); redis.call('HSET', amounts_k, h[1], h[2])
      redis.call('HSET', owners_k, h[1], me)
    end
  end
end
redis.call('HSET', expected_k, me, expected)
if jobs_delta ~= '0' then redis.call('HINCRBY', jobs_k, me, jobs_delta) end
redis.call('ZADD', procs_k, now, me)
for _, id in ipairs(redis.call('ZRANGEBYSCORE', holds_k, '-inf', now)) do
  redis.call('ZREM', holds_k, id); redis.call('HDEL', amounts_k, id); redis.call('HDEL', owners_k, id)
end
local function sum(key)
  local s = 0
  for _, v in ipairs(redis.call('HVALS', key)) do s = s + tonumber(v) end
  return s
end
local ok = 1
if op == 'reserve' then
  local total = redis.call('GET', total_k)
  if total and sum(spent_k) + sum(amounts_k) + amount > tonumber(total) then
    ok = 0
  else
    redis.call('ZADD', holds_k, now + arg, rid); redis.call('HSET', amounts_k, rid, ARGV[10])
    redis.call('HSET', owners_k, rid, me)
  end
elseif op == 'hold' then   -- an offline reservation still open when Redis came back: hold it unchecked
  redis.call('ZADD', holds_k, now + arg, rid); redis.call('HSET', amounts_k, rid, ARGV[10])
  redis.call('HSET', owners_k, rid, me)
elseif op == 'settle' or op == 'release' then
  ok = redis.call('HDEL', amounts_k, rid)
  redis.call('ZREM', holds_k, rid); redis.call('HDEL', owners_k, rid)
  if op == 'settle' then redis.call('HINCRBY', spent_k, me, ARGV[11]) end
end
local total = redis.call('GET', total_k) or '-1'
local live = redis.call('ZCOUNT', procs_k, now - tonumber(ARGV[12]), '+inf')
return {ok, total, tostring(sum(spent_k)), tostring(sum(amounts_k)), tostring(sum(jobs_k)),
        tostring(sum(expected_k)), live, now}
"""


DEFAULT_TTL_S = 300.0


def fleet_ttl_s() -> float:
    """How long a reservation is held (`SLS_FLEET_TTL_S`, default 300 s): longer than the longest call
    (client timeout × retries), short enough that a killed process's holds come back soon."""
    raw = os.environ.get("SLS_FLEET_TTL_S", "").strip()
    if not raw:
        return DEFAULT_TTL_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        from engine.errors import SettingsError
        raise SettingsError(f"SLS_FLEET_TTL_S must be a number of seconds > 0, got {raw!r}")
    return value


def _nano(usd: float) -> int:
    """USD → nano-USD, rounded up (a reservation or a charge never comes out smaller than asked)."""
    return math.ceil(usd * NANO - 1e-6)


@dataclass(frozen=True)
class FleetView:
    """The fleet's budget as Redis last reported it (nano-USD)."""

    total: int | None
    spent: int
    reserved: int
    jobs: int
    expected: int
    live: int


class RedisLedger:
    """The fleet's budget on Redis (see the module docstring). Thread-safe.

    `jobs_seen` reads the fleet's finished jobs; assigning it sets THIS process's count of finished jobs
    (what `Engine.run` does); `count_jobs(n)` adds to it. `expected_jobs` likewise: each process adds its
    own, the fleet's is their sum.
    """

    def __init__(self, url: str, total_usd: float | None = None, expected_jobs: int | None = None, *,
                 namespace: str = "sls:fleet", ttl_s: float | None = None, retry_s: float = 0.5,
                 process_id: str | None = None, client=None, socket_timeout_s: float = 1.0,
                 max_age_s: float = 0.05, jobs_seen: int = 0, spent_usd: float = 0.0):
        import redis
        if total_usd is not None and (not math.isfinite(total_usd) or total_usd < 0):
            raise ValueError(f"budget must be a finite number >= 0 USD, got {total_usd!r}")
        self.url, self.namespace, self.ttl_s, self.retry_s = url, namespace, ttl_s or fleet_ttl_s(), retry_s
        self.max_age_s = max_age_s
        self.process_id = process_id or f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._redis = client or redis.Redis.from_url(url, socket_timeout=socket_timeout_s,
                                                     socket_connect_timeout=socket_timeout_s)
        self._script = self._redis.register_script(_SCRIPT)
        self._errors = (redis.ConnectionError, redis.TimeoutError, OSError)
        self._lock = threading.RLock()
        self._total = None if total_usd is None else _nano(total_usd)
        self._expected_local = int(expected_jobs or 0)
        # what this scheduler spent and finished before (a resumed run): on Redis already under this
        # `process_id`, or re-seeded from here on first contact (Redis lost its data)
        self._acked_spent = _nano(spent_usd)   # nano-USD Redis acknowledged from this process
        self._acked_jobs = int(jobs_seen)
        self._jobs_local = int(jobs_seen)      # this process's finished jobs (acked + not yet sent)
        self._holds: dict[str, tuple[int, int]] = {}    # online reservation id → (nano, expiry ms)
        self._pending: list[tuple[str, str, int]] = []  # buffered (op, id, nano) while Redis is down
        self._offline: dict[str, int] = {}              # reservations made while offline → nano
        self._view: FleetView | None = None
        self._view_now = 0
        self._seen_at = -math.inf
        self._down_since: float | None = None
        self._next_try = 0.0
        self._slice = 0                 # nano-USD this process may commit while offline
        self._slice_used = 0
        self.failures = 0               # Redis errors seen (for stats and tests)
        self._call("status")

    # -- the protocol ---------------------------------------------------------------------------------
    @property
    def total_usd(self) -> float | None:
        total = self._view.total if self._view is not None else self._total
        return None if total is None else total / NANO

    @property
    def expected_jobs(self) -> int | None:
        expected = self._view.expected if self._view is not None else self._expected_local
        return expected or None

    @expected_jobs.setter
    def expected_jobs(self, value: int | None) -> None:
        with self._lock:
            self._expected_local = int(value or 0)

    @property
    def jobs_seen(self) -> int:
        self._fresh()
        with self._lock:
            if self._view is None:
                return self._jobs_local
            return self._view.jobs + (self._jobs_local - self._acked_jobs)

    @jobs_seen.setter
    def jobs_seen(self, value: int) -> None:
        with self._lock:
            self._jobs_local = max(self._jobs_local, int(value))
        self._call("status")

    def count_jobs(self, n: int = 1) -> None:
        with self._lock:
            self._jobs_local += n
        self._call("status")

    def _fresh(self) -> None:
        """Refresh the fleet's figures when they are older than `max_age_s` (one round trip)."""
        if time.monotonic() - self._seen_at > self.max_age_s:
            self._call("status")

    @property
    def spent_usd(self) -> float:
        self._fresh()
        with self._lock:
            view = self._view.spent if self._view is not None else 0
            unsent = sum(n for op, _, n in self._pending if op == "settle")
            return (view + unsent) / NANO

    @property
    def own_spent_usd(self) -> float:
        """What THIS process has spent (acknowledged by Redis or buffered): for a pacer that compares its own
        spend per job with the fleet's `per_job_allowance()` (fleet spend moves with every process's jobs)."""
        with self._lock:
            return (self._acked_spent + sum(n for op, _, n in self._pending if op == "settle")) / NANO

    @property
    def remaining_usd(self) -> float:
        self._fresh()
        with self._lock:
            if self.total_usd is None:
                return math.inf
            if self._down_since is not None:
                return max(0, self._slice - self._slice_used) / NANO
            v = self._view
            return max(0, v.total - v.spent - v.reserved) / NANO

    @property
    def reserved_usd(self) -> float:
        """What the fleet's calls in flight hold (their worst cases), as Redis last reported it."""
        self._fresh()
        with self._lock:
            return 0.0 if self._view is None or self._down_since is not None else self._view.reserved / NANO

    def reserve_wait(self, amount_usd: float, timeout_s: float, step_s: float = 0.02) -> Reservation | None:
        """`reserve`, but while the fleet's calls in flight hold reservations wait (up to `timeout_s`) for
        them to settle: their bills are usually far below their worst cases."""
        deadline = time.monotonic() + timeout_s
        while True:
            held = self.reserve(amount_usd)
            if held is not None:
                return held
            total = self.total_usd
            if (total is None or time.monotonic() >= deadline or self.reserved_usd <= 0
                    or total - self.spent_usd < amount_usd):
                return None
            time.sleep(step_s)

    def reserve(self, amount_usd: float) -> Reservation | None:
        """Hold `amount_usd` of the fleet's budget; None when it does not fit (atomic across the fleet)."""
        if not math.isfinite(amount_usd) or amount_usd < 0:
            raise ValueError(f"cannot reserve {amount_usd!r} USD")
        nano = _nano(amount_usd)
        rid = f"{self.process_id}:{uuid.uuid4().hex[:12]}"
        with self._lock:
            ok = self._call("reserve", rid, nano, int(self.ttl_s * 1000))
            if ok is None:      # Redis is down: the local slice decides
                if self.total_usd is not None and self._slice_used + nano > self._slice:
                    return None
                self._slice_used += nano
                self._offline[rid] = nano
                return Reservation(rid, nano / NANO)
            if not ok:
                return None
            self._holds[rid] = (nano, int(self._view_now + self.ttl_s * 1000))
            return Reservation(rid, nano / NANO)

    def settle(self, reservation: Reservation, actual_usd: float) -> float:
        """Charge what the call really cost and drop its hold; returns the USD charged."""
        if not math.isfinite(actual_usd) or actual_usd < 0:
            raise ValueError(f"cannot charge {actual_usd!r} USD")
        nano = _nano(actual_usd)
        with self._lock:
            self._forget(reservation, nano)
            if self._call("settle", reservation.id, 0, nano) is None:
                self._pending.append(("settle", reservation.id, nano))
        return nano / NANO

    def release(self, reservation: Reservation) -> None:
        """The call failed and billed nothing: give the hold back."""
        with self._lock:
            self._forget(reservation, 0)
            if self._call("release", reservation.id, 0, 0) is None:
                self._pending.append(("release", reservation.id, 0))

    def per_job_allowance(self, spent_usd: float | None = None) -> float | None:
        """What each of the fleet's jobs still to come may spend on average to land on budget."""
        total, expected = self.total_usd, self.expected_jobs
        if total is None or not expected:
            return None
        spent = self.spent_usd if spent_usd is None else spent_usd
        return max(0.0, total - spent) / max(1, expected - self.jobs_seen)

    # -- compatibility with the in-process BudgetLedger ----------------------------------------------------
    def can_afford(self, amount_usd: float) -> bool:
        return amount_usd <= self.remaining_usd + 1e-15

    def charge(self, amount_usd: float) -> float:
        """Reserve and settle at once (callers without a reservation); raises when it does not fit."""
        reservation = self.reserve(amount_usd)
        if reservation is None:
            raise ValueError(f"charge of {amount_usd:.6f} USD exceeds the fleet's remaining budget")
        return self.settle(reservation, amount_usd)

    # -- state ---------------------------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self._down_since is None

    def view(self) -> FleetView | None:
        """The fleet's budget as last seen (refreshed from Redis when reachable)."""
        self._call("status")
        return self._view

    def per_process(self) -> dict[str, dict]:
        """Spend, finished and expected jobs of every scheduler that used this ledger (for a fleet view)."""
        keys = self._keys()
        out: dict[str, dict] = {}
        for field, key in (("spent_usd", keys[1]), ("jobs", keys[2]), ("expected", keys[3])):
            for proc, value in self._redis.hgetall(key).items():
                row = out.setdefault(proc.decode(), {})
                row[field] = int(value) / NANO if field == "spent_usd" else int(value)
        return out

    # -- internals -----------------------------------------------------------------------------------------
    def _keys(self) -> list[str]:
        n = self.namespace
        return [f"{n}:total", f"{n}:spent", f"{n}:jobs", f"{n}:expected", f"{n}:holds", f"{n}:hold_amount",
                f"{n}:hold_owner", f"{n}:procs"]

    def _forget(self, reservation: Reservation, charged: int) -> None:
        held = self._holds.pop(reservation.id, None)
        if held is not None and self._down_since is not None:
            # our own hold, settled while Redis is away: what it did not cost was ours alone to spend
            self._slice += held[0] - charged
        if reservation.id in self._offline:
            # an offline reservation: its slice is now the real charge
            self._slice_used -= self._offline.pop(reservation.id) - charged

    def _call(self, op: str, rid: str = "", amount: int = 0, arg: int = 0) -> bool | None:
        """Run the script (flushing buffered work first); None when Redis is unreachable."""
        with self._lock:
            if self._down_since is not None:
                if time.monotonic() < self._next_try:
                    return None
                if not self._flush():
                    return None
            try:
                result = self._run(op, rid, amount, arg)
            except self._errors as exc:
                self._went_down(exc)
                return None
            return bool(result)

    def _run(self, op: str, rid: str, amount: int, arg: int) -> int:
        jobs_delta = self._jobs_local - self._acked_jobs
        mine = json.dumps([[i, n, e] for i, (n, e) in self._holds.items()])
        reply = self._script(keys=self._keys(), args=[
            op, self.process_id, "" if self._total is None else self._total, self._acked_spent, self._acked_jobs,
            self._expected_local, jobs_delta, mine, rid, amount, arg, LIVE_WINDOW_MS])
        ok, total, spent, reserved, jobs, expected, live, now = reply
        self._acked_jobs += jobs_delta
        if op == "settle":
            self._acked_spent += arg
        total = int(float(total))
        self._view = FleetView(None if total < 0 else total, *(int(float(x)) for x in (spent, reserved, jobs,
                                                                                        expected)), int(live))
        self._view_now = int(now)
        self._seen_at = time.monotonic()
        return int(ok)

    def _went_down(self, exc: Exception) -> None:
        self.failures += 1
        self._next_try = time.monotonic() + self.retry_s
        if self._down_since is None:
            self._down_since = time.monotonic()
            v = self._view
            # Never more than this process's share of what remained: the others get theirs.
            self._slice = 0 if v is None or v.total is None else max(0, v.total - v.spent - v.reserved) // max(
                1, v.live)
            self._slice_used = 0
            log.warning("fleet budget: Redis at %s unreachable (%s); going on with a local slice of %.6f USD",
                        self.url, type(exc).__name__, self._slice / NANO)

    def _flush(self) -> bool:
        """Send what was buffered while Redis was down; True when all of it went through."""
        try:
            while self._pending:
                op, rid, nano = self._pending[0]
                self._run(op, rid, 0, nano)
                self._pending.pop(0)
        except self._errors as exc:
            self._went_down(exc)
            return False
        try:   # offline reservations still open are held on Redis, so the others cannot spend them
            for rid, nano in list(self._offline.items()):
                self._run("hold", rid, nano, int(self.ttl_s * 1000))
                self._holds[rid] = (nano, int(self._view_now + self.ttl_s * 1000))
                del self._offline[rid]
        except self._errors as exc:
            self._went_down(exc)
            return False
        log.info("fleet budget: Redis at %s is back", self.url)
        self._down_since = None
        self._slice_used = 0
        return True
