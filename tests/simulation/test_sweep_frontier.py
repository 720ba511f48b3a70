"""The what-if frontier of `sls sweep`: averaged over seeds, never less accuracy for more budget."""

from __future__ import annotations

import pytest

from engine.simulation.sweep import FRONTIER_RULE, frontier, summarise


def _run(budget, seed, accuracy, cost):
    return {"policy": "sls", "budget_usd": budget, "seed": seed, "accuracy": accuracy, "cost_usd": cost,
            "llm_calls": 10, "cache_hit_rate": 0.5, "refused": 0}


def test_summarise_averages_seeds_and_reports_the_spread():
    row = summarise([_run(1.0, 0, 0.70, 0.5), _run(1.0, 1, 0.74, 0.7), _run(1.0, 2, 0.72, 0.6)])
    assert row["accuracy"] == pytest.approx(0.72)
    assert row["cost_usd"] == pytest.approx(0.6)
    m = row["measured"]
    assert m["seeds"] == [0, 1, 2]
    assert m["accuracy_min"] == pytest.approx(0.70) and m["accuracy_max"] == pytest.approx(0.74)
    assert m["accuracy_sd"] == pytest.approx(0.02)
    assert row["seeds"] == 3 and "seed" not in row


def test_frontier_is_monotone_and_names_the_budget_it_comes_from():
    # the measured means of today's sample sweep: 0.717 at $1 then 0.708 at $2
    rows = [summarise([_run(b, 0, a, c)]) for b, a, c in
            [(0.1, 0.674, 0.1), (0.3, 0.708, 0.3), (1.0, 0.717, 0.61), (2.0, 0.708, 0.53), (4.0, 0.722, 0.94)]]
    out = frontier(rows)
    acc = [r["accuracy"] for r in out]
    assert acc == sorted(acc)
    assert acc == [0.674, 0.708, 0.717, 0.717, 0.722]
    at2 = out[3]
    assert at2["budget_usd"] == 2.0 and at2["frontier_budget_usd"] == 1.0
    assert at2["cost_usd"] == pytest.approx(0.61)          # the point's own figures, consistently
    assert at2["measured"]["accuracy_mean"] == pytest.approx(0.708)   # b's own run is still reported
    assert at2["frontier_rule"] == FRONTIER_RULE
    assert out[4]["frontier_budget_usd"] == 4.0


def test_frontier_keeps_the_given_order_and_puts_no_budget_last():
    rows = [summarise([_run(b, 0, a, 1.0)]) for b, a in [(None, 0.70), (2.0, 0.75), (0.5, 0.60)]]
    out = frontier(rows)
    assert [r["budget_usd"] for r in out] == [None, 2.0, 0.5]
    assert out[0]["accuracy"] == 0.75 and out[0]["frontier_budget_usd"] == 2.0   # unlimited >= every budget
    assert out[2]["accuracy"] == 0.60 and out[2]["frontier_budget_usd"] == 0.5


def test_the_sweep_prints_its_table_when_seeds_average_counts_to_fractions(slice_trace, capsys):
    from engine.cli import main
    assert main(["sweep", slice_trace.path, "--policy", "random", "--budgets", "0.01,0.05", "--seeds", "2",
                 "--workers", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("random")]
    assert [r[1] for r in rows] == ["0.01", "0.05"]
    assert all(r[4].replace(",", "").isdigit() for r in rows)      # llm_calls, a mean over 2 seeds, rounded
