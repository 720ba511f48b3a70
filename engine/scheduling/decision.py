"""The decision: a pure function from per-model predictions to a choice, its table and its reason.

utility_j = p_j − λ · cost_j / c_ref − μ · latency_j / l_ref

Costs are divided by the median candidate's predicted cost (latencies by the slowest's), so λ and μ are
dimensionless — λ is "how much success probability one median-priced call is worth" — and one setting
works across traces whose prices differ by orders of magnitude. The median, not the maximum: with the
maximum, adding one very expensive model to the catalog would make every other model look free. Exploration is Thompson
sampling: when a random generator is given, `p_j` is drawn from a Beta distribution with the predicted mean
and the spread of a posterior over `n_obs + 2` observations, where `n_obs` is the model's evidence on this
task and dataset. So a model with little evidence gets tried, and exploration fades like 1/sqrt(n) as
evidence accumulates. The spread is deliberately not the per-job std, which also holds irreducible per-job
noise that trying the model again would not reduce.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.predictors import Prediction


@dataclass(frozen=True, slots=True)
class Row:
    """One candidate's line of the decision table."""

    model: str
    p_success: float
    p_std: float
    cost_usd: float
    latency_s: float
    utility: float
    sampled_utility: float     # the utility with p_success replaced by this job's Thompson draw
    affordable: bool

    def as_dict(self) -> dict:
        return {"model": self.model, "p_success": round(self.p_success, 4), "p_std": round(self.p_std, 4),
                "cost_usd": self.cost_usd, "latency_s": round(self.latency_s, 4),
                "utility": round(self.utility, 4), "affordable": self.affordable}


@dataclass(frozen=True, slots=True)
class Decision:
    """The chosen model (None when nothing is affordable), the full table and a one-line reason."""

    chosen: str | None
    table: tuple[Row, ...]
    reason: str
    cost_weight: float
    explored: bool = False     # Thompson sampling chose another model than the best expected utility

    @property
    def explore_gap(self) -> float:
        """Expected utility given up by choosing `chosen` instead of the best mean (0 when exploiting)."""
        rows = [r for r in self.table if r.affordable]
        chosen = next((r for r in rows if r.model == self.chosen), None)
        return max(0.0, max(r.utility for r in rows) - chosen.utility) if chosen is not None else 0.0

    def ranked(self, exclude: Sequence[str] = ()) -> list[Row]:
        """Affordable rows by expected utility (mean, not sampled), best first, without `exclude`."""
        rows = [r for r in self.table if r.affordable and r.model not in exclude]
        return sorted(rows, key=lambda r: (-r.utility, r.cost_usd, r.model))


def _beta_sample(rng: random.Random, mean: float, std: float) -> float:
    """A draw from the Beta distribution with this mean and std (moment matched; clipped to be valid)."""
    mean = min(max(mean, 1e-4), 1 - 1e-4)
    var = min(max(std, 1e-4) ** 2, mean * (1 - mean) * 0.999)
    k = mean * (1 - mean) / var - 1
    return rng.betavariate(max(mean * k, 1e-3), max((1 - mean) * k, 1e-3))


def explore_std(mean: float, n_obs: int) -> float:
    """The exploration spread of a model with `n_obs` observations on this task and dataset."""
    mean = min(max(mean, 0.01), 0.99)
    return math.sqrt(mean * (1 - mean) / (max(0, n_obs) + 2))


def decide(predictions: Mapping[str, Prediction], *, cost_weight: float, latency_weight: float = 0.0,
           remaining_usd: float = math.inf, rng: random.Random | None = None,
           explore_scale: float = 1.0, cost_reference: str = "median") -> Decision:
    """Choose the model with the best (sampled) utility among those whose predicted cost fits the budget."""
    if not predictions:
        return Decision(None, (), "no candidate model", cost_weight)
    costs = sorted(p.cost_usd for p in predictions.values())
    c_ref = (costs[-1] if cost_reference == "max" else costs[(len(costs) - 1) // 2]) or 1.0
    l_ref = max((p.latency_s for p in predictions.values()), default=0.0) or 1.0
    rows = []
    for name in sorted(predictions):
        p = predictions[name]
        sampled = (_beta_sample(rng, p.p_success, explore_scale * explore_std(p.p_success, p.n_obs))
                   if rng is not None else p.p_success)
        penalty = cost_weight * p.cost_usd / c_ref + latency_weight * p.latency_s / l_ref
        rows.append(Row(name, p.p_success, p.p_std, p.cost_usd, p.latency_s, p.p_success - penalty,
                        sampled - penalty, p.cost_usd <= remaining_usd))
    affordable = [r for r in rows if r.affordable]
    if not affordable:
        return Decision(None, tuple(rows), "nothing affordable within the remaining budget", cost_weight)
    best = max(affordable, key=lambda r: (r.sampled_utility, -r.cost_usd, r.model))
    top_mean = max(affordable, key=lambda r: (r.utility, -r.cost_usd, r.model))
    cheapest = min(affordable, key=lambda r: (r.cost_usd, r.model))
    explored = best.model != top_mean.model
    if explored:
        why = f"exploring: sampled utility of {best.model} beat the best expected ({top_mean.model})"
    elif best.model == cheapest.model:
        why = f"cheapest affordable model with the best utility (p={best.p_success:.2f})"
    else:
        why = (f"best utility p−λ·cost={best.utility:.3f} (p={best.p_success:.2f}, "
               f"${best.cost_usd:.5f}, λ={cost_weight:.3g})")
    return Decision(best.model, tuple(rows), why, cost_weight, explored)
