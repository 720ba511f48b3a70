"""The held-out validation bench (bench/validate.py) on the sample trace: a leave-systems-out split of its
log-parsing systems gives both columns, shares are shares, the budget run stays within its budget, and a
missing data folder is reported as skipped, not as a crash."""

from pathlib import Path

import pytest

from bench import validate
from engine.traces.reader import load_trace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():
    return load_trace(ROOT / "sample_data" / "demo")


def test_subset_keeps_only_the_named_systems_in_order(demo):
    half = validate.subset(demo, ("sim-sshd", "sim-storage"), "part")
    assert set(half.queries["dataset"]) == {"sim-sshd", "sim-storage"}
    assert half.n_queries == 320 + 220 == half.scores.shape[0] == half.raw_outputs.shape[0]
    rows = demo.queries.index[demo.queries["dataset"].isin(["sim-sshd", "sim-storage"])]
    assert list(half.queries["query_id"]) == list(demo.queries.loc[rows, "query_id"])
    assert (half.costs == demo.costs[rows]).all()
    with pytest.raises(SystemExit, match="no jobs"):
        validate.subset(demo, ("no-such-system",), "none")


def test_a_half_reports_every_figure_and_the_table_has_both_columns(demo):
    tuned = validate.loghub_half(validate.subset(demo, ("sim-sshd", "sim-storage"), "tuned"))
    held = validate.loghub_half(validate.subset(demo, ("sim-database", "sim-webserver"), "held"))
    for half in (tuned, held):
        assert half["budget"]["within_budget"]
        assert half["budget"]["spent_usd"] <= half["budget"]["budget_usd"]
        assert 0 <= half["budget"]["max_refused_share"] <= 1
        assert 0 <= half["verifier"]["false_hit_rate"] <= 1
        assert half["reference"]["cost_share"] > 0
    text = validate.table({"loghub": {"tuned": tuned, "held_out": held}})
    assert "tuned on" in text and "not tuned on" in text
    assert f"{held['reference']['accuracy']:.3f}" in text


def test_a_single_model_dominates_only_within_one_point_at_ninety_percent_of_the_cost():
    singles = validate.Singles({"a": 0.80, "b": 0.795, "c": 0.70}, {"a": 10.0, "b": 8.0, "c": 1.0})
    assert singles.best == "a"
    assert singles.dominating(accuracy=0.80, cost=9.0) == "b"      # 0.795 ≥ 0.79 at 8 ≤ 8.1
    assert singles.dominating(accuracy=0.81, cost=9.0) is None     # 0.795 < 0.80
    assert singles.dominating(accuracy=0.80, cost=8.5) is None     # 8 > 7.65


def test_missing_traces_are_skipped(tmp_path):
    result = validate.run(tmp_path)
    assert "skipped" in result["loghub"]
    assert all("skipped" in r for r in result["routerbench"].values())
    assert "skipped" in validate.table(result)
