"""The predictors facade: one object the scheduler asks and the update manager teaches.

`Predictors.predict(job, specs, input_tokens)` gives, for every candidate model, a `Prediction`:
P(good answer) and its uncertainty, expected output tokens, cost (USD) and latency (s).
`Predictors.learn(job, spec, ...)` applies one feedback event to every component at once. Models
can be added at any time (a newcomer starts from what its features predict), and the whole state
round-trips through `snapshot()` / `Predictors.restore()` (pickle: load only snapshots you wrote).
"""

from __future__ import annotations

import logging
import math
import pickle
import random
from collections.abc import Iterable
from dataclasses import dataclass

from engine.catalog import ModelSpec
from engine.errors import EngineError
from engine.jobs import Job
from engine.predictors.cost import CostPredictor
from engine.predictors.features import job_features
from engine.predictors.latency import LatencyPredictor
from engine.predictors.quality import QualityPredictor
from engine.predictors.tokens import OutputTokenPredictor
from engine.safepickle import safe_loads

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4.0


def estimate_input_tokens(job: Job) -> int:
    """A tokenizer-free estimate of a job's prompt size: its text at ~4 characters per token."""
    return max(1, math.ceil(len(job.text) / CHARS_PER_TOKEN))


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the predictors expect of one model on one job.

    `n_obs` is the (discounted) number of graded events behind `p_success` at the (model, task,
    dataset) level; `latency_modelled` is True while the latency is the catalog's model only (no
    latency of this model observed yet), `cost_learned` True when the cost comes from observed costs
    instead of list prices.
    """

    p_success: float
    p_std: float
    output_tokens: float
    cost_usd: float
    latency_s: float
    n_obs: float
    latency_modelled: bool = True
    cost_learned: bool = False


class Predictors:
    """Quality, output tokens, cost and latency for every (job, model), learned from every event.

    Not thread-safe: one writer (the update manager) at a time, as DESIGN.md prescribes.

    >>> from engine.catalog import ModelSpec
    >>> from engine.jobs import Job
    >>> spec = ModelSpec("m", "p", 1.0, 2.0, 7.0)
    >>> preds = Predictors([spec])
    >>> job = Job("j1", "log_parsing", "PacketResponder 1 for block blk_38865 terminating", "HDFS")
    >>> p = preds.predict(job, [spec], input_tokens=100)["m"]
    >>> 0.0 < p.p_success < 1.0 and p.cost_usd > 0 and p.latency_modelled
    True
    >>> preds.learn(job, spec, score=1.0, output_tokens=12, input_tokens=100, cost_usd=None, latency_s=None)
    >>> Predictors.restore(preds.snapshot()).predict(job, [spec], 100) == preds.predict(job, [spec], 100)
    True
    """

    def __init__(self, specs: Iterable[ModelSpec] = (), *, quality: QualityPredictor | None = None,
                 tokens: OutputTokenPredictor | None = None, cost: CostPredictor | None = None,
                 latency: LatencyPredictor | None = None):
        self.quality = quality if quality is not None else QualityPredictor()
        self.tokens = tokens if tokens is not None else OutputTokenPredictor()
        self.cost = cost if cost is not None else CostPredictor()
        self.latency = latency if latency is not None else LatencyPredictor()
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self.add_model(spec)

    # ------------------------------------------------------------------ models

    def add_model(self, spec: ModelSpec) -> None:
        """Add a candidate model (or update its catalog entry) at any time."""
        if spec.name not in self._specs:
            log.debug("predictors: new model %s", spec.name)
        self._specs[spec.name] = spec
        self.quality.add_model(spec)

    @property
    def models(self) -> list[str]:
        """Names of the known models, in the order they were added."""
        return list(self._specs)

    def _known(self, spec: ModelSpec) -> ModelSpec:
        known = self._specs.get(spec.name)
        if known is not spec and known != spec:
            self.add_model(spec)
        return spec

    # ------------------------------------------------------------------ prediction

    def predict(self, job: Job, specs: Iterable[ModelSpec], input_tokens: int) -> dict[str, Prediction]:
        """A `Prediction` per candidate model (keyed by name) for `job` with a prompt of `input_tokens`."""
        feats = job_features(job)
        return {spec.name: self._predict(feats, self._known(spec), input_tokens) for spec in specs}

    def predict_one(self, job: Job, spec: ModelSpec, input_tokens: int) -> Prediction:
        """The `Prediction` of one model."""
        return self._predict(job_features(job), self._known(spec), input_tokens)

    def _predict(self, feats: dict, spec: ModelSpec, input_tokens: int) -> Prediction:
        p, std, n_obs = self.quality.predict_detail(feats, spec)
        out = self.tokens.predict(feats, spec.name)
        return Prediction(
            p_success=p,
            p_std=std,
            output_tokens=out,
            cost_usd=self.cost.predict(feats, spec, input_tokens, out),
            latency_s=self.latency.predict(feats, spec, out),
            n_obs=n_obs,
            latency_modelled=self.latency.is_modelled(spec.name),
            cost_learned=self.cost.is_learned(spec),
        )

    def sample(self, job: Job, spec: ModelSpec, rng: random.Random | None = None) -> float:
        """A Thompson draw of P(good answer) of `spec` on `job`."""
        return self.quality.sample(job_features(job), self._known(spec), rng)

    # ------------------------------------------------------------------ learning

    def learn(self, job: Job, spec: ModelSpec, *, score: float | None, output_tokens: float | None,
              input_tokens: float | None, cost_usd: float | None, latency_s: float | None) -> None:
        """Apply one feedback event: `spec` answered `job`. Missing values (None / NaN) are skipped:
        an ungraded answer teaches tokens, cost and latency but not quality. Unknown input tokens
        are estimated from the text (`estimate_input_tokens`)."""
        spec = self._known(spec)
        feats = job_features(job)
        self.quality.learn(feats, spec, score)
        self.tokens.learn(feats, spec.name, output_tokens)
        known_out = output_tokens is not None and math.isfinite(output_tokens)
        out = output_tokens if known_out else self.tokens.predict(feats, spec.name)
        known_in = input_tokens is not None and math.isfinite(input_tokens)
        inp = input_tokens if known_in else estimate_input_tokens(job)
        self.cost.learn(feats, spec, inp, out, cost_usd)
        self.latency.learn(feats, spec, out, latency_s)

    # ------------------------------------------------------------------ drift

    def forget(self, model: str, factor: float) -> None:
        """Discount everything learned about `model` by `factor` in [0, 1] (e.g. on a drift alarm)."""
        self.quality.forget(model, factor)
        self.tokens.forget(model, factor)
        self.cost.forget(model, factor)
        self.latency.forget(model, factor)

    def reset(self, model: str) -> None:
        """Forget everything learned about `model`; it restarts from what its features predict."""
        self.quality.reset(model)
        self.tokens.reset(model)
        self.cost.reset(model)
        self.latency.reset(model)

    # ------------------------------------------------------------------ persistence

    def snapshot(self) -> bytes:
        """The whole learned state as bytes (pickle)."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, data: bytes) -> Predictors:
        """A `Predictors` from `snapshot()` bytes. Pickle runs code: only load snapshots you wrote."""
        try:
            obj = safe_loads(data)   # h14: never runs code from a snapshot
        except Exception as exc:
            raise EngineError(f"predictor snapshot cannot be read ({type(exc).__name__}: {exc})") from None
        if not isinstance(obj, cls):
            raise EngineError(f"predictor snapshot holds a {type(obj).__name__}, not {cls.__name__}")
        return obj
