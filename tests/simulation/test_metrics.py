import math

import pytest

from engine.simulation.metrics import summarise
from engine.simulation.records import StepRecord


def rec(seq, source, score, cost, ds="d1", attempts=1, false_hit=False):
    return StepRecord(seq, f"q{seq}", "t", ds, source, "m", attempts=attempts, score=score, cost_usd=cost,
                      latency_s=0.5 if source == "model" else 0.0, engine_us=100.0, false_hit=false_hit)


def test_summarise_counts_and_rates():
    records = [rec(0, "model", 1.0, 0.01), rec(1, "cache", 1.0, 0.0, attempts=0),
               rec(2, "cache", 0.0, 0.0, attempts=0, false_hit=True), rec(3, "model", math.nan, 0.02, ds="d2"),
               rec(4, "refused", 0.0, 0.0, attempts=0)]
    m = summarise(records, policy="p", budget=1.0)
    assert m["queries"] == 5 and m["graded"] == 4
    assert m["accuracy"] == 0.5                       # ungraded excluded, refused counts as 0
    assert math.isclose(m["cost_usd"], 0.03)
    assert m["llm_calls"] == 2
    assert m["cache_hit_rate"] == 0.4 and m["false_hit_rate"] == 0.5
    assert m["refused"] == 1
    assert math.isclose(m["processing_time_s"], m["api_time_s"] + m["engine_time_s"], abs_tol=1e-3)
    assert set(m["per_dataset"]) == {"d1", "d2"}
    assert m["per_dataset"]["d2"]["queries"] == 1


def test_summarise_empty():
    m = summarise([], policy="p")
    assert m["queries"] == 0 and m["accuracy"] == 0.0


def test_cold_start_ends_where_exploration_stops_and_reports_its_cost():
    from engine.simulation.metrics import cold_start

    def step(k, gap):
        return StepRecord(k, f"j{k}", "t", "d", "model", "m", attempts=1, score=1.0 if k >= 100 else 0.0,
                          cost_usd=0.01, explore_gap=gap)

    records = [step(k, 0.1 if k < 100 and k % 2 == 0 else 0.0) for k in range(400)]
    out = cold_start(records, window=50, settled_below=0.2)
    assert 60 <= out["jobs"] <= 100                   # the last windows that still explored > 20% end here
    assert out["cost_usd"] == pytest.approx(0.01 * out["jobs"])
    assert out["explored_calls"] == 50
    assert out["accuracy_after"] > 0.9 > 0.5 > out["accuracy_before"]
    # exploring among near-equal models (gap below 0.02) is not cold start
    assert cold_start([step(k, 0.01) for k in range(200)])["jobs"] == 0
    assert summarise(records, policy="sls")["cold_start"]["jobs"] == out["jobs"]
