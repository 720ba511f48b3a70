"""A live workspace's own jobs replayed as a trace (what-if on real traffic): `load_trace(WORKSPACE)`, `sls replay
WORKSPACE`, `sls sweep WORKSPACE`. Only the outcomes the live run recorded exist; every other one is missing, and
a replay says so instead of inventing it."""

from __future__ import annotations

import json

import pytest

from engine.cli import main
from engine.errors import TraceError
from engine.eventlog import EventLog
from engine.service import LIVE_RUN
from engine.traces import load_trace
from engine.traces.workspace import missing_outcomes
from tests.fakes.anthropic_server import FakeAnthropicServer, use_fake_server
from tests.live.test_live_engine import respond

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")]

WORDS = ["alpha", "beta", "gamma", "delta"]


@pytest.fixture
def workspace(tmp_path, capsys, monkeypatch):
    """A workspace after `sls run` of 30 log lines (4 templates, so most are cache hits), with feedback on one."""
    lines = [f"worker {WORDS[i % 4]} finished task {100 + i} in {7 * i + 3} ms" for i in range(24)]
    lines += [f"Failed password for root from 10.0.0.{i} port {2000 + i} ssh2" for i in range(6)]
    jobs = tmp_path / "lines.txt"
    jobs.write_text("\n".join(lines) + "\n")
    with FakeAnthropicServer(responder=respond) as server:
        use_fake_server(monkeypatch, server, tmp_path / "ws", key="sk-test-workspace-replay", timeout_s=10)
        assert main(["run", str(jobs), "--task", "log_parsing", "--concurrency", "1", "--no-progress"]) == 0
    capsys.readouterr()
    ws = tmp_path / "ws"
    log = EventLog(ws / "events.sqlite")
    try:
        steps = log.steps(LIVE_RUN)
    finally:
        log.close()
    answered = next(s for s in steps if s["source"] == "model")
    assert main(["feedback", answered["job_id"], "--score", "0"]) == 0
    capsys.readouterr()
    return ws, steps, answered


def test_a_workspace_is_a_trace_of_its_recorded_outcomes(workspace):
    ws, steps, graded = workspace
    trace = load_trace(ws)
    assert trace.n_queries == len(steps) == 30
    assert trace.queries["text"].tolist() == [s["text"] for s in steps]
    assert trace.recorded is not None
    for i, s in enumerate(steps):
        row = trace.recorded[i]
        if s["source"] == "model":
            j = trace.model_index(s["model"])
            assert row.tolist() == [k == j for k in range(len(trace.model_names))]
            assert trace.outputs[i, j] == s["answer"] and trace.costs[i, j] == pytest.approx(s["cost_usd"])
        else:
            assert not row.any()           # answered from the cache: no model outcome exists
    i = trace.queries["query_id"].tolist().index(graded["job_id"])
    assert trace.scores[i, trace.model_index(graded["model"])] == 0.0    # the user's feedback is the grade
    missing = missing_outcomes(trace)
    model_steps = sum(s["source"] == "model" for s in steps)
    assert missing["jobs_without_outcome"] == 30 - model_steps > 0


def test_replaying_a_workspace_never_invents_an_outcome_and_keeps_its_budget(workspace, capsys):
    ws, steps, _ = workspace
    spent = sum(s["cost_usd"] for s in steps)
    assert main(["replay", str(ws), "--policy", "sls", "--json"]) == 0
    full = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert full["queries"] == 30 and full["cost_usd"] <= spent + 1e-9
    assert full["missing_outcomes"]["jobs_without_outcome"] > 0

    budget = round(spent / 4, 6)
    assert main(["replay", str(ws), "--policy", "sls", "--budget", str(budget), "--json"]) == 0
    tight = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert tight["cost_usd"] <= budget and tight["llm_calls"] < full["llm_calls"]
    # fewer answers bought, fewer cached: more jobs have no recorded outcome to replay; they stay ungraded
    assert tight.get("missing", 0) >= full.get("missing", 0)
    assert tight["graded"] <= 30 - tight.get("missing", 0)

    # a fixed model answers only where its outcome exists
    model = next(s["model"] for s in steps if s["source"] == "model")
    assert main(["replay", str(ws), "--policy", f"single:{model}", "--json"]) == 0
    single = json.loads(capsys.readouterr().out.splitlines()[-1])
    trace = load_trace(ws)
    assert single["missing"] == int((~trace.recorded[:, trace.model_index(model)]).sum())


def test_a_workspace_without_live_jobs_is_refused_in_one_line(tmp_path, capsys):
    ws = tmp_path / "empty-ws"
    EventLog(ws / "events.sqlite").close()
    with pytest.raises(TraceError, match="no live jobs yet"):
        load_trace(ws)
    assert main(["replay", str(ws), "--policy", "sls"]) == 2
    err = capsys.readouterr().err
    assert "no live jobs yet" in err and "Traceback" not in err


def test_no_policy_answers_a_workspace_job_from_an_outcome_never_recorded(workspace):
    from engine.simulation.policy import ReplayOptions, policy_names
    from engine.simulation.replay import replay
    trace = load_trace(workspace[0])
    for name in policy_names(trace.model_names):
        for budget in (None, 0.0005):
            result = replay(trace, name, ReplayOptions(budget_usd=budget))
            for i, r in enumerate(result.records):
                for model in r.models_tried:
                    assert trace.recorded[i, trace.model_index(model)], (name, budget, i, model)
            if name in ("random", "cheapest", "optllm", "cascade"):     # no cache: the cache-answered jobs
                assert result.metrics.get("missing", 0) >= 1, name
