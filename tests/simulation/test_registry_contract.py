"""One contract over every registered policy (River-style: one suite for every implementation): each job of
the trace is answered (or refused) exactly once, in arrival order; spend never exceeds a budget; the same
seed gives the same run."""

from __future__ import annotations

import pytest

from engine.simulation.policy import ReplayOptions, policy_names
from engine.simulation.replay import replay
from engine.traces import load_trace
from tests.simulation.conftest import ROOT

NAMES = policy_names(load_trace(ROOT / "sample_data" / "demo").model_names)
KEYS = ("accuracy", "cost_usd", "llm_calls", "cache_hits", "refused")


@pytest.mark.parametrize("name", NAMES)
def test_every_job_is_handled_once_in_order(slice_trace, name):
    result = replay(slice_trace, name, ReplayOptions(seed=1))
    assert [r.job_id for r in result.records] == [job.job_id for job in slice_trace.jobs()]
    assert [r.seq for r in result.records] == list(range(slice_trace.n_queries))
    assert all(r.source in ("cache", "model", "refused") for r in result.records)
    assert result.metrics["queries"] == slice_trace.n_queries


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("budget", [0.0, 0.004, 0.03])
def test_spend_never_exceeds_the_budget(slice_trace, name, budget):
    result = replay(slice_trace, name, ReplayOptions(budget_usd=budget, seed=2))
    spent = sum(r.cost_usd for r in result.records)
    assert spent <= budget + 1e-12
    assert result.metrics["cost_usd"] <= budget + 1e-9
    if budget == 0.0:
        assert all(r.cost_usd == 0.0 for r in result.records)


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_run(slice_trace, name):
    a = replay(slice_trace, name, ReplayOptions(budget_usd=0.03, seed=3))
    b = replay(slice_trace, name, ReplayOptions(budget_usd=0.03, seed=3))
    assert {k: a.metrics[k] for k in KEYS} == {k: b.metrics[k] for k in KEYS}
    assert [(r.job_id, r.source, r.model, r.cost_usd) for r in a.records] == \
           [(r.job_id, r.source, r.model, r.cost_usd) for r in b.records]
