"""The results pages read a live scheduler's workspace: `sls run` writes one (answers replayed from a tiny
trace's recorded outcomes, no network), then Overview, Decisions, Cache and Predictors show its jobs, and a
budget alert appears on every page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from app_helpers import APP, REPO
from streamlit.testing.v1 import AppTest

from dashboard import workspace

N_JOBS = 30


@pytest.fixture(scope="module")
def live_workspace(tmp_path_factory, tiny_trace) -> Path:
    from engine.traces import load_trace
    root = tmp_path_factory.mktemp("live")
    jobs = root / "jobs.txt"
    jobs.write_text("\n".join(load_trace(tiny_trace).queries["text"][:N_JOBS]) + "\n")
    ws = root / "ws"
    done = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(jobs), "--task", "log_parsing",
                           "--replay", str(tiny_trace), "--workspace", str(ws), "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return ws


def open_source(monkeypatch, ws: Path, tiny_trace, page: str | None = None, **state) -> AppTest:
    monkeypatch.setenv("SLS_TRACE", str(tiny_trace))
    monkeypatch.setenv("SLS_WORKSPACE", str(ws))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["source"] = "workspace"
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page:
        at.switch_page(f"../pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_reader_sees_every_logged_job(live_workspace):
    view = workspace.read(live_workspace)
    assert view.n_jobs == N_JOBS
    s = workspace.summary(view)
    assert s["spend_usd"] > 0 and s["model_calls"] + s["cache_hits"] >= N_JOBS - s["refused"]
    assert s["p95_latency_s"] >= s["p50_latency_s"] > 0
    assert not view.decisions.empty and view.decisions["job_id"].notna().all()


def test_overview_of_source_workspace_shows_its_jobs_and_spend(monkeypatch, live_workspace, tiny_trace):
    at = open_source(monkeypatch, live_workspace, tiny_trace)
    text = "\n".join(str(m.value) for m in at.markdown)
    view = workspace.read(live_workspace)
    assert f"{N_JOBS} jobs handled for ${view.spend_usd:.4f}".rstrip("0") in text.replace(",", "") or \
        f"{N_JOBS} jobs handled" in text
    assert any("live workspace" in str(c.value) for c in at.caption)
    assert {m.label for m in at.metric} >= {"Jobs", "Spend", "Latency p50 / p95", "Tokens", "Cache hits"}
    assert len(at.get("plotly_chart")) >= 2                                # spend by model and by task
    at.text_input(key="ws.search").input("q0001").run()
    assert any("1 of 30 jobs" in str(c.value) for c in at.caption)


@pytest.mark.parametrize("page", ["decisions", "cache", "predictors"])
def test_every_results_page_reads_the_workspace(monkeypatch, live_workspace, tiny_trace, page):
    at = open_source(monkeypatch, live_workspace, tiny_trace, page)
    assert not at.error, [e.value for e in at.error]
    assert any("live workspace" in str(c.value) for c in at.caption)
    assert at.get("plotly_chart")


def test_a_budget_alert_shows_on_every_page_and_is_logged(monkeypatch, live_workspace, tiny_trace, caplog):
    spent = workspace.read(live_workspace).spend_usd
    for page in (None, "what_if", "data_models"):
        at = open_source(monkeypatch, live_workspace, tiny_trace, page,
                         **{"alerts.budget": round(spent / 0.85, 6), "alerts.period": "run"})
        warnings = [str(w.value) for w in at.warning]
        assert any("Budget alert" in w and "of the" in w for w in warnings), warnings
    assert any("Budget alert" in r.getMessage() for r in caplog.records)
    assert workspace.alerts(spent, spent) == [{"level": 1.0, "share": 1.0, "spent_usd": spent, "budget_usd": spent}]
    assert workspace.alerts(spent, spent * 2) == []


def test_the_workspaces_own_jobs_replay_as_a_trace_on_every_page(monkeypatch, live_workspace, tiny_trace):
    """Data & models → "This workspace's jobs": the live run's jobs become the trace; What-if replays them and
    says how many have a recorded outcome; a job the replay cannot answer from one is 'missing', never guessed."""
    monkeypatch.setenv("SLS_TRACE", str(tiny_trace))
    monkeypatch.setenv("SLS_WORKSPACE", str(live_workspace))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("../pages/data_models.py").run()
    at.radio(key="data.source").set_value("This workspace's jobs").run()
    at.button(key="data.use_workspace").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("this workspace's jobs" in str(s.value) for s in at.success), [s.value for s in at.success]
    from engine.traces import load_trace
    trace = load_trace(live_workspace)
    with_outcome = int(trace.recorded.any(axis=1).sum())
    for page in ("what_if", "overview"):
        at.switch_page(f"../pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        notes = [str(c.value) for c in at.caption]
        assert any(f"{with_outcome:,} of {N_JOBS:,} have a recorded model outcome" in n for n in notes), notes
        if page == "what_if":       # accuracy is said to be over the graded jobs, with the missing ones counted
            assert any("graded jobs" in str(m.value) and "missing)" in str(m.value) for m in at.markdown)
