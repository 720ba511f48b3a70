"""Budget pacing: the cost weight λ as a dual variable that keeps spend on the budget line.

After every job, λ moves in log space by η · (spent − target) / allowance, where the target is the budget
line (budget × jobs seen / expected jobs) and the allowance is what one job may spend on average: spending
ahead of the line raises λ (cheaper models win), falling behind lowers it (better models become
affordable). λ stays within [λ_min, λ_max]. Without a budget, λ stays at its base value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.scheduling.budget import BudgetLedger


@dataclass
class Pacer:
    base: float = 0.03
    eta: float = 0.2
    lam_min: float = 0.02
    lam_max: float = 50.0
    enabled: bool = True
    lam: float | None = None

    def __post_init__(self):
        if self.lam is None:
            self.lam = self.base

    def update(self, ledger: BudgetLedger) -> float:
        """Move λ after a job; returns the new value."""
        if not self.enabled or ledger.total_usd is None or not ledger.expected_jobs:
            self.lam = self.base
            return self.lam
        allowance = max(ledger.total_usd / ledger.expected_jobs, 1e-12)
        gap = (ledger.spent_usd - ledger.pace_target_usd()) / allowance
        step = max(-1.0, min(1.0, self.eta * gap))
        self.lam = min(self.lam_max, max(self.lam_min, self.lam * math.exp(step)))
        return self.lam
