"""Pacing along a target line: spend cannot run ahead of the line by more than the deviation, so a stream
whose hard jobs (or a new system) come first cannot spend the budget of the jobs after it."""

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.scheduling.pacing import DEVIATION, curve_allowance, curve_target
from engine.simulation.policy import ReplayOptions
from engine.simulation.replay import replay
from engine.traces.reader import load_trace

ROOT = Path(__file__).resolve().parents[2]


def test_the_line_and_its_allowance():
    assert curve_target(10.0, 0, 100) == 0.0
    assert curve_target(10.0, 50, 100) == pytest.approx(5.0)
    assert curve_target(10.0, 500, 100) == pytest.approx(10.0)         # a longer stream than expected
    assert curve_allowance(10.0, 0.0, 0, 100) == pytest.approx(0.1 + DEVIATION * 10)
    assert curve_allowance(10.0, 5.0, 49, 100) == pytest.approx(DEVIATION * 10)   # on the line
    assert curve_allowance(10.0, 6.5, 49, 100) == 0.0                   # ahead by more than the deviation
    assert curve_allowance(10.0, 9.99, 99, 100) == pytest.approx(0.01)  # never more than what is left


def _reordered(trace, rows):
    return replace(trace, queries=trace.queries.iloc[rows].reset_index(drop=True), scores=trace.scores[rows],
                   costs=trace.costs[rows], input_tokens=trace.input_tokens[rows],
                   output_tokens=trace.output_tokens[rows], latency_s=trace.latency_s[rows],
                   outputs=trace.outputs[rows], raw_outputs=trace.raw_outputs[rows])


@pytest.fixture(scope="module")
def hardest_first():
    demo = load_trace(ROOT / "sample_data" / "demo")
    logs = np.flatnonzero((demo.queries["task"] == "log_parsing").to_numpy())
    logs = logs[np.argsort(np.nanmean(demo.scores[logs], axis=1), kind="stable")]   # hardest jobs first
    return _reordered(demo, logs)


def test_a_hardest_first_stream_is_not_spent_on_its_first_half(hardest_first):
    cheapest_everywhere = float(np.nanmin(hardest_first.costs, axis=1).sum())
    budget = 0.3 * cheapest_everywhere            # cannot pay even the cheapest model for every job
    run = replay(hardest_first, "sls", ReplayOptions(budget_usd=budget))
    spent = np.cumsum([r.cost_usd for r in run.records])
    n = len(run.records)
    assert spent[-1] <= budget + 1e-12
    for k in range(0, n, max(1, n // 20)):         # spend never runs ahead of the line by more than the deviation
        assert spent[k] <= budget * ((k + 1) / n + DEVIATION) + float(np.nanmax(hardest_first.costs)) + 1e-12
    calls = [r.seq for r in run.records if r.attempts]
    assert sum(seq >= n // 2 for seq in calls) > 0.25 * len(calls)   # the second half still gets calls
    refused = Counter(r.dataset for r in run.records if r.source == "refused")
    jobs = Counter(r.dataset for r in run.records)
    assert all(refused[d] < jobs[d] for d in jobs), "a system got no answer at all"
