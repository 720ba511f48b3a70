"""Latency predictor: wall time (s) of a call, from the catalog's latency model corrected online.

Before any observation the estimate is the catalog's documented latency model,
`base_s + per_output_token_s × output_tokens` (`ModelSpec.modelled_latency`), evaluated at the
predicted output tokens — and every figure is then *modelled* (`is_modelled`). None of the recorded
traces has latencies, so the learner is chosen for robustness rather than tuned: it learns the log
of observed / modelled latency, as a running mean per model and (model, task) (a provider being
slower than its size suggests is a per-model factor), plus a per-model River `LinearRegression` on
the standardised log output tokens (the per-token time being off is a slope in that feature).
Log space keeps one stalled call from dragging the estimate; smearing turns it back into a mean.
"""

from __future__ import annotations

import math

from engine.catalog import ModelSpec
from engine.predictors._online import LogLinearEstimator, ScalarStandardizer

MIN_LATENCY_S = 1e-3


class LatencyPredictor:
    """Predicts a call's latency (s) for a model; learns from each observed latency.

    >>> from engine.catalog import ModelSpec
    >>> spec = ModelSpec("m", "p", 1.0, 1.0, 7.0)          # < 10B: 0.25 s + 0.008 s / token
    >>> lp = LatencyPredictor()
    >>> round(lp.predict({"task": "t"}, spec, 100), 3)
    1.05
    >>> for _ in range(100):
    ...     lp.learn({"task": "t"}, spec, 100, 2.1)         # this provider is twice as slow
    >>> round(lp.predict({"task": "t"}, spec, 100), 1)
    2.1
    """

    def __init__(self, kappa: tuple[float, float] = (5.0, 5.0), lr: float = 0.05, discount: float = 1.0):
        self.kappa = tuple(kappa)
        self.lr = lr
        self.discount = discount
        self._estimator = LogLinearEstimator(self.kappa, lr=lr, discount=discount)
        self._n_observed: dict[str, float] = {}
        self._log_tokens = ScalarStandardizer()     # standardises the one regression feature

    def _x(self, output_tokens: float) -> dict[str, float]:
        z = self._log_tokens.z(math.log1p(max(0.0, output_tokens)))
        return {} if z is None else {"log_out": z}

    def predict(self, job_feats: dict, spec: ModelSpec, output_tokens: float) -> float:
        """Expected latency (s) of `spec` on this job when it writes `output_tokens` tokens."""
        modelled = spec.modelled_latency(output_tokens)
        if spec.name not in self._n_observed:
            return max(MIN_LATENCY_S, modelled)
        keys = ((spec.name,), (spec.name, job_feats.get("task", "default")))
        ratio = self._estimator.predict(spec.name, keys, 0.0, self._x(output_tokens))
        return max(MIN_LATENCY_S, modelled * ratio)

    def is_modelled(self, model: str) -> bool:
        """True while no latency of `model` has been observed: figures are the catalog's model only."""
        return self._n_observed.get(model, 0.0) <= 0.0

    def learn(self, job_feats: dict, spec: ModelSpec, output_tokens: float | None, latency_s: float | None) -> None:
        """Learn one observed latency; a missing (None / NaN / non-positive) one is ignored."""
        if latency_s is None or not math.isfinite(latency_s) or latency_s <= 0:
            return
        tokens = output_tokens if output_tokens is not None and math.isfinite(output_tokens) else 0.0
        modelled = max(MIN_LATENCY_S, spec.modelled_latency(tokens))
        keys = ((spec.name,), (spec.name, job_feats.get("task", "default")))
        self._estimator.learn(spec.name, keys, 0.0, self._x(tokens), math.log(latency_s / modelled))
        self._n_observed[spec.name] = self._n_observed.get(spec.name, 0.0) + 1.0
        self._log_tokens.learn(math.log1p(max(0.0, tokens)))

    def forget(self, model: str, factor: float) -> None:
        """Discount what was learned about `model` by `factor`."""
        self._estimator.forget(model, factor)

    def reset(self, model: str) -> None:
        """Forget `model`'s observations: back to the catalog's latency model."""
        self._estimator.reset(model)
        self._n_observed.pop(model, None)
