"""A replay killed with SIGKILL and resumed on the same workspace ends with the same metrics as an
uninterrupted one: nothing lost, nothing counted twice."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.simulation.policy import ReplayOptions
from engine.simulation.replay import ReplaySession
from engine.traces import load_trace, write_trace_frames
from engine.traces.writer import trace_frames

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("accuracy", "cost_usd", "llm_calls", "cache_hit_rate", "false_hit_rate", "queries", "refused")

CHILD = """
import os, signal, sys
from engine.simulation.policy import ReplayOptions
from engine.simulation.replay import ReplaySession
from engine.traces import load_trace
session = ReplaySession(load_trace(sys.argv[1]), "sls", ReplayOptions(workspace=sys.argv[2], budget_usd=0.5))
session.step(int(sys.argv[3]))
os.kill(os.getpid(), signal.SIGKILL)   # dies between checkpoints, without any cleanup
"""


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory):
    models, queries, outcomes = trace_frames(load_trace(ROOT / "sample_data" / "demo"))
    queries = queries.iloc[:240]
    outcomes = outcomes[outcomes["query_id"].isin(set(queries["query_id"]))]
    models = models.assign(available_from="")   # keep the newcomer out of this small slice's rules
    folder = tmp_path_factory.mktemp("trace") / "small"
    write_trace_frames(folder, models, queries, pd.DataFrame(outcomes))
    return folder


def run_to_end(trace_path, workspace=None):
    session = ReplaySession(load_trace(trace_path), "sls", ReplayOptions(workspace=workspace, budget_usd=0.5))
    while not session.done:
        session.step(64)
    return session


@pytest.mark.integration
def test_sigkill_and_resume_gives_the_same_metrics(small_trace, tmp_path, monkeypatch):
    monkeypatch.setenv("SLS_CHECKPOINT_EVERY", "50")
    reference = run_to_end(small_trace).metrics()

    workspace = tmp_path / "ws"
    env = {**os.environ, "SLS_CHECKPOINT_EVERY": "50", "PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-c", CHILD, str(small_trace), str(workspace), "130"],
                           cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]

    import engine.simulation.replay as replay_module
    monkeypatch.setattr(replay_module, "CHECKPOINT_EVERY", 50)
    resumed = ReplaySession(load_trace(small_trace), "sls", ReplayOptions(workspace=str(workspace), budget_usd=0.5))
    assert len(resumed.records) == 100            # the last checkpoint before the kill at job 130
    while not resumed.done:
        resumed.step(64)
    metrics = resumed.metrics()
    assert {k: metrics[k] for k in KEYS} == {k: reference[k] for k in KEYS}
    assert metrics["cost_usd"] <= 0.5
    # the event log holds every job exactly once
    assert resumed.events.step_count(resumed.run_id) == 240
    assert [r.seq for r in resumed.records] == list(range(240))
