"""The gateway: uploads stay in the workspace and are validated, the edited catalog is validated, replays
are remembered, and background work reports its status. Uses a tiny trace written with the engine's writer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from dashboard import data, gateway

MODELS = pd.DataFrame([{"model": "a", "provider": "p", "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0,
                        "params_b": 7}, {"model": "b", "provider": "p", "input_usd_per_mtok": 5.0,
                                         "output_usd_per_mtok": 10.0, "params_b": 70}])


def tiny(folder: Path, n: int = 12) -> Path:
    from engine.traces import write_trace_frames
    queries = pd.DataFrame([{"query_id": f"q{i}", "task": "log_parsing", "dataset": "d", "text": f"user {i} in",
                             "reference": "user <*> in"} for i in range(n)])
    outcomes = pd.DataFrame([{"query_id": f"q{i}", "model": m, "output": "user <*> in" if (m == "b" or i % 2) else "x",
                              "raw_output": "user <*> in" if (m == "b" or i % 2) else "x",
                              "score": 1.0 if (m == "b" or i % 2) else 0.0, "input_tokens": 10, "output_tokens": 5,
                              "cost_usd": 0.001 if m == "b" else 0.0001, "latency_s": None}
                             for i in range(n) for m in ("a", "b")])
    write_trace_frames(folder, MODELS, queries, outcomes)
    return folder


@pytest.fixture
def workspace(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("SLS_WORKSPACE", str(tmp_path / "ws"))
    return tmp_path / "ws"


def test_save_upload_writes_only_inside_the_workspace(workspace, tmp_path):
    src = tiny(tmp_path / "src")
    files = [(p.name, p.read_bytes()) for p in sorted(src.iterdir())]
    folder = gateway.Gateway().save_upload(files)
    assert folder.is_relative_to(workspace.resolve() / "uploads")
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in src.iterdir())
    again = gateway.Gateway().save_upload(files)
    assert again == folder                                     # same content, same folder
    twice = gateway.Gateway().save_upload([("models.csv.gz", b"old"), *files])
    assert twice == folder                                     # a file added again: the later one wins
    assert gateway.Gateway().load_trace(folder).n_queries == 12


@pytest.mark.parametrize(("files", "message"), [
    ([], "No files uploaded"),
    ([("../../etc/passwd", b"x")], "not a trace file: expected models.csv"),
    ([("models.csv", b"x")], "missing: queries.csv, outcomes.csv"),
    ([("models.csv", b"x"), ("models.csv.gz", b"y"), ("queries.csv", b"z")], "missing: outcomes.csv"),
])
def test_save_upload_rejects_bad_uploads(workspace, files, message):
    with pytest.raises(ValueError, match=message):
        gateway.Gateway().save_upload(files)
    assert not (workspace / "uploads").exists() or not any((workspace / "uploads").iterdir())


def test_edited_catalog_is_validated(tmp_path):
    gw = gateway.Gateway()
    trace = gw.load_trace(tiny(tmp_path / "t"))
    original = pd.DataFrame([{"name": "a", "provider": "p", "input_usd_per_mtok": 1.0},
                             {"name": "b", "provider": "p", "input_usd_per_mtok": 5.0}])
    ok = data.apply_edits(original, {"1": {"input_usd_per_mtok": 7.5, "name": "renamed"}})
    assert ok[1] == {"name": "b", "provider": "p", "input_usd_per_mtok": 7.5}     # the name is locked
    assert gw.catalog(trace, json.dumps(ok)).get("b").input_usd_per_mtok == 7.5
    bad = data.apply_edits(original, {0: {"input_usd_per_mtok": -1.0}})
    with pytest.raises(Exception, match="input_usd_per_mtok must be a finite number >= 0"):
        gw.catalog(trace, json.dumps(bad))


def test_apply_edits_turns_nan_into_none():
    rows = data.apply_edits(pd.DataFrame([{"name": "a", "x": float("nan")}]), None)
    assert rows == [{"name": "a", "x": None}]


def test_replays_are_remembered_and_background_work_reports(tmp_path):
    gw = gateway.Gateway()
    folder = tiny(tmp_path / "t")
    key = gateway.trace_signature(folder)
    params = {"budget_usd": None, "seed": 0, "feedback": "reference", "exhausted": "cheapest"}
    seen = []
    first = gw.run_cached(key, "single:a", params, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (12, 12)
    assert first.metrics["accuracy"] == pytest.approx(0.5) and len(first.jobs) == 12
    assert gw.run_cached(key, "single:a", params) is first            # remembered: same object, no replay
    assert gw.status(key, "single:b", params) == "absent"
    gw.submit(key, "single:b", params)
    deadline = time.monotonic() + 30
    while gw.status(key, "single:b", params) != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gw.status(key, "single:b", params) == "done"
    assert gw.cached_result(gw.result_key(key, "single:b", params, None)).metrics["accuracy"] == 1.0
    gw.submit(key, "no-such-policy", params)                           # a failure is remembered, not raised
    deadline = time.monotonic() + 30
    while not gw.status(key, "no-such-policy", params).startswith("failed") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gw.status(key, "no-such-policy", params) == \
        "failed: The policy 'no-such-policy' is not available yet in this installation."


def test_trace_ref_knows_the_sample_is_simulated(tmp_path):
    assert gateway.TraceRef("sample", str(gateway.SAMPLE_TRACE), "s").simulated
    assert not gateway.TraceRef("folder", str(tmp_path), "t").simulated


def test_a_missing_engine_part_is_a_reason_not_an_exception():
    gw = gateway.Gateway()
    assert gw.feature("traces") is None
    assert "is not available yet in this installation" in gw.policy_missing("no-such-policy")


def test_background_work_waits_for_the_foreground(tmp_path):
    gw = gateway.Gateway()
    key = gateway.trace_signature(tiny(tmp_path / "t"))
    params = {"budget_usd": None, "seed": 0, "feedback": "reference", "exhausted": "cheapest"}
    with gw._lock:
        gw._foreground += 1                      # a page is waiting for a replay of its own
    gw.submit(key, "single:a", params)
    time.sleep(0.5)
    assert gw.status(key, "single:a", params) in ("queued", "running")      # paused, not done
    with gw._idle:
        gw._foreground -= 1
        gw._idle.notify_all()
    deadline = time.monotonic() + 30
    while gw.status(key, "single:a", params) != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gw.status(key, "single:a", params) == "done"
