import math
import random

import pytest

from engine.errors import SettingsError
from engine.predictors import Prediction
from engine.scheduling.budget import BudgetLedger, resolve_budget
from engine.scheduling.decision import decide
from engine.scheduling.pacing import Pacer


def pred(p, cost, std=0.01, lat=1.0, n_obs=1000):
    return Prediction(p_success=p, p_std=std, output_tokens=10.0, cost_usd=cost, latency_s=lat, n_obs=n_obs)


@pytest.mark.parametrize("total, per_1k, n, expected", [
    (None, None, 100, None), (5.0, None, 100, 5.0), (None, 2.0, 500, 1.0), (0.0, None, 10, 0.0)])
def test_resolve_budget(total, per_1k, n, expected):
    assert resolve_budget(total, per_1k, n) == expected


@pytest.mark.parametrize("total, per_1k", [(1.0, 1.0), (-1.0, None), (math.nan, None), (None, math.inf)])
def test_resolve_budget_rejects(total, per_1k):
    with pytest.raises(SettingsError):
        resolve_budget(total, per_1k, 10)


def test_ledger_never_exceeds_budget():
    ledger = BudgetLedger(1.0, 10)
    ledger.charge(0.6)
    assert not ledger.can_afford(0.5)
    with pytest.raises(ValueError):
        ledger.charge(0.5)
    assert ledger.spent_usd == pytest.approx(0.6)
    ledger.charge(0.4)
    assert ledger.remaining_usd == 0.0


def test_pacer_raises_lambda_when_ahead_and_lowers_when_behind():
    ledger = BudgetLedger(1.0, 100)
    pacer = Pacer(base=0.2)
    ledger.jobs_seen, ledger.spent_usd = 10, 0.5          # target 0.1: way ahead
    up = pacer.update(ledger)
    assert up > 0.2
    ledger.jobs_seen, ledger.spent_usd = 90, 0.5          # target 0.9: behind
    for _ in range(20):
        down = pacer.update(ledger)
    assert down < up
    assert pacer.lam_min <= down <= pacer.lam_max


def test_pacer_without_budget_keeps_base():
    pacer = Pacer(base=0.3)
    assert pacer.update(BudgetLedger(None, 100)) == 0.3


def test_decide_prefers_cheap_model_when_quality_close():
    d = decide({"big": pred(0.90, 0.01), "small": pred(0.88, 0.0001)}, cost_weight=0.15)
    assert d.chosen == "small"
    assert {r.model for r in d.table} == {"big", "small"}
    assert d.reason


def test_decide_pays_for_quality_when_gap_large():
    # 10x the median price costs 10·λ = 0.3 of success probability: worth it for +0.55
    d = decide({"big": pred(0.95, 0.001), "small": pred(0.40, 0.0001)}, cost_weight=0.03)
    assert d.chosen == "big"


def test_one_very_expensive_model_does_not_make_the_others_look_free():
    preds = {"mid": pred(0.90, 0.001), "cheap": pred(0.88, 0.0001), "luxury": pred(0.91, 1.0)}
    assert decide(preds, cost_weight=0.03).chosen == "cheap"


def test_decide_respects_remaining_budget():
    d = decide({"big": pred(0.95, 0.01), "small": pred(0.40, 0.0001)}, cost_weight=0.0, remaining_usd=0.001)
    assert d.chosen == "small"
    assert not next(r for r in d.table if r.model == "big").affordable
    nothing = decide({"big": pred(0.95, 0.01)}, cost_weight=0.0, remaining_usd=0.0)
    assert nothing.chosen is None and "budget" in nothing.reason


def test_thompson_sampling_explores_uncertain_models_and_is_seeded():
    preds = {"known": pred(0.6, 0.001, n_obs=2000), "new": pred(0.5, 0.001, n_obs=0)}
    picks = [decide(preds, cost_weight=0.0, rng=random.Random(s)).chosen for s in range(200)]
    share = picks.count("new") / len(picks)
    assert 0.15 < share < 0.6
    again = [decide(preds, cost_weight=0.0, rng=random.Random(s)).chosen for s in range(200)]
    assert picks == again


def test_ranked_excludes_tried_models():
    d = decide({"a": pred(0.9, 0.01), "b": pred(0.8, 0.001), "c": pred(0.1, 0.0001)}, cost_weight=0.0)
    assert [r.model for r in d.ranked(exclude=["a"])] == ["b", "c"]
