"""Output tokens, cost and latency: priors before data, learning, and where prices come from."""

from __future__ import annotations

import math
import random

import pytest

from engine.catalog import ModelSpec
from engine.predictors.cost import DEFAULT_COST_USD, CostPredictor
from engine.predictors.latency import LatencyPredictor
from engine.predictors.tokens import DEFAULT_OUTPUT_TOKENS, FALLBACK_OUTPUT_TOKENS, OutputTokenPredictor

PRICED = ModelSpec("priced", "p", 2.0, 6.0, 13.0)
UNPRICED = ModelSpec("unpriced", "q")


def _feats(task: str = "log_parsing", dataset: str = "A", shape: str = "s", **numbers: float) -> dict:
    return {"task": task, "dataset": dataset, "shape": shape, **numbers}


@pytest.mark.parametrize(("task", "expected"), [
    *DEFAULT_OUTPUT_TOKENS.items(),
    ("something_new", FALLBACK_OUTPUT_TOKENS),
])
def test_output_tokens_start_from_the_task_default(task, expected):
    assert OutputTokenPredictor().predict(_feats(task), "m") == pytest.approx(expected)


def test_output_tokens_learn_per_model_and_dataset():
    tp = OutputTokenPredictor()
    rng = random.Random(0)
    for _ in range(300):
        tp.learn(_feats(dataset="A"), "m", rng.randint(8, 12))
        tp.learn(_feats(dataset="B"), "m", rng.randint(80, 120))
    assert tp.predict(_feats(dataset="A"), "m") == pytest.approx(10, rel=0.15)
    assert tp.predict(_feats(dataset="B"), "m") == pytest.approx(100, rel=0.15)
    assert tp.predict(_feats(dataset="A"), "other") == pytest.approx(DEFAULT_OUTPUT_TOKENS["log_parsing"])


def test_output_tokens_grow_with_input_length_within_a_cell():
    tp = OutputTokenPredictor()
    rng = random.Random(1)
    for i in range(2000):
        log_chars = 3.0 + 3.0 * rng.random()
        tp.learn(_feats(shape=f"s{i}", log_chars=log_chars), "m", math.exp(log_chars) / 4)
    short = tp.predict(_feats(shape="x", log_chars=3.5), "m")
    long = tp.predict(_feats(shape="y", log_chars=5.5), "m")
    assert long > 2 * short


def test_cost_uses_prices_when_known_and_ignores_observed_costs():
    cp = CostPredictor()
    for _ in range(50):
        cp.learn(_feats(), PRICED, 1000, 100, 1.0)            # a wildly different observed cost
    assert cp.predict(_feats(), PRICED, 1000, 100) == pytest.approx(PRICED.cost(1000, 100))
    assert not cp.is_learned(PRICED)


def test_cost_is_learned_when_prices_are_unknown():
    cp = CostPredictor()
    assert cp.predict(_feats(), UNPRICED, 1000, 100) == pytest.approx(DEFAULT_COST_USD)
    rng = random.Random(2)
    for _ in range(200):
        cp.learn(_feats(), UNPRICED, 1000, 100, 4e-3 * math.exp(rng.gauss(0, 0.3)))
    assert cp.is_learned(UNPRICED)
    assert cp.predict(_feats(), UNPRICED, 1000, 100) == pytest.approx(4e-3 * math.exp(0.045), rel=0.15)


def test_unpriced_newcomer_starts_from_the_pooled_cost_of_the_others():
    cp = CostPredictor()
    for name, cost in (("a", 1e-4), ("b", 1e-2)):
        for _ in range(100):
            cp.learn(_feats(), ModelSpec(name, "q"), 500, 50, cost)
    newcomer = cp.predict(_feats(), ModelSpec("new", "q"), 500, 50)
    assert 1e-4 < newcomer < 1e-2
    assert newcomer == pytest.approx(1e-3, rel=0.5)            # the geometric middle, in log space


def test_one_observed_call_outweighs_the_pool_for_an_unpriced_model():
    cp = CostPredictor()
    for _ in range(100):
        cp.learn(_feats(), ModelSpec("cheap", "q"), 500, 50, 3e-4)
    cp.learn(_feats(), ModelSpec("dear", "q"), 500, 50, 9e-3)       # 30x the pool, seen once
    dear = cp.predict(_feats(), ModelSpec("dear", "q"), 500, 50)
    assert dear == pytest.approx(9e-3, rel=0.3)                     # not shrunk back towards "cheap"


def test_cost_grows_with_input_tokens_when_learned():
    cp = CostPredictor()
    rng = random.Random(3)
    for _ in range(1000):
        tokens = rng.randint(100, 10000)
        cp.learn(_feats(), UNPRICED, tokens, 10, tokens * 1e-6)
    assert cp.predict(_feats(), UNPRICED, 8000, 10) > 3 * cp.predict(_feats(), UNPRICED, 500, 10)


def test_latency_is_the_catalog_model_until_observed():
    lp = LatencyPredictor()
    assert lp.predict(_feats(), PRICED, 50) == pytest.approx(PRICED.modelled_latency(50))
    assert lp.is_modelled(PRICED.name)
    for _ in range(100):
        lp.learn(_feats(), PRICED, 50, 3 * PRICED.modelled_latency(50))
    assert not lp.is_modelled(PRICED.name)
    assert lp.predict(_feats(), PRICED, 50) == pytest.approx(3 * PRICED.modelled_latency(50), rel=0.05)
    lp.reset(PRICED.name)
    assert lp.is_modelled(PRICED.name)


def test_latency_ignores_missing_or_nonsense_values():
    lp = LatencyPredictor()
    for value in (None, float("nan"), 0.0, -1.0):
        lp.learn(_feats(), PRICED, 50, value)
    assert lp.is_modelled(PRICED.name)
