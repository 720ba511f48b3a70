import math

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
