"""Two published schedulers re-implemented as replay baselines.

* `optllm` (Liu et al., ICWS 2024): a quality predictor trained on the labelled outcomes of every model
  for the first 2% of jobs, then frozen; every job is assigned by maximising predicted success minus
  λ·cost (the utility `sls` uses), with λ found once by bisection so that the predicted total cost meets the budget (the static,
  whole-workload optimisation of the paper). No cache, no learning after training.
* `cascade` (FrugalGPT, Chen et al., 2023): models from cheapest to dearest; a job goes to the next model
  only when the task's verifier rejects the answer (our verifier stands in for FrugalGPT's learned scorer).
"""

from __future__ import annotations

import math

import numpy as np

from engine.predictors import Predictors
from engine.simulation.baselines import model_prices
from engine.simulation.env import ReplayEnv
from engine.simulation.policy import ReplayOptions, register
from engine.simulation.records import StepRecord
from engine.tasks import get_task

TRAIN_FRACTION = 0.02


class OptLLM:
    name = "optllm"

    def __init__(self, env: ReplayEnv, options: ReplayOptions, cost_weight: float = 0.03):
        n = env.trace.n_queries
        self.n_train = max(1, math.ceil(TRAIN_FRACTION * n))
        self.specs = env.specs
        predictors = Predictors()
        for spec in self.specs:
            predictors.add_model(spec)
        for i in range(self.n_train):       # the labelled training set: every model's outcome
            job = env.job(i)
            for j, spec in enumerate(self.specs):
                score = env.peek(i, j)[1]
                predictors.learn(job, spec, score=None if math.isnan(score) else score,
                                 input_tokens=env.input_tokens(i, j),
                                 output_tokens=_nan_none(env.trace.output_tokens[i, j]),
                                 cost_usd=float(env.trace.costs[i, j]), latency_s=None)
        p = np.zeros((n, len(self.specs)))
        c = np.zeros((n, len(self.specs)))
        for i in range(n):
            preds = predictors.predict(env.job(i), self.specs, env.input_tokens(i, 0))
            for j, spec in enumerate(self.specs):
                p[i, j], c[i, j] = preds[spec.name].p_success, preds[spec.name].cost_usd
        self.assignment = self._assign(p, c, options.budget_usd, cost_weight)

    @staticmethod
    def _assign(p: np.ndarray, c: np.ndarray, budget: float | None, base: float) -> np.ndarray:
        c_ref = np.median(c, axis=1, keepdims=True)   # the same utility as `sls` (see scheduling.decision)
        c_ref[c_ref == 0] = 1.0

        def choose(lam: float) -> np.ndarray:
            return np.argmax(p - lam * c / c_ref, axis=1)

        choice = choose(base)
        if budget is None:
            return choice
        rows = np.arange(len(p))
        if c[rows, choice].sum() <= budget:
            return choice
        lo, hi = base, base
        while c[rows, choose(hi)].sum() > budget and hi < 1e6:
            hi *= 2
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if c[rows, choose(mid)].sum() <= budget else (mid, hi)
        return choose(hi)

    def run_job(self, i: int, env: ReplayEnv) -> StepRecord:
        job = env.job(i)
        if env.ledger.remaining_usd <= 0:
            return StepRecord.refused(i, job)
        j = int(self.assignment[i])
        if not env.has_outcome(i, j):
            return StepRecord.missing(i, job)
        result = env.call(i, j)
        return StepRecord(i, job.job_id, job.task, job.dataset, "model", result.model, attempts=1,
                          score=result.score, cost_usd=result.cost_usd, latency_s=result.latency_s,
                          models_tried=(result.model,), reason="optllm static assignment")

    def finish(self) -> dict:
        return {"train_jobs": self.n_train}


class Cascade:
    name = "cascade"

    def __init__(self, env: ReplayEnv, options: ReplayOptions):
        prices = model_prices(env)
        self.order = sorted(range(len(env.models)), key=lambda j: (prices[j], j))

    def run_job(self, i: int, env: ReplayEnv) -> StepRecord:
        job = env.job(i)
        task = get_task(job.task)
        tried, cost, latency, last = [], 0.0, 0.0, None
        for j in (j for j in self.order if j in env.available(i)):
            if env.ledger.remaining_usd <= 0:
                break
            result = env.call(i, j)
            tried.append(result.model)
            cost, latency, last = cost + result.cost_usd, latency + result.latency_s, result
            if result.truncated or task.verify(job, result.output).ok is not False:
                break
        if last is None:
            return StepRecord.missing(i, job) if not env.available(i) else StepRecord.refused(i, job)
        return StepRecord(i, job.job_id, job.task, job.dataset, "model", last.model, attempts=len(tried),
                          score=last.score, cost_usd=cost, latency_s=latency, models_tried=tuple(tried),
                          reason="cascade: cheapest model the verifier accepted")

    def finish(self) -> dict:
        return {}


def _nan_none(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


register("optllm", "OptLLM-style: predictor trained on the first 2% labelled jobs, static assignment",
         "published", "parsed")(lambda env, options: OptLLM(env, options))
register("cascade", "FrugalGPT-style cascade: cheap to expensive, escalate on verifier rejection",
         "published", "parsed")(lambda env, options: Cascade(env, options))
