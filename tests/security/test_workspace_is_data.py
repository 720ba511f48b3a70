"""A workspace is data, not code (issue 14, finding 6): learned state, snapshots and replay checkpoints are
loaded through `engine.safepickle.safe_loads`, which refuses any global outside an allow-list before calling
anything. Each test plants a `__reduce__` payload that would create a marker file, and checks it never runs."""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.catalog import Catalog
from engine.errors import WorkspaceError
from engine.safepickle import UnsafePickleError, allowed, safe_loads
from engine.service import LIVE_RUN, STATE_FILE, build_engine
from engine.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def fake_client(catalog: Catalog):
    """Every catalog model as a deterministic fake (no network) that answers a log line with its template."""
    from engine.clients.fake import FakeChatModel
    from engine.clients.resilience import ResilientClient
    from engine.tasks.templates import mask_variables

    def template_of(messages) -> str:
        text = str(messages[-1].content)
        return mask_variables(text.split("Log line:\n", 1)[-1].split("\n\nReply", 1)[0])
    return ResilientClient({spec.name: FakeChatModel(model_name=spec.name, responder=template_of, spec=spec)
                            for spec in catalog}, catalog)


class Payload:
    """Unpickling this runs `os.system("touch <marker>")` — with plain `pickle.loads`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def payload(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker))


def test_the_payload_does_run_with_plain_pickle(tmp_path):
    """The control: the payload is real."""
    marker = tmp_path / "ran"
    pickle.loads(payload(marker))
    assert marker.exists()


@pytest.mark.parametrize("blob_of", [
    lambda m: payload(m),
    lambda m: pickle.dumps({"predictors": [1, 2, Payload(m)]}),          # nested in ordinary state
    lambda m: pickle.dumps(eval),                                        # noqa: S307 - a reference, not a call
    lambda m: pickle.dumps(getattr),
    lambda m: pickle.dumps(subprocess.Popen),
])
def test_safe_loads_refuses_globals_outside_the_allow_list(tmp_path, blob_of):
    marker = tmp_path / "ran"
    with pytest.raises(UnsafePickleError, match="refused to load"):
        safe_loads(blob_of(marker))
    assert not marker.exists()


def test_the_allow_list_holds_data_classes_not_functions():
    assert allowed("engine.predictors.predictors", "Predictors")
    assert allowed("river.linear_model.lin_reg", "LinearRegression")
    assert allowed("numpy._core.multiarray", "_reconstruct")
    assert allowed("collections", "OrderedDict")
    assert not allowed("engine.tasks.sandbox", "run_python")
    assert not allowed("posix", "system") and not allowed("builtins", "eval") and not allowed("os", "system")
    from engine.predictors.features import job_features
    with pytest.raises(UnsafePickleError, match="not a class"):
        safe_loads(pickle.dumps(job_features))       # a function of an allowed engine module


def test_real_learned_state_round_trips(tmp_path):
    catalog = Catalog.default()
    engine = build_engine(load_settings(workspace=tmp_path / "ws"), catalog=catalog, client=fake_client(catalog))
    try:
        engine.ask("Failed password for root from 10.0.0.1 port 22 ssh2", "log_parsing")
        snapshot = engine._snapshot()
        state = safe_loads(snapshot.state)
        assert set(state) >= {"updates", "rng"}   # the update manager holds the predictors
        engine.scheduler.restore(snapshot.state)
    finally:
        engine.close()


def _workspace_with_a_job(workspace: Path) -> str:
    catalog = Catalog.default()
    engine = build_engine(load_settings(workspace=workspace), catalog=catalog, client=fake_client(catalog))
    try:
        return engine.ask("Failed password for root from 10.0.0.1 port 22 ssh2", "log_parsing")["job_id"]
    finally:
        engine.close()


def _sls(args: list[str], workspace: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SLS_"))}
    env.update({"PYTHONPATH": str(ROOT), "ANONYMIZED_TELEMETRY": "False", "OMP_NUM_THREADS": "1"})
    return subprocess.run([sys.executable, "-m", "engine.cli", *args, "--workspace", str(workspace)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_sls_feedback_does_not_run_a_payload_planted_in_scheduler_state(tmp_path):
    workspace, marker = tmp_path / "ws", tmp_path / "ran"
    workspace.mkdir()
    (workspace / STATE_FILE).write_bytes(payload(marker))
    done = _sls(["feedback", "x", "--score", "1"], workspace)
    assert not marker.exists(), "the workspace ran code"
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert STATE_FILE in done.stderr and "refused to load" in done.stderr, done.stderr


def test_a_payload_in_the_snapshot_blob_and_the_state_file_never_runs(tmp_path):
    workspace, marker = tmp_path / "ws", tmp_path / "ran"
    job_id = _workspace_with_a_job(workspace)
    con = sqlite3.connect(workspace / "events.sqlite")
    with con:
        con.execute("UPDATE snapshots SET state=?, cache_pending=? WHERE run_id=?",
                    (payload(marker), payload(marker), LIVE_RUN))
    con.close()
    (workspace / STATE_FILE).write_bytes(payload(marker))
    done = _sls(["feedback", job_id, "--score", "1"], workspace)
    assert not marker.exists(), "the workspace ran code"
    assert done.returncode == 2 and "events.sqlite" in done.stderr, done.stderr
    with pytest.raises(WorkspaceError, match="refused to load"):
        build_engine(load_settings(workspace=workspace))
    assert not marker.exists()


def test_a_payload_in_a_replay_checkpoint_never_runs(tmp_path, monkeypatch):
    from engine.simulation.policy import ReplayOptions
    from engine.simulation.replay import ReplaySession
    from engine.traces import load_trace

    monkeypatch.setenv("SLS_CHECKPOINT_EVERY", "20")
    trace, workspace, marker = load_trace(ROOT / "sample_data" / "demo"), tmp_path / "ws", tmp_path / "ran"
    options = ReplayOptions(workspace=str(workspace), budget_usd=0.5)
    session = ReplaySession(trace, "sls", options)
    while session.events.last_checkpoint(session.run_id) is None and not session.done:
        session.step(20)
    assert session.events.last_checkpoint(session.run_id) is not None
    run_id = session.run_id
    session.events.close()
    con = sqlite3.connect(workspace / "events.sqlite")
    with con:                          # the checkpoint itself, then the policy's state inside a valid one
        con.execute("UPDATE checkpoints SET state=? WHERE run_id=?", (payload(marker), run_id))
    with pytest.raises(UnsafePickleError):
        ReplaySession(trace, "sls", options)
    with con:
        inner = pickle.dumps({"runner": payload(marker), "spent": 0.0, "jobs_seen": 0})
        con.execute("UPDATE checkpoints SET state=? WHERE run_id=?", (inner, run_id))
    con.close()
    with pytest.raises(UnsafePickleError):
        ReplaySession(trace, "sls", options)
    assert not marker.exists(), "the checkpoint ran code"
