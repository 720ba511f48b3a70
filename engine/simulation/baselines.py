"""Simple and hindsight baselines: single models, random, cheapest, best single model, per-query oracle.

Hindsight baselines (`best-single`, `oracle`) look at every outcome: they are bounds, not policies one
could run. They use the trace's recorded scores so that their figures match the trace's documentation.
"""

from __future__ import annotations

import math
import random

import numpy as np

from engine.simulation.env import ReplayEnv
from engine.simulation.policy import ReplayOptions, register
from engine.simulation.records import StepRecord


def model_prices(env: ReplayEnv) -> np.ndarray:
    """A cheapness order key per model: the catalog's blended price when every model has prices, else the
    trace's mean cost per call (what the calls cost, not the database's list prices)."""
    if all(spec.has_prices for spec in env.specs):
        return np.array([spec.blended_price for spec in env.specs], dtype=float)
    return np.nanmean(env.trace.costs, axis=0)


def mean_scores(env: ReplayEnv) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(np.nanmean(env.trace.scores, axis=0), nan=0.0)


class FixedChoice:
    """Calls the model `choose(i)` returns for job i; refuses when the budget is spent."""

    def __init__(self, name: str, choose):
        self.name = name
        self._choose = choose

    def run_job(self, i: int, env: ReplayEnv) -> StepRecord:
        job = env.job(i)
        j = self._choose(i, env) if env.available(i) else None
        if j is None or not env.has_outcome(i, j):    # a workspace's job never answered by this model
            return StepRecord.missing(i, job)
        if env.ledger.remaining_usd <= 0:
            return StepRecord.refused(i, job)
        result = env.call(i, j)
        return StepRecord(i, job.job_id, job.task, job.dataset, "model", result.model, attempts=1,
                          score=result.score, cost_usd=result.cost_usd, latency_s=result.latency_s,
                          models_tried=(result.model,), reason=self.name)

    def finish(self) -> dict:
        return {}


@register("single", "always the same model", "baseline", "recorded")
def single(env: ReplayEnv, options: ReplayOptions):
    j = env.models.index(options.policy_params["model"])
    return FixedChoice(f"single:{env.models[j]}", lambda i, env: j)


@register("random", "a uniformly random available model per job", "baseline", "recorded")
def random_policy(env: ReplayEnv, options: ReplayOptions):
    rng = random.Random(options.seed)
    return FixedChoice("random", lambda i, env: rng.choice(env.available(i)))


@register("cheapest", "always the cheapest available model", "baseline", "recorded")
def cheapest(env: ReplayEnv, options: ReplayOptions):
    prices = model_prices(env)
    return FixedChoice("cheapest", lambda i, env: min(env.available(i), key=lambda j: (prices[j], j)))


@register("best-single", "the most accurate single model in hindsight (ties: cheaper)", "hindsight", "recorded")
def best_single(env: ReplayEnv, options: ReplayOptions):
    acc, prices = mean_scores(env), model_prices(env)
    best = min(range(len(env.models)), key=lambda j: (-round(acc[j], 9), prices[j]))
    return FixedChoice("best-single", lambda i, env: best)


@register("oracle", "per job, the cheapest model with the best score (upper bound)", "hindsight", "recorded")
def oracle(env: ReplayEnv, options: ReplayOptions):
    costs = env.trace.costs

    def choose(i: int, env: ReplayEnv) -> int:
        scores = [env.peek(i, j)[1] for j in range(len(env.models))]
        known = [s for s in scores if not math.isnan(s)]
        top = max(known) if known else None
        candidates = [j for j, s in enumerate(scores) if top is None or s == top]
        return min(candidates, key=lambda j: (costs[i, j], j))
    return FixedChoice("oracle", choose)
