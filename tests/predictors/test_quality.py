"""Behaviour of the quality predictor: shrinkage, priors, uncertainty, drift handling, within-cell heads."""

from __future__ import annotations

import random

import pytest

from engine.catalog import ModelSpec
from engine.predictors.features import model_features
from engine.predictors.quality import KAPPA_BOUNDS, QualityPredictor, hand_prior_logit

from .conftest import BIG, TINY


def _feats(dataset: str, shape: str = "s0", task: str = "log_parsing", **numbers: float) -> dict:
    return {"task": task, "dataset": dataset, "shape": shape, **numbers}


FRONTIER = ModelSpec("frontier", "lab", 15.0, 75.0, 1000.0, tier="top")
SMALL = ModelSpec("small", "lab", 0.05, 0.05, 1.0, tier="cheap")


def test_failing_on_one_dataset_lowers_that_dataset_only():
    qp = QualityPredictor()
    rng = random.Random(0)
    for i in range(300):
        dataset = ("A", "B", "C")[i % 3]
        score = 0.0 if dataset == "A" else float(rng.random() < 0.8)
        qp.learn(_feats(dataset, shape=f"s{i}"), "m", score)
    p_a, _ = qp.predict(_feats("A", shape="new"), "m")
    p_b, _ = qp.predict(_feats("B", shape="new"), "m")
    p_new, _ = qp.predict(_feats("D", shape="new"), "m")
    assert p_a < 0.1
    assert p_b > 0.65
    assert p_a < p_new < p_b         # an unseen dataset leans on the model's other datasets


def test_shape_level_learns_a_template_the_model_always_gets_wrong():
    qp = QualityPredictor()
    for i in range(200):
        shape = "hard" if i % 4 == 0 else f"easy{i % 7}"
        qp.learn(_feats("A", shape=shape), "m", 0.0 if shape == "hard" else 1.0)
    assert qp.predict(_feats("A", shape="hard"), "m")[0] < 0.15
    assert qp.predict(_feats("A", shape="easy3"), "m")[0] > 0.85


def test_frontier_newcomer_starts_above_a_tiny_one_before_any_data():
    qp = QualityPredictor()
    p_big, std_big = qp.predict(_feats("A"), FRONTIER)
    p_small, std_small = qp.predict(_feats("A"), SMALL)
    assert p_big > 0.5 > p_small
    assert min(std_big, std_small) > 0.15          # wide: two pseudo-observations


def test_newcomer_starts_from_what_its_features_predict():
    """After a stream where size goes with quality, an unseen big model is predicted further above an
    unseen small one than the hand prior alone would put it: the prior head learned it."""
    sizes = {f"m{k}": 2.0 ** k for k in range(1, 8)}
    rates = {name: 0.15 + 0.1 * k for k, name in enumerate(sizes)}
    qp = QualityPredictor()
    rng = random.Random(1)
    for i in range(1000):
        for name, size in sizes.items():
            spec = ModelSpec(name, "p", 1.0, 1.0, size)
            qp.learn(_feats("A", shape=f"s{i}"), spec, float(rng.random() < rates[name]))
    hand = QualityPredictor()
    big_new, small_new = ModelSpec("new-big", "p", 1.0, 1.0, 200.0), ModelSpec("new-small", "p", 1.0, 1.0, 2.0)
    learned_gap = qp.predict(_feats("A"), big_new)[0] - qp.predict(_feats("A"), small_new)[0]
    hand_gap = hand.predict(_feats("A"), big_new)[0] - hand.predict(_feats("A"), small_new)[0]
    assert learned_gap > hand_gap + 0.05 > 0.05


def test_uncertainty_shrinks_with_evidence():
    qp = QualityPredictor()
    stds = []
    for i in range(60):
        if i in (0, 5, 59):
            stds.append(qp.predict(_feats("A"), "m")[1])
        qp.learn(_feats("A"), "m", float(i % 2))
    assert stds[0] > stds[1] > stds[2]


def test_forget_and_reset_increase_uncertainty():
    qp = QualityPredictor()
    for i in range(100):
        qp.learn(_feats("A", shape=f"s{i % 5}"), BIG, float(i % 4 != 0))
    _, std = qp.predict(_feats("A", shape="s1"), BIG)
    qp.forget(BIG.name, 0.1)
    _, std_forgot = qp.predict(_feats("A", shape="s1"), BIG)
    qp.reset(BIG.name)
    p_reset, std_reset = qp.predict(_feats("A", shape="s1"), BIG)
    assert std < std_forgot < std_reset
    assert p_reset == pytest.approx(QualityPredictor().predict(_feats("A", shape="s1"), BIG)[0], abs=0.25)


def test_forget_rejects_a_bad_factor():
    with pytest.raises(ValueError, match="factor"):
        QualityPredictor().forget("m", 1.5)


def test_discounting_tracks_a_change_faster():
    steady, forgetful = QualityPredictor(), QualityPredictor(discount=0.95)
    for predictor in (steady, forgetful):
        for _ in range(200):
            predictor.learn(_feats("A"), "m", 1.0)
        for _ in range(30):
            predictor.learn(_feats("A"), "m", 0.0)     # the model broke
    assert forgetful.predict(_feats("A"), "m")[0] < 0.3 < steady.predict(_feats("A"), "m")[0]


def test_ungraded_feedback_is_not_learned():
    qp = QualityPredictor()
    before = qp.predict(_feats("A"), "m")
    qp.learn(_feats("A"), "m", None)
    qp.learn(_feats("A"), "m", float("nan"))
    assert qp.predict(_feats("A"), "m") == before


def test_fractional_scores_are_learned_as_rates():
    qp = QualityPredictor()
    for _ in range(200):
        qp.learn(_feats("A"), "m", 0.3)
    assert qp.predict(_feats("A"), "m")[0] == pytest.approx(0.3, abs=0.05)


def test_within_cell_head_learns_that_variables_make_lines_harder():
    """Every line is its own shape, so only the logistic heads can see the number of variables."""
    qp = QualityPredictor()
    rng = random.Random(2)
    for i in range(1500):
        n_vars = rng.randint(0, 8)
        feats = _feats("A", shape=f"s{i}", log_vars=float(n_vars), log_chars=4.0 + rng.random())
        qp.learn(feats, "m", float(rng.random() < (0.9 if n_vars < 4 else 0.3)))
    few = qp.predict(_feats("A", shape="x", log_vars=1.0, log_chars=4.5), "m")[0]
    many = qp.predict(_feats("A", shape="y", log_vars=7.0, log_chars=4.5), "m")[0]
    assert few - many > 0.15


def test_sample_is_seeded_and_centred_on_the_mean():
    def draws(seed: int) -> list[float]:
        qp = QualityPredictor(seed=seed)
        for i in range(20):
            qp.learn(_feats("A"), "m", float(i % 4 != 0))
        return [qp.sample(_feats("A"), "m") for _ in range(2000)]

    first = draws(3)
    assert first == draws(3)
    assert all(0.0 <= d <= 1.0 for d in first)
    qp = QualityPredictor()
    for i in range(20):
        qp.learn(_feats("A"), "m", float(i % 4 != 0))
    assert sum(first) / len(first) == pytest.approx(qp.predict(_feats("A"), "m")[0], abs=0.02)


def test_empirical_bayes_concentrations_stay_in_bounds():
    qp = QualityPredictor(eb_every=50)
    rng = random.Random(4)
    for i in range(600):
        for spec, rate in ((BIG, 0.8), (TINY, 0.3), (ModelSpec("mid", "p", 1, 1, 30), 0.5)):
            shape = f"s{i % 12}"
            qp.learn(_feats(("A", "B")[i % 2], shape=shape), spec, float(rng.random() < rate))
    levels = qp.kappas["log_parsing"]
    assert set(levels) == {"model", "task", "dataset", "shape"}
    assert all(KAPPA_BOUNDS[0] <= v <= KAPPA_BOUNDS[1] for v in levels.values())


def test_hand_prior_is_small_and_ordered():
    top, bottom = hand_prior_logit(model_features(FRONTIER)), hand_prior_logit(model_features(SMALL))
    assert -1.0 <= bottom < 0.0 < top <= 1.0
    assert hand_prior_logit(model_features(ModelSpec("x", "p"))) == 0.0


@pytest.mark.parametrize("kwargs", [{"discount": 0.0}, {"discount": 1.5}, {"kappa": (1.0, 2.0)}])
def test_bad_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        QualityPredictor(**kwargs)
