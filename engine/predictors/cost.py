"""Cost predictor: USD of a call.

* **Prices known** (`ModelSpec.has_prices`): cost = input tokens × input price + predicted output
  tokens × output price — nothing to learn, the uncertainty is all in the output tokens.
* **Prices unknown** (e.g. RouterBench traces, which record only what each call cost): the log cost is
  learned from observed costs with a hierarchical running mean — all models pooled per task (the
  "global running mean" a newcomer starts from) → model → (model, task) → (model, task, dataset) —
  plus a per-model River `LinearRegression` on the standardised log input tokens (longer prompts cost
  more; how much more depends on the model) and a smearing factor, so predicted costs are means.
  A model with a blended price but no complete price pair starts from that price instead of the pool.

Prequential MAPE on the real traces (costs learned, prices ignored; input tokens estimated as
characters / 4 + 20, as a caller without a tokenizer would):

| trace      | running mean of log cost | + input-length regression (used) |
|------------|--------------------------|----------------------------------|
| arc-dev    | ~4.6 %                   | 2.4 %                            |
| mbpp-dev   | ~35.8 %                  | 33.2 %  (output length dominates, and is not recorded) |
| loghub-dev | ~13.8 %                  | 10.2 %  (4.0 % from its list prices and predicted tokens) |

Shrinkage (`kappa`, pseudo-observations of the level above: pool, model, task, dataset). Prices differ
between models by orders of magnitude while one model's calls differ by tens of percent, so a model's
first observed cost must outweigh the pool: the model level leans on the pool with 0.2 pseudo-observations,
not 2. With 2, a model 30× dearer than the pool still looked 5× cheaper than it is after its first call
and was tried again and again as if it were cheap. Median |log error| of a model's predicted cost after
its n-th observed call (one random model per job, 5 orders; `kappa` (2, 2, 5, 5) → (2, 0.2, 1, 1)):

| trace    | n = 1         | n = 2         | n = 5         | n = 10        |
|----------|---------------|---------------|---------------|---------------|
| arc-dev  | 0.41 → 0.065  | 0.26 → 0.058  | 0.074 → 0.032 | 0.047 → 0.036 |
| mbpp-dev | 0.70 → 0.34   | 0.43 → 0.24   | 0.29 → 0.23   | 0.27 → 0.24   |
"""

from __future__ import annotations

import math

from engine.catalog import ModelSpec
from engine.predictors._online import LogLinearEstimator, ScalarStandardizer

DEFAULT_COST_USD = 1e-3       # before any cost was observed at all
MIN_COST_USD = 1e-9           # free calls are clamped to this in log space


class CostPredictor:
    """Predicts the USD cost of a call; learns per (model, task) where prices are unknown.

    >>> from engine.catalog import ModelSpec
    >>> priced, unpriced = ModelSpec("a", "p", 1.0, 2.0), ModelSpec("b", "p")
    >>> cp = CostPredictor()
    >>> cp.predict({"task": "t"}, priced, 1000, 500)          # (1000 × 1 + 500 × 2) / 1e6
    0.002
    >>> for _ in range(30):
    ...     cp.learn({"task": "t"}, unpriced, 1000, 500, 0.004)
    >>> round(cp.predict({"task": "t"}, unpriced, 1000, 500), 4)
    0.004
    """

    def __init__(self, kappa: tuple[float, float, float, float] = (2.0, 0.2, 1.0, 1.0), lr: float = 0.1,
                 discount: float = 1.0):
        self.kappa = tuple(kappa)
        self.lr = lr
        self.discount = discount
        self._estimator = LogLinearEstimator(self.kappa, lr=lr, discount=discount)
        self._log_input = ScalarStandardizer()

    def is_learned(self, spec: ModelSpec) -> bool:
        """True when `spec`'s cost comes from observed costs rather than from its prices."""
        return not spec.has_prices

    def _plan(self, job_feats: dict, spec: ModelSpec, input_tokens: float,
              output_tokens: float) -> tuple[tuple[tuple, ...], float, dict[str, float]]:
        task, dataset = job_feats.get("task", "default"), job_feats.get("dataset", "default")
        name = spec.name
        own = ((name,), (name, task), (name, task, dataset))
        blended = spec.blended_price
        if blended is not None:
            keys, prior = own, math.log(max(MIN_COST_USD, blended * (input_tokens + output_tokens) / 1e6))
        else:
            keys, prior = ((None, task), *own), math.log(DEFAULT_COST_USD)
        z = self._log_input.z(math.log1p(max(0.0, input_tokens)))
        return keys, prior, ({} if z is None else {"log_in": z})

    def predict(self, job_feats: dict, spec: ModelSpec, input_tokens: float, output_tokens: float) -> float:
        """Expected USD of `spec` on this job with this many input and (predicted) output tokens."""
        if spec.has_prices:
            return spec.cost(input_tokens, output_tokens)
        keys, prior, x = self._plan(job_feats, spec, input_tokens, output_tokens)
        return self._estimator.predict(spec.name, keys, prior, x)

    def learn(self, job_feats: dict, spec: ModelSpec, input_tokens: float, output_tokens: float,
              cost_usd: float | None) -> None:
        """Learn one observed cost (only used for models without prices; a missing cost is ignored)."""
        if spec.has_prices or cost_usd is None or not math.isfinite(cost_usd) or cost_usd < 0:
            return
        keys, prior, x = self._plan(job_feats, spec, input_tokens, output_tokens)
        self._estimator.learn(spec.name, keys, prior, x, math.log(max(MIN_COST_USD, cost_usd)))
        self._log_input.learn(math.log1p(max(0.0, input_tokens)))

    def forget(self, model: str, factor: float) -> None:
        """Discount what was learned about `model` by `factor`."""
        self._estimator.forget(model, factor)

    def reset(self, model: str) -> None:
        """Forget `model`'s observed costs."""
        self._estimator.reset(model)
