"""The budget ledger: what has been spent, what is reserved, what is left, and the pacing target.

A budget is a total in USD for a run, or USD per 1,000 jobs (converted to a total once the number of
jobs is known). The ledger is a ceiling under any concurrency: before a call the pipeline `reserve`s the
call's worst-case cost (atomically; refused when it does not fit), `settle`s the real cost after it and
`release`s the reservation when the call failed. `remaining_usd` counts outstanding reservations as spent,
so calls in flight can never together exceed the total. `Ledger` is the protocol every ledger implements
(this in-process one, and a shared one on Redis for a fleet).
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from engine.config import EXHAUSTED_BEHAVIOURS
from engine.errors import SettingsError

log = logging.getLogger(__name__)
_SLACK = 1e-15   # float slack of "fits the budget" (sums of many small costs)


class WhenExhausted(StrEnum):
    """What a job gets when no model call fits the budget any more (defined once, used everywhere)."""

    CACHE_ONLY = "cache_only"    # answer from the cache when it can, else refuse
    CHEAPEST = "cheapest"        # the cheapest model whose worst-case cost still fits, else refuse
    REFUSE = "refuse"            # refuse with a clear status, the cache included: the run's money is gone


if tuple(b.value for b in WhenExhausted) != EXHAUSTED_BEHAVIOURS:   # one list of names
    raise ImportError("WhenExhausted and engine.config.EXHAUSTED_BEHAVIOURS disagree")


@dataclass(frozen=True)
class Reservation:
    """Money set aside for one call until it is settled or released."""

    id: str
    amount_usd: float


@runtime_checkable
class Ledger(Protocol):
    total_usd: float | None          # None = no budget
    expected_jobs: int | None        # for pacing
    jobs_seen: int

    @property
    def spent_usd(self) -> float: ...

    @property
    def remaining_usd(self) -> float: ...

    def reserve(self, amount_usd: float) -> Reservation | None: ...

    def settle(self, reservation: Reservation, actual_usd: float) -> float: ...

    def release(self, reservation: Reservation) -> None: ...

    def per_job_allowance(self, spent_usd: float | None = None) -> float | None: ...


def resolve_budget(total_usd: float | None, per_1k_usd: float | None, n_jobs: int | None) -> float | None:
    """Total budget in USD, or None for no budget."""
    if total_usd is not None and per_1k_usd is not None:
        raise SettingsError("give a total budget or a budget per 1,000 jobs, not both")
    for name, value in (("budget", total_usd), ("budget per 1,000 jobs", per_1k_usd)):
        if value is not None and (not math.isfinite(value) or value < 0):
            raise SettingsError(f"{name} must be a finite number >= 0 USD, got {value!r}")
    if per_1k_usd is not None:
        if not n_jobs:
            raise SettingsError("a budget per 1,000 jobs needs the number of jobs")
        return per_1k_usd * n_jobs / 1000.0
    return total_usd


class BudgetLedger:
    """Spend accounting against an optional total, thread-safe. `expected_jobs` makes pacing possible."""

    def __init__(self, total_usd: float | None = None, expected_jobs: int | None = None, spent_usd: float = 0.0,
                 jobs_seen: int = 0):
        self.total_usd, self.expected_jobs, self.jobs_seen = total_usd, expected_jobs, jobs_seen
        self._spent = float(spent_usd)
        self._outstanding: dict[str, float] = {}
        self._ids = itertools.count()
        self._cond = threading.Condition(threading.Lock())
        self.exhausted = False     # set by the pipeline under `refuse` once nothing fits

    def __repr__(self) -> str:
        return (f"BudgetLedger(total_usd={self.total_usd}, spent_usd={self._spent:.6g}, "
                f"reserved_usd={self.reserved_usd:.6g}, jobs_seen={self.jobs_seen})")

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_cond"), state.pop("_ids")
        state["_outstanding"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._ids = itertools.count()
        self._cond = threading.Condition(threading.Lock())

    @property
    def spent_usd(self) -> float:
        """Settled spend."""
        return self._spent

    @spent_usd.setter
    def spent_usd(self, value: float) -> None:   # restoring a checkpoint
        with self._cond:
            self._spent = float(value)

    @property
    def reserved_usd(self) -> float:
        """Money set aside for calls in flight."""
        return sum(self._outstanding.values())

    @property
    def remaining_usd(self) -> float:
        if self.total_usd is None:
            return math.inf
        return max(0.0, self.total_usd - self._spent - sum(self._outstanding.values()))

    def can_afford(self, amount_usd: float) -> bool:
        return amount_usd <= self.remaining_usd + _SLACK

    def reserve(self, amount_usd: float) -> Reservation | None:
        """Set `amount_usd` aside for a call, atomically; None when it does not fit what is left."""
        if amount_usd < 0 or not math.isfinite(amount_usd):
            raise ValueError(f"cannot reserve {amount_usd!r} USD")
        with self._cond:
            if not self.can_afford(amount_usd):
                return None
            reservation = Reservation(f"r{next(self._ids)}", float(amount_usd))
            self._outstanding[reservation.id] = reservation.amount_usd
            return reservation

    def settle(self, reservation: Reservation, actual_usd: float) -> float:
        """Charge what the call really cost and free its reservation; returns the charge. A cost above the
        reservation (a worst case that was not one) is still recorded — the ledger says what was billed."""
        if actual_usd < 0 or not math.isfinite(actual_usd):
            raise ValueError(f"cannot settle {actual_usd!r} USD")
        with self._cond:
            if self._outstanding.pop(reservation.id, None) is None:
                raise ValueError(f"reservation {reservation.id} is not outstanding (settled or released twice?)")
            if actual_usd > reservation.amount_usd + _SLACK:
                log.warning("a call cost %.6f USD, above its reservation of %.6f USD", actual_usd,
                            reservation.amount_usd)
            self._spent += actual_usd
            self._cond.notify_all()
            return actual_usd

    def release(self, reservation: Reservation) -> None:
        """The call failed (nothing billed): give its reservation back."""
        with self._cond:
            self._outstanding.pop(reservation.id, None)
            self._cond.notify_all()

    def reserve_wait(self, amount_usd: float, timeout_s: float) -> Reservation | None:
        """`reserve`, but while other calls hold reservations wait (up to `timeout_s`) for them to settle:
        their real cost is usually far below their worst case, and what they give back may fit this call."""
        if amount_usd < 0 or not math.isfinite(amount_usd):
            raise ValueError(f"cannot reserve {amount_usd!r} USD")
        with self._cond:
            self._cond.wait_for(lambda: self.can_afford(amount_usd) or not self._outstanding, timeout=timeout_s)
            if not self.can_afford(amount_usd):
                return None
            reservation = Reservation(f"r{next(self._ids)}", float(amount_usd))
            self._outstanding[reservation.id] = reservation.amount_usd
            return reservation

    def wait_settled(self, timeout_s: float) -> bool:
        """Wait until no reservation is outstanding (calls in flight settled); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._outstanding, timeout=timeout_s)

    def charge(self, amount_usd: float) -> float:
        """Record a spend outright (reserve + settle); raises if it does not fit (callers check first)."""
        if amount_usd < 0 or not math.isfinite(amount_usd):
            raise ValueError(f"cannot charge {amount_usd!r} USD")
        reservation = self.reserve(amount_usd)
        if reservation is None:
            raise ValueError(f"charge of {amount_usd:.6f} USD exceeds the remaining {self.remaining_usd:.6f} USD")
        return self.settle(reservation, amount_usd)

    def pace_target_usd(self) -> float | None:
        """Spend the budget line says we should be at after `jobs_seen` jobs (None without pacing data)."""
        if self.total_usd is None or not self.expected_jobs:
            return None
        return self.total_usd * min(1.0, self.jobs_seen / self.expected_jobs)

    def per_job_allowance(self, spent_usd: float | None = None) -> float | None:
        """What each job still to come (this one included) may spend on average to land on budget, as of
        `spent_usd` (default: what has been spent); None without a budget or a number of jobs."""
        if self.total_usd is None or not self.expected_jobs:
            return None
        spent = self._spent if spent_usd is None else spent_usd
        return max(0.0, self.total_usd - spent) / max(1, self.expected_jobs - self.jobs_seen)
