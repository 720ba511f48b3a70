"""One contract every predictor honours (River style): predicts before learning, `learn` returns None,
outputs in range, deterministic, pickles to an identical predictor that keeps learning identically,
ignores missing feedback, and survives `forget` / `reset`."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from engine.catalog import ModelSpec
from engine.jobs import Job
from engine.predictors import (
    CostPredictor,
    LatencyPredictor,
    OutputTokenPredictor,
    Predictors,
    QualityPredictor,
    job_features,
)

from .conftest import SPECS, Outcome, make_stream


@dataclass(frozen=True)
class Harness:
    """Adapts one predictor class to the common contract."""

    name: str
    make: Callable[[], Any]
    predict: Callable[[Any, Job, ModelSpec], tuple[float, ...]]
    learn: Callable[[Any, Job, ModelSpec, Outcome], Any]
    in_range: Callable[[tuple[float, ...]], bool]


def _quality_predict(qp: QualityPredictor, job: Job, spec: ModelSpec) -> tuple[float, ...]:
    return qp.predict_detail(job_features(job), spec)


def _facade_predict(p: Predictors, job: Job, spec: ModelSpec) -> tuple[float, ...]:
    pred = p.predict(job, [spec], 100)[spec.name]
    return pred.p_success, pred.p_std, pred.output_tokens, pred.cost_usd, pred.latency_s, pred.n_obs


def _facade_learn(p: Predictors, job: Job, spec: ModelSpec, o: Outcome):
    return p.learn(job, spec, score=o.score, output_tokens=o.output_tokens, input_tokens=o.input_tokens,
                   cost_usd=o.cost_usd, latency_s=o.latency_s)


def _probability(values: tuple[float, ...]) -> bool:
    p, std, n_obs = values[:3]
    return 0.0 < p < 1.0 and 0.0 <= std <= 0.5 and n_obs >= 0.0


def _positive(values: tuple[float, ...]) -> bool:
    return all(math.isfinite(v) and v > 0 for v in values)


HARNESSES = [
    Harness("quality", QualityPredictor, _quality_predict,
            lambda qp, job, spec, o: qp.learn(job_features(job), spec, o.score), _probability),
    Harness("tokens", OutputTokenPredictor,
            lambda tp, job, spec: (tp.predict(job_features(job), spec.name),),
            lambda tp, job, spec, o: tp.learn(job_features(job), spec.name, o.output_tokens),
            lambda v: v[0] >= 1.0 and math.isfinite(v[0])),
    Harness("cost", CostPredictor,
            lambda cp, job, spec: (cp.predict(job_features(job), spec, 100, 20),),
            lambda cp, job, spec, o: cp.learn(job_features(job), spec, o.input_tokens, o.output_tokens, o.cost_usd),
            _positive),
    Harness("latency", LatencyPredictor,
            lambda lp, job, spec: (lp.predict(job_features(job), spec, 20),),
            lambda lp, job, spec, o: lp.learn(job_features(job), spec, o.output_tokens, o.latency_s),
            _positive),
    Harness("facade", Predictors, _facade_predict, _facade_learn,
            lambda v: _probability(v[:2] + v[5:]) and _positive(v[2:5])),
]


def _teach(harness: Harness, predictor: Any, stream) -> None:
    for job, outcomes in stream:
        for spec in SPECS:
            harness.learn(predictor, job, spec, outcomes[spec.name])


def _all_predictions(harness: Harness, predictor: Any, jobs: list[Job]) -> list[tuple[float, ...]]:
    return [harness.predict(predictor, job, spec) for job in jobs for spec in SPECS]


@pytest.fixture(params=HARNESSES, ids=lambda h: h.name)
def harness(request) -> Harness:
    return request.param


@pytest.fixture()
def probe_jobs() -> list[Job]:
    return [job for job, _ in make_stream(n_jobs=6, seed=99)]


def test_predicts_before_any_learning(harness, probe_jobs):
    predictor = harness.make()
    for values in _all_predictions(harness, predictor, probe_jobs):
        assert harness.in_range(values), values


def test_learn_returns_none(harness, stream):
    predictor = harness.make()
    job, outcomes = stream[1]
    assert harness.learn(predictor, job, SPECS[0], outcomes[SPECS[0].name]) is None


def test_outputs_in_range_after_learning(harness, stream, probe_jobs):
    predictor = harness.make()
    _teach(harness, predictor, stream)
    for values in _all_predictions(harness, predictor, probe_jobs):
        assert harness.in_range(values), values


def test_deterministic(harness, stream, probe_jobs):
    first, second = harness.make(), harness.make()
    _teach(harness, first, stream)
    _teach(harness, second, stream)
    assert _all_predictions(harness, first, probe_jobs) == _all_predictions(harness, second, probe_jobs)


def test_pickle_round_trip_predicts_and_learns_identically(harness, stream, probe_jobs):
    predictor = harness.make()
    _teach(harness, predictor, stream[:40])
    restored = pickle.loads(pickle.dumps(predictor))
    assert _all_predictions(harness, restored, probe_jobs) == _all_predictions(harness, predictor, probe_jobs)
    _teach(harness, predictor, stream[40:])
    _teach(harness, restored, stream[40:])
    assert _all_predictions(harness, restored, probe_jobs) == _all_predictions(harness, predictor, probe_jobs)


def test_missing_feedback_is_ignored(harness, stream, probe_jobs):
    predictor = harness.make()
    _teach(harness, predictor, stream[:20])
    before = _all_predictions(harness, predictor, probe_jobs)
    empty = Outcome(None, None, None, None, None)
    nan = Outcome(math.nan, math.nan, math.nan, math.nan, math.nan)
    for job, _ in stream[20:30]:
        for spec in SPECS:
            harness.learn(predictor, job, spec, empty)
            harness.learn(predictor, job, spec, nan)
    assert _all_predictions(harness, predictor, probe_jobs) == before


def test_forget_and_reset_keep_predictions_in_range(harness, stream, probe_jobs):
    predictor = harness.make()
    _teach(harness, predictor, stream)
    predictor.forget("big", 0.5)
    predictor.reset("tiny")
    predictor.reset("never-seen")
    for values in _all_predictions(harness, predictor, probe_jobs):
        assert harness.in_range(values), values
