"""Parses, scores and verdicts of a trace's outcomes are computed once per trace and shared by its replays."""

from pathlib import Path

import pytest

from engine.simulation.env import ReplayEnv
from engine.simulation.policy import ReplayOptions
from engine.simulation.replay import replay
from engine.tasks import get_task
from engine.traces import load_trace

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "demo"


def test_a_second_replay_of_the_same_trace_parses_nothing_again(monkeypatch):
    trace = load_trace(SAMPLE)
    first = replay(trace, "sls", ReplayOptions(budget_usd=0.5))
    assert trace.memo("parsed:parsed") and trace.memo("verdicts:parsed")

    def refuse(*args, **kwargs):
        raise AssertionError("parsed again")
    for task in {j.task for j in trace.jobs()}:
        monkeypatch.setattr(type(get_task(task)), "parse", refuse)
    again = replay(trace, "sls", ReplayOptions(budget_usd=0.5))
    assert again.metrics["accuracy"] == first.metrics["accuracy"]
    assert again.metrics["cost_usd"] == first.metrics["cost_usd"]
    with pytest.raises(AssertionError, match="parsed again"):   # a fresh load of the trace starts empty
        ReplayEnv(load_trace(SAMPLE)).peek(0, 0)
