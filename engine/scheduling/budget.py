"""The budget ledger: what has been spent, what is left, and the pacing target.

A budget is a total in USD for a run, or USD per 1,000 jobs (converted to a total once the number of
jobs is known). The ledger never lets spend exceed the budget: `charge` refuses what does not fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.errors import SettingsError

EXHAUSTED_BEHAVIOURS = ("cache_only", "cheapest", "refuse")


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


@dataclass
class BudgetLedger:
    """Spend accounting against an optional total. `expected_jobs` makes pacing possible."""

    total_usd: float | None = None
    expected_jobs: int | None = None
    spent_usd: float = 0.0
    jobs_seen: int = 0

    @property
    def remaining_usd(self) -> float:
        return math.inf if self.total_usd is None else max(0.0, self.total_usd - self.spent_usd)

    def can_afford(self, amount_usd: float) -> bool:
        return amount_usd <= self.remaining_usd + 1e-15

    def charge(self, amount_usd: float) -> float:
        """Record a spend; returns what was charged. Raises if it does not fit (callers check first)."""
        if amount_usd < 0 or not math.isfinite(amount_usd):
            raise ValueError(f"cannot charge {amount_usd!r} USD")
        if not self.can_afford(amount_usd):
            raise ValueError(f"charge of {amount_usd:.6f} USD exceeds the remaining {self.remaining_usd:.6f} USD")
        self.spent_usd += amount_usd
        return amount_usd

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
        spent = self.spent_usd if spent_usd is None else spent_usd
        return max(0.0, self.total_usd - spent) / max(1, self.expected_jobs - self.jobs_seen)
