"""Budget pacing: the cost weight λ as a dual variable that keeps spend on the budget line.

After every job λ moves in log space by η · (c − ρ) / ρ, where c is what the job spent and ρ the rate
that lands exactly on budget from where the job started: the remaining budget divided by the jobs
still to come. Spending above the rate raises λ (cheaper models win), below it lowers λ (better models
become worth their price); a cache hit spends nothing and lowers λ a little, so the calls that the cache
does not answer may spend what the hits saved. This is multiplicative dual descent (online allocation
with a budget constraint, as in Balseiro, Lu & Mirrokni 2020) on a rate that re-plans after every job:
an early expensive call is paid back by the jobs that follow, without the wind-up of a controller on the
accumulated gap. One step moves λ by at most a factor e^`clip`; λ stays within [λ_min, λ_max], where λ_min
is a third of the base by default: a budget is a ceiling, not a target, and below that weight the extra
spend buys too little quality to be worth it (on arc-dev a $5.27 budget then spends $1.95 for 0.924
instead of all of it for 0.929). Without a budget λ stays at its base value.

λ steers *which* model a job gets; `curve_allowance` bounds *how much* has been spent by any point of the
stream: spend follows the straight line from nothing to the whole budget over the expected number of jobs
(the trace length in replay, a horizon live), and may run ahead of it by at most `deviation` of the budget.
A stream whose hard jobs come first (a new system coming online) therefore cannot spend the budget of the
jobs after it; and when the budget cannot pay the cheapest model for every job the cache will not answer,
the calls it can pay are spread evenly over the stream (a call whenever the line has accrued its price)
instead of going to whoever comes first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.scheduling.budget import BudgetLedger

DEVIATION = 0.10   # how far spend may run ahead of the target line, as a share of the budget


def curve_target(total_usd: float, jobs_done: int, expected_jobs: int) -> float:
    """The spend the target line allows once `jobs_done` jobs have been handled (capped at the budget)."""
    if expected_jobs <= 0:
        return total_usd
    return total_usd * min(1.0, max(0, jobs_done) / expected_jobs)


def curve_allowance(total_usd: float, spent_usd: float, jobs_seen: int, expected_jobs: int,
                    deviation: float = DEVIATION) -> float:
    """What the job now handled may spend so that spend stays within `deviation` × budget above the target
    line at the end of this job (never negative, never above what is left of the budget).

    >>> round(curve_allowance(10.0, 0.0, 0, 100), 6)        # first job: one job's share plus the deviation
    1.1
    >>> round(curve_allowance(10.0, 6.0, 49, 100), 6)       # ahead of the line by more than the deviation
    0.0
    """
    ahead = curve_target(total_usd, jobs_seen + 1, expected_jobs) + deviation * total_usd - spent_usd
    return max(0.0, min(total_usd - spent_usd, ahead))


@dataclass
class Pacer:
    base: float = 0.03
    eta: float = 0.05
    clip: float = 1.0
    lam_min: float | None = None     # default: base / 3
    lam_max: float = 50.0
    enabled: bool = True
    lam: float | None = None
    spent_usd: float = 0.0      # ledger spend when the last job was paced

    def __post_init__(self):
        if self.lam_min is None:
            self.lam_min = self.base / 3
        if self.lam is None:
            self.lam = self.base

    def update(self, ledger: BudgetLedger) -> float:
        """Move λ after a job (before the ledger counts it as seen); returns the new value."""
        rate = ledger.per_job_allowance(self.spent_usd)   # the rate as of when this job started
        spent, self.spent_usd = ledger.spent_usd - self.spent_usd, ledger.spent_usd
        if not self.enabled or rate is None:
            self.lam = self.base
        elif rate <= 0:
            self.lam = self.lam_max
        else:
            step = max(-self.clip, min(self.clip, self.eta * (spent - rate) / rate))
            self.lam = min(self.lam_max, max(self.lam_min, self.lam * math.exp(step)))
        return self.lam
