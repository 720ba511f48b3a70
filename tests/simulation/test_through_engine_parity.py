"""The parity test of the one job pipeline: a trace sent through the live `Engine` (its pipeline, event log
and checkpoints) with the recorded-trace backend gives exactly what `sls replay --policy sls` gives."""

from __future__ import annotations

import json

import pytest

from engine.cli import main
from engine.simulation.policy import ReplayOptions
from engine.simulation.replay import replay, replay_through_engine
from tests.simulation.conftest import ROOT

KEYS = ("accuracy", "cost_usd", "llm_calls", "cache_hits", "refused", "queries")


@pytest.mark.parametrize("options", [ReplayOptions(), ReplayOptions(budget_usd=0.02), ReplayOptions(budget_usd=0.004),
                                     ReplayOptions(feedback="verifier", seed=4),
                                     ReplayOptions(budget_usd=0.004, exhausted="refuse"),
                                     ReplayOptions(budget_usd=0.004, exhausted="cache_only")])
def test_through_engine_equals_replay_on_a_small_trace(slice_trace, options):
    direct = replay(slice_trace, "sls", options).metrics
    through = replay_through_engine(slice_trace, options).metrics
    assert {k: through[k] for k in KEYS} == {k: direct[k] for k in KEYS}


def test_through_engine_equals_replay_on_the_sample_from_the_command_line(capsys, monkeypatch):
    monkeypatch.delenv("SLS_WORKSPACE", raising=False)
    trace = str(ROOT / "sample_data" / "demo")
    runs = []
    for extra in ([], ["--through-engine"]):
        assert main(["replay", trace, "--policy", "sls", "--json", "--no-progress", *extra]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    direct, through = runs
    assert set(through) >= set(direct) - {"cold_start"}
    assert {k: through[k] for k in KEYS} == {k: direct[k] for k in KEYS}
    assert direct["llm_calls"] > 0 and direct["cache_hits"] > 0


def test_through_engine_is_only_for_sls(capsys):
    assert main(["replay", str(ROOT / "sample_data" / "demo"), "--policy", "cheapest", "--through-engine"]) == 2
    assert "--through-engine runs the engine's own policy 'sls'" in capsys.readouterr().err


