"""Names and defaults defined once, cheap to import (the CLI, the settings, the engine and the dashboard
all read them here): feedback modes, exhaustion behaviours and the default cost weight."""

from __future__ import annotations

FEEDBACK_MODES = ("reference", "verifier", "none")
EXHAUSTED_BEHAVIOURS = ("cache_only", "cheapest", "refuse")   # members of `scheduling.budget.WhenExhausted`
DEFAULT_SWEEP_SEEDS = 3     # replays per budget a what-if sweep averages (runs differ by seed)
DEFAULT_COST_WEIGHT = 0.03   # λ without a budget: success probability traded for one median-priced call
