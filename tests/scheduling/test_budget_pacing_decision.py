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


def _pace(pacer: Pacer, ledger: BudgetLedger, spend: float) -> float:
    ledger.charge(spend)
    lam = pacer.update(ledger)
    ledger.jobs_seen += 1
    return lam


def test_pacer_steps_on_this_jobs_spend_against_the_rate_that_lands_on_budget():
    ledger, pacer = BudgetLedger(1.0, 100), Pacer(base=0.2)
    up = _pace(pacer, ledger, 0.02)                 # twice the rate of 0.01 per job
    assert up > 0.2
    assert _pace(pacer, ledger, 0.0) < up           # a cache hit spends nothing: λ eases off
    at_rate = pacer.lam
    assert _pace(pacer, ledger, ledger.remaining_usd / 98) == pytest.approx(at_rate)   # on the rate: λ holds


def test_an_early_expensive_call_is_paid_back_without_wind_up():
    # One call worth 40 jobs' allowance, then jobs at half the rate: λ jumps once, then comes back down
    # within a few dozen jobs, instead of staying up until the accumulated gap is repaid.
    ledger, pacer = BudgetLedger(1.0, 200), Pacer(base=0.05)
    peak = _pace(pacer, ledger, 0.2)
    assert peak == pytest.approx(0.05 * math.e)     # one step is capped at a factor e
    for _ in range(60):
        lam = _pace(pacer, ledger, 0.5 * ledger.per_job_allowance())
    assert lam < 0.05
    assert ledger.spent_usd <= 1.0


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


def test_under_a_budget_a_call_the_budget_could_never_pay_for_regularly_is_not_tried():
    from engine.catalog import Catalog
    from engine.scheduling.scheduler import Scheduler, SchedulerConfig

    core = Scheduler(Catalog([]), SchedulerConfig(use_cache=False), seed=1)
    ledger = BudgetLedger(1.0, 1000)                 # $0.001 per job
    preds = {"luxury": pred(0.99, 0.006, n_obs=0), "fits": pred(0.80, 0.001), "cheap": pred(0.5, 0.0001)}
    picks = {core.decide(preds, ledger).chosen for _ in range(50)}
    assert "luxury" not in picks                     # 6 average calls: never affordable, never explored
    assert core.decide(preds, BudgetLedger(None, 1000)).table[1].affordable   # without a budget it is
    rich = BudgetLedger(10.0, 1000)                  # $0.01 per job: now it fits
    assert any(r.model == "luxury" and r.affordable for r in core.decide(preds, rich).table)
