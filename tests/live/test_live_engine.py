"""The live engine end to end: `sls ask/run/feedback` and the `Engine` API -> resilient client -> real HTTP on
127.0.0.1 -> `FakeAnthropicServer`, with the workspace's Chroma cache and SQLite event log on disk.

Every test gets its own workspace (tmp_path) and server; retries back off for milliseconds, and only the
tests that hang the server on purpose use a short request timeout.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from engine.catalog import Catalog
from engine.cli import main
from engine.clients.settings import BreakerPolicy, ClientSettings, RetryPolicy
from engine.eventlog import EventLog
from engine.service import LIVE_RUN, build_engine
from engine.settings import SAMPLE_TRACE, load_settings
from engine.tasks.templates import mask_variables, template_matches
from engine.traces import load_trace
from tests.fakes.anthropic_server import (
    ApiError,
    FakeAnthropicServer,
    Hang,
    Malformed,
    RateLimited,
    Reply,
    last_user_text,
    storm,
    use_fake_server,
)

pytestmark = [
    pytest.mark.integration,
    # The SDK warns about the catalog's real model ids, and pydantic about the malformed bodies we send.
    pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
]

SECRET = "sk-test-secret-Vq7XnL2pR9kT4wZ8mB3c"
LINE = "Failed password for root from 10.0.0.1 port 22 ssh2"
SAME_TEMPLATE = "Failed password for root from 192.168.7.40 port 50122 ssh2"
CATALOG = Catalog.default()
HANG_TIMEOUT_S = 0.5       # only where the server hangs on purpose
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05, retry_after_cap_s=2.0)

# Variables that would send a client elsewhere, leak to a tracing service or change the engine's settings.


def respond(body: dict) -> str:
    """What a decent model would answer: the template of a log line, a label for a ticket."""
    text = last_user_text(body)
    system = body.get("system") or ""
    if isinstance(system, list):
        system = " ".join(b.get("text", "") for b in system)
    if "classifier" in system:
        return "bug" if re.search(r"crash|error|broken", text, re.I) else "billing"
    match = re.search(r"Log line:\n(.*)\n\nReply", text, re.S)
    return mask_variables(match.group(1) if match else text)


@pytest.fixture
def server():
    with FakeAnthropicServer(responder=respond) as srv:
        yield srv


@pytest.fixture
def live(server, tmp_path, monkeypatch):
    """Environment of a live `sls` on the fake server: key, base URL, workspace, fast retries."""
    use_fake_server(monkeypatch, server, tmp_path / "ws", key=SECRET, timeout_s=10)
    return server


def sls(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def ask_json(capsys, *argv: str) -> dict:
    code, out, err = sls(capsys, "ask", *argv, "--json")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


def steps(workspace: Path) -> list[dict]:
    log = EventLog(workspace / "events.sqlite")
    try:
        return log.steps(LIVE_RUN)
    finally:
        log.close()


def engine_for(workspace: Path, **client):
    """An `Engine` on `workspace` with fast retries (client options override)."""
    options = {"timeout_s": 10.0, "retry": FAST_RETRY, **client}
    return build_engine(load_settings(workspace=workspace), client_settings=ClientSettings(**options))


# -- 1, 2: ask ------------------------------------------------------------------------------------------------
def test_ask_answers_a_log_line_priced_from_usage_then_serves_it_from_the_cache(live, capsys, tmp_path):
    live.enqueue(Reply(input_tokens=1200, output_tokens=40))
    first = ask_json(capsys, LINE, "--task", "log_parsing")
    assert first["answer"] == "Failed password for root from <*> port <*> ssh2"
    assert first["model"] in CATALOG and first["verdict"] == "ok" and first["cached"] is False
    assert first["cost_usd"] > 0
    assert first["cost_usd"] == pytest.approx(CATALOG.get(first["model"]).cost(1200, 40), abs=1e-8)
    assert first["latency_s"] > 0 and first["job_id"] and first["failures"] == []
    assert live.request_count == 1 and live.requests[0].body["model"] == CATALOG.get(first["model"]).api_model

    again = ask_json(capsys, LINE, "--task", "log_parsing")
    assert again["cached"] is True and again["cost_usd"] == 0
    assert again["answer"] == first["answer"] and again["job_id"] != first["job_id"]
    assert live.request_count == 1                      # the cache answered, no call
    assert [s["job_id"] for s in steps(tmp_path / "ws")] == [first["job_id"], again["job_id"]]


def test_ask_classifies_a_ticket_into_one_of_its_labels(live, capsys):
    got = ask_json(capsys, "The app crashes when I open settings", "--task", "text_classification",
                   "--labels", "billing,bug")
    assert got["answer"] == "bug" and got["answer"] in ("billing", "bug")
    assert got["verdict"] == "ok" and got["cost_usd"] > 0 and got["cached"] is False
    assert live.request_count == len(got["attempts"]) >= 1
    assert all(r.body["system"].endswith("billing, bug.") for r in live.requests)


# -- 3: failures ----------------------------------------------------------------------------------------------
def test_a_429_is_retried_after_its_retry_after_and_answered(live, capsys):
    live.enqueue(RateLimited(retry_after=0.3))
    got = ask_json(capsys, LINE, "--task", "log_parsing")
    assert got["verdict"] == "ok" and got["failures"] == [] and len(got["attempts"]) == 1
    first, second = live.requests
    assert first.body["model"] == second.body["model"]        # same model, retried
    assert second.received_at - first.received_at >= 0.28      # retry-after honoured, not the 10 ms backoff


def test_a_500_storm_on_the_chosen_model_falls_back_and_records_the_failure(live, capsys, tmp_path):
    live.enqueue(storm(500, 3))        # every retry of the first model fails
    got = ask_json(capsys, LINE, "--task", "log_parsing")
    assert got["verdict"] == "ok" and got["answer"] == "Failed password for root from <*> port <*> ssh2"
    failed, answered = got["attempts"]
    assert failed != answered and got["model"] == answered
    assert len(got["failures"]) == 1 and got["failures"][0].startswith(f"{failed}: ")
    assert "server_error" in got["failures"][0]
    assert [r.body["model"] for r in live.requests] == [CATALOG.get(failed).api_model] * 3 + [
        CATALOG.get(answered).api_model]
    job_steps = [s for s in steps(tmp_path / "ws") if s["job_id"] == got["job_id"]]
    assert len(job_steps) == 1
    assert job_steps[0]["failures"] == got["failures"] and job_steps[0]["attempts"] == [failed, answered]
    # The failure is negative feedback for the failing model.
    engine = engine_for(tmp_path / "ws")
    try:
        observed = {(o["model"], o["observed"]) for o in engine.scheduler.updates.observations}
    finally:
        engine.close()
    assert (failed, 0.0) in observed and (answered, 1.0) in observed


def test_a_hanging_model_times_out_and_the_job_falls_back(live, tmp_path):
    live.enqueue([Hang(seconds=5)] * 3)
    engine = engine_for(tmp_path / "ws", timeout_s=HANG_TIMEOUT_S)
    try:
        got = engine.ask(LINE, "log_parsing")
    finally:
        engine.close()
    assert got["verdict"] == "ok" and len(got["attempts"]) == 2
    assert len(got["failures"]) == 1 and "timeout" in got["failures"][0]
    assert got["model"] == got["attempts"][1] != got["attempts"][0]


def test_a_forced_model_that_keeps_timing_out_is_an_error_line_and_exit_2(live, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SLS_CLIENT_TIMEOUT_S", str(HANG_TIMEOUT_S))
    live.enqueue([Hang(seconds=5)] * 3)
    code, out, err = sls(capsys, "ask", LINE, "--task", "log_parsing", "--model", "claude-haiku-4-5", "--json")
    assert code == 2 and out == ""
    assert err.startswith("error: no model answered job ") and err.count("\n") == 1
    assert "claude-haiku-4-5" in err and "timeout" in err
    assert live.request_count == 3
    assert len(steps(tmp_path / "ws")) == 1        # the failed job is still in the event log


def test_malformed_answers_are_failures_that_fall_back(live, capsys):
    live.enqueue(Malformed("this is not json {"), Malformed('{"type": "message", "content": 5}'),
                 Malformed('{"id": "msg_x", "type": "message", "role": "assistant"}'))
    got = ask_json(capsys, LINE, "--task", "log_parsing")
    assert got["verdict"] == "ok" and len(got["attempts"]) == 2 and len(got["failures"]) == 1
    assert "malformed" in got["failures"][0]
    assert live.request_count == 4


def test_the_settings_env_variables_are_validated(live, capsys, monkeypatch):
    monkeypatch.setenv("SLS_CLIENT_TIMEOUT_S", "soon")
    code, out, err = sls(capsys, "ask", LINE, "--task", "log_parsing")
    assert code == 2 and out == "" and err == "error: SLS_CLIENT_TIMEOUT_S must be a number of seconds, got 'soon'\n"
    monkeypatch.setenv("SLS_CLIENT_TIMEOUT_S", "0")
    code, _, err = sls(capsys, "ask", LINE, "--task", "log_parsing")
    assert code == 2 and err.startswith("error: clients.timeout_s must be a finite number > 0")
    assert live.request_count == 0


# -- 4: feedback ----------------------------------------------------------------------------------------------
def test_feedback_updates_the_engine_once_and_withdraws_the_wrong_answer(live, capsys, tmp_path):
    first = ask_json(capsys, LINE, "--task", "log_parsing")
    assert ask_json(capsys, LINE, "--task", "log_parsing")["cached"] is True

    code, out, err = sls(capsys, "feedback", first["job_id"], "--score", "0")
    assert code == 0, err
    assert json.loads(out) == {"job_id": first["job_id"], "applied": True, "score": 0.0}
    code, out, _ = sls(capsys, "feedback", first["job_id"], "--score", "0")
    assert code == 0 and json.loads(out)["applied"] is False

    engine = engine_for(tmp_path / "ws")
    try:
        last = engine.scheduler.updates.observations[-1]
    finally:
        engine.close()
    assert (last["model"], last["observed"]) == (first["model"], 0.0)   # the predictors learned it
    after = ask_json(capsys, LINE, "--task", "log_parsing")
    assert after["cached"] is False                                     # the wrong answer left the cache
    # ...and the judge, told it was wrong, rejects it when a model gives it again: the job escalates
    assert live.request_count == 1 + 3 and len(after["attempts"]) == 3

    # Jobs after user feedback are still learned from (their events are not taken for old ones).
    other = ask_json(capsys, "Accepted publickey for admin from 10.1.1.1 port 40022 ssh2", "--task", "log_parsing")
    assert ask_json(capsys, "Accepted publickey for admin from 10.9.9.9 port 1 ssh2", "--task",
                    "log_parsing")["cached"] is True
    assert other["cached"] is False


def test_feedback_on_an_unknown_job_or_with_a_bad_score_is_exit_2(live, capsys):
    code, out, err = sls(capsys, "feedback", "no-such-job", "--score", "0")
    assert code == 2 and out == "" and err.startswith("error: no job with id 'no-such-job' in the event log")
    assert err.count("\n") == 1
    code, _, err = sls(capsys, "feedback", "no-such-job", "--score", "2")
    assert code == 2 and err.startswith("error: feedback score must be a number between 0 and 1")


# -- 5: the key ------------------------------------------------------------------------------------------------
def test_the_key_never_shows_in_output_logs_or_the_workspace(live, capsys, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    # A proxy that echoes the credential in its error bodies, on every retry of the first model.
    live.enqueue([ApiError(500, "upstream refused key {key}")] * 3)
    code, out, err = sls(capsys, "-v", "ask", LINE, "--task", "log_parsing", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert "[REDACTED]" in got["failures"][0]
    assert live.requests[0].api_key == SECRET                  # it was sent, so it could have leaked
    code, out2, err2 = sls(capsys, "feedback", got["job_id"], "--score", "1")
    assert code == 0

    texts = {"stdout": out + out2, "stderr": err + err2, "logs": caplog.text,
             "log messages": " ".join(str(r.args) + str(r.msg) for r in caplog.records)}
    for where, text in texts.items():
        assert SECRET not in text, where
    assert caplog.records, "expected log records (retries, fallback)"
    workspace = tmp_path / "ws"
    event_files = list(workspace.glob("events.sqlite*"))
    assert event_files
    for path in [p for p in workspace.rglob("*") if p.is_file()]:
        assert SECRET.encode() not in path.read_bytes(), path


# -- 6: run ----------------------------------------------------------------------------------------------------
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
         "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"]


def test_run_answers_every_line_in_input_order_with_calls_in_parallel(live, capsys, tmp_path):
    live.delay_s = 0.1
    lines = [f"worker {word} finished task {100 + i} in {7 * i + 3} ms" for i, word in enumerate(WORDS)]
    jobs = tmp_path / "lines.txt"
    jobs.write_text("\n".join(lines) + "\n")
    out_dir = tmp_path / "trace-out"
    code, out, err = sls(capsys, "run", str(jobs), "--task", "log_parsing", "--concurrency", "8", "--json",
                         "--trace-out", str(out_dir), "--no-progress")
    assert code == 0, err
    results = [json.loads(x) for x in out.splitlines()]
    assert [r["job_id"] for r in results] == [f"lines-{n:05d}" for n in range(1, 21)]
    for line, r in zip(lines, results, strict=True):
        assert r["verdict"] == "ok" and r["cached"] is False and r["cost_usd"] > 0, r
        assert r["answer"] == f"worker {line.split()[1]} finished task <*> in <*> ms"
        assert template_matches(r["answer"], line)
    assert live.request_count == 20 and live.max_in_flight >= 4

    recorded = steps(tmp_path / "ws")         # one step per job, none lost to a shared sequence number
    assert sorted(s["job_id"] for s in recorded) == [r["job_id"] for r in results]
    assert len({s["seq"] for s in recorded}) == 20

    trace = load_trace(str(out_dir))
    assert trace.n_queries == 20 and trace.model_names == ["scheduled"]
    assert trace.queries["query_id"].tolist() == [r["job_id"] for r in results]
    assert trace.queries["text"].tolist() == lines
    assert trace.outputs[:, 0].tolist() == [r["answer"] for r in results]


# -- 7: replay --------------------------------------------------------------------------------------------------
def test_ask_replays_a_recorded_job_without_a_key(live, capsys, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    demo = load_trace(str(SAMPLE_TRACE))
    job = next(j for j in demo.jobs() if j.task == "log_parsing")
    got = ask_json(capsys, job.text, "--task", "log_parsing", "--replay", str(SAMPLE_TRACE))
    assert got["job_id"] == job.job_id and got["model"] in demo.model_names
    assert got["answer"] and got["cost_usd"] > 0 and got["failures"] == []
    assert live.request_count == 0

    code, out, err = sls(capsys, "ask", "a line the demo never saw 42", "--task", "log_parsing", "--replay",
                         str(SAMPLE_TRACE))
    assert code == 2 and out == "" and "has no log_parsing job with this text" in err


# -- 8: restart --------------------------------------------------------------------------------------------------
def test_a_restarted_engine_keeps_the_cache_and_the_event_log(live, tmp_path):
    workspace = tmp_path / "ws"
    engine = engine_for(workspace)
    try:
        first = engine.ask(LINE, "log_parsing")
    finally:
        engine.close()
    assert first["cached"] is False and live.request_count == 1

    engine = engine_for(workspace)
    try:
        second = engine.ask(SAME_TEMPLATE, "log_parsing")     # other values, same template
        assert engine.scheduler.cache.size("log_parsing") == 1
    finally:
        engine.close()
    assert second["cached"] is True and second["answer"] == first["answer"] and second["model"] == first["model"]
    assert live.request_count == 1
    recorded = steps(workspace)
    assert [s["job_id"] for s in recorded] == [first["job_id"], second["job_id"]]
    assert [s["seq"] for s in recorded] == [0, 1] and [s["source"] for s in recorded] == ["model", "cache"]


def test_engine_run_api_keeps_input_order_and_learns_every_job(live, tmp_path):
    live.delay_s = 0.05
    engine = engine_for(tmp_path / "ws", breaker=BreakerPolicy(failure_threshold=5, cooldown_s=1.0))
    try:
        jobs = [engine.make_job(f"cache {w} evicted {i} entries after {i * 3} ms", "log_parsing")
                for i, w in enumerate(WORDS[:12])]
        seen = []
        results = engine.run(jobs, concurrency=6, progress=lambda done, total: seen.append((done, total)))
        assert [r["job_id"] for r in results] == [j.job_id for j in jobs]
        assert all(r["verdict"] == "ok" for r in results)
        assert seen[-1] == (12, 12) and len(seen) == 12
        # Every job's verified template reached the cache, also those that finished out of order.
        assert engine.scheduler.cache.size("log_parsing") == 12
        repeat = engine.ask("cache alpha evicted 99 entries after 1 ms", "log_parsing")
        assert repeat["cached"] is True
    finally:
        engine.close()
