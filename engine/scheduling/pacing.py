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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.scheduling.budget import BudgetLedger


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
