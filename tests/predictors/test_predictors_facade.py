"""The `Predictors` facade: one call per decision, one per feedback event, snapshots, newcomers."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from engine.catalog import ModelSpec
from engine.errors import EngineError
from engine.jobs import Job
from engine.predictors import Prediction, Predictors, estimate_input_tokens

from .conftest import BIG, SPECS, TINY, UNPRICED


def _teach(predictors: Predictors, stream, specs=SPECS) -> None:
    for job, outcomes in stream:
        for spec in specs:
            o = outcomes[spec.name]
            predictors.learn(job, spec, score=o.score, output_tokens=o.output_tokens,
                             input_tokens=o.input_tokens, cost_usd=o.cost_usd, latency_s=o.latency_s)


def test_predict_gives_one_prediction_per_candidate(stream):
    predictors = Predictors(SPECS)
    job = stream[0][0]
    preds = predictors.predict(job, SPECS, input_tokens=120)
    assert list(preds) == [s.name for s in SPECS]
    assert all(isinstance(p, Prediction) for p in preds.values())
    assert preds[BIG.name].cost_usd == pytest.approx(BIG.cost(120, preds[BIG.name].output_tokens))
    assert preds[UNPRICED.name].cost_learned and not preds[BIG.name].cost_learned
    assert all(p.latency_modelled and p.n_obs == 0 for p in preds.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        preds[BIG.name].p_success = 1.0


def test_learning_moves_predictions_the_right_way(stream):
    predictors = Predictors(SPECS)
    _teach(predictors, stream)
    preds = predictors.predict(stream[0][0], SPECS, 100)
    assert preds[BIG.name].p_success > preds[TINY.name].p_success
    graded = sum(1 for job, o in stream if o[BIG.name].score is not None and job.dataset == stream[0][0].dataset)
    assert preds[BIG.name].n_obs == pytest.approx(graded)
    assert not preds[BIG.name].latency_modelled


def test_snapshot_restore_gives_identical_predictions(stream):
    predictors = Predictors(SPECS)
    _teach(predictors, stream[:30])
    restored = Predictors.restore(predictors.snapshot())
    probe = [job for job, _ in stream[30:40]]
    assert [predictors.predict(j, SPECS, 80) for j in probe] == [restored.predict(j, SPECS, 80) for j in probe]
    _teach(predictors, stream[30:])
    _teach(restored, stream[30:])
    assert [predictors.predict(j, SPECS, 80) for j in probe] == [restored.predict(j, SPECS, 80) for j in probe]


@pytest.mark.parametrize("data", [b"not a pickle", pickle.dumps({"a": 1})])
def test_restore_rejects_what_is_not_a_snapshot(data):
    with pytest.raises(EngineError, match="snapshot"):
        Predictors.restore(data)


def test_a_newcomer_can_join_mid_stream(stream):
    predictors = Predictors([BIG, TINY])
    _teach(predictors, stream[:40], specs=(BIG, TINY))
    frontier = ModelSpec("frontier", "acme", 20.0, 60.0, 800.0, tier="top")
    predictors.add_model(frontier)
    assert predictors.models == ["big", "tiny", "frontier"]
    preds = predictors.predict(stream[40][0], [BIG, TINY, frontier], 100)
    assert preds["frontier"].n_obs == 0
    assert preds["frontier"].p_std > preds["big"].p_std                 # it has no evidence of its own
    assert preds["frontier"].p_success > preds["tiny"].p_success        # its features look like big's


def test_a_spec_never_added_is_registered_on_first_use(stream):
    predictors = Predictors()
    job = stream[0][0]
    assert predictors.predict_one(job, BIG, 50).p_success > 0
    assert predictors.models == ["big"]


def test_ungraded_feedback_still_teaches_tokens(stream):
    predictors = Predictors(SPECS)
    job = stream[0][0]
    before = predictors.predict_one(job, BIG, 100)
    for _ in range(30):
        predictors.learn(job, BIG, score=None, output_tokens=500, input_tokens=None, cost_usd=None, latency_s=None)
    after = predictors.predict_one(job, BIG, 100)
    assert after.p_success == before.p_success
    assert after.output_tokens > 5 * before.output_tokens


def test_forget_and_reset_reach_every_component(stream):
    predictors = Predictors(SPECS)
    _teach(predictors, stream)
    job = stream[0][0]
    before = predictors.predict_one(job, BIG, 100)
    predictors.forget(BIG.name, 0.2)
    forgot = predictors.predict_one(job, BIG, 100)
    predictors.reset(BIG.name)
    reset = predictors.predict_one(job, BIG, 100)
    assert before.p_std < forgot.p_std < reset.p_std
    assert forgot.n_obs == pytest.approx(0.2 * before.n_obs)
    assert reset.n_obs == 0 and reset.latency_modelled


@pytest.mark.parametrize(("text", "tokens"), [("", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100)])
def test_estimate_input_tokens(text, tokens):
    assert estimate_input_tokens(Job("j", "t", text)) == tokens
