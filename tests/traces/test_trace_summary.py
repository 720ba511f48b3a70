"""describe(trace): the facts the CLI and the dashboard show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import MODELS, OUTCOMES, make_trace

from engine.traces import load_trace
from engine.traces.summary import describe


def test_describe_tiny_trace(tiny_trace: Path):
    info = describe(load_trace(tiny_trace))

    assert info["name"] == "tiny"
    assert info["n_queries"] == 3
    assert info["n_models"] == 2
    assert info["models"] == ["small", "big"]
    assert info["tasks"] == {"log_parsing": 2, "text_classification": 1}
    assert list(info["tasks"]) == ["log_parsing", "text_classification"]  # most frequent first
    assert info["datasets"] == {"Apache": 2, "reviews": 1}
    assert info["graded_fraction"] == 1.0
    assert info["has_prices"] is True
    assert info["has_tokens"] is True
    assert info["has_latency"] is True
    costs = (0.000003, 0.000038, 0.0000031, 0.000035, 0.0000032, 0.000032)
    assert info["total_cost_usd"] == pytest.approx(sum(costs))
    json.dumps(info)  # JSON-ready


def test_describe_reports_missing_prices_tokens_latency_and_grades(tmp_path: Path):
    rows = [f"q{q},{m},o,o,{'' if (q, m) == (3, 'big') else 1},,,0.5,\n"
            for q in (1, 2, 3) for m in ("small", "big")]
    outcomes = OUTCOMES.split("\n", 1)[0] + "\n" + "".join(rows)
    folder = make_trace(tmp_path / "bare", models_csv=MODELS.replace("0.1,0.2,7", ",,7"),
                        outcomes_csv=outcomes)

    info = describe(load_trace(folder))

    assert info["graded_fraction"] == pytest.approx(5 / 6)
    assert info["has_prices"] is False
    assert info["has_tokens"] is False
    assert info["has_latency"] is False
    assert info["total_cost_usd"] == 3.0
