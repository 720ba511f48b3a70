"""Dashboard hardening (issue 14, items 3, 11, 12): one Playground engine per workspace whatever the settings,
CSV downloads a spreadsheet cannot run, and trace-derived text that markdown cannot turn into links/images."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from dashboard import data, gateway
from dashboard import formatting as fmt

FORMULAS = ['=HYPERLINK("http://evil.example/x","click")', "+1+1", "-2+3", "@SUM(A1:A2)", "\tcmd", "\rcmd"]


def test_csv_cells_a_spreadsheet_would_run_are_neutralised():
    df = pd.DataFrame({"line": FORMULAS + ["plain text"], "cost_usd": [-0.5, 1, 2, 3, 4, 5, 6]})
    text = data.csv_bytes(df).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    for raw, row in zip(FORMULAS, rows, strict=False):
        assert row[0] == "'" + raw, row
    assert rows[-1][0] == "plain text"
    assert float(rows[0][1]) == -0.5             # numbers stay numbers, negative ones included


def test_csv_header_cells_are_neutralised_and_the_scenario_rides_along():
    df = pd.DataFrame({"=cmd": ["a"]})
    text = data.csv_bytes(df, {"budget_usd": 2.5, "policy_params": {"cost_weight": 0.15}}).decode()
    header = text.splitlines()[0]
    assert header.startswith("\"'=cmd")
    assert "scenario_budget_usd" in header and "scenario_policy_params" in header
    back = pd.read_csv(io.StringIO(text))
    assert back["scenario_budget_usd"].iloc[0] == 2.5


@pytest.mark.parametrize("evil", ["![x](http://evil.example/a.png)", "[click](http://evil.example)",
                                  ":red[alarm] :material/warning:", "**bold** _it_ $x^2$"])
def test_markdown_escape_leaves_nothing_for_markdown_to_act_on(evil):
    out = fmt.md(evil)
    for ch in "![]()*_:$":
        assert f"\\{ch}" in out or ch not in evil
    unescaped = out.replace("\\\\", "").replace("\\!", "").replace("\\[", "").replace("\\]", "").replace(
        "\\(", "").replace("\\)", "")
    assert "](" not in unescaped


def test_code_span_cannot_be_closed_by_the_text():
    out = fmt.code("a`![x](http://e/a.png)`b")
    assert out.startswith("`") and out.endswith("`") and out.count("`") == 2


def test_the_playground_keeps_one_engine_per_workspace_and_applies_setting_changes(monkeypatch, tmp_path):
    monkeypatch.setenv("SLS_WORKSPACE", str(tmp_path / "ws"))
    gw = gateway.Gateway()
    if gw.feature("service"):
        pytest.skip(gw.feature("service"))
    first = gw.engine("fake", {"cost_weight": 0.15, "latency_weight": 0.0, "max_attempts": 3,
                               "feedback": "reference"})
    second = gw.engine("fake", {"cost_weight": 0.5, "latency_weight": 0.1, "max_attempts": 2,
                                "feedback": "reference"})
    assert second is first                                 # no second engine on the same workspace
    assert len(gw._engines) == 1
    config = first._engine.scheduler.config
    assert (config.cost_weight, config.latency_weight, config.max_attempts) == (0.5, 0.1, 2)
    assert first._engine.settings.cost_weight == 0.5
