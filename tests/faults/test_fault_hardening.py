"""Hardening round 2 (issue 14), findings 1, 2, 4 and 5: reruns finish the work, one workspace serves one
engine, an emptied event log is not a new one, a corrupt learned state is named and replaced by its intact copy.

Live `sls` children are forked from the pre-warmed fork server against the local fake Anthropic API.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from pathlib import Path

import pytest
from fault_helpers import live_env
from test_fault_sigkill import fake_client

from engine.catalog import Catalog
from engine.errors import WorkspaceError
from engine.eventlog import EventLog
from engine.service import LIVE_RUN, STATE_FILE, build_engine
from engine.settings import load_settings
from engine.workspace_lock import LOCK_FILE, WorkspaceBusyError
from engine.workspace_state import atomic_write_bytes
from tests.fakes.anthropic_server import storm
from tests.fakes.processes import run_cli

pytestmark = pytest.mark.timeout(180)

LINES = [f"worker w{i} finished task {i} in {7 * i} ms" for i in range(4)]


def error_line(stderr: str) -> str:
    """The one `error: …` line of a failed command (and no traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def steps(workspace: Path) -> list[dict]:
    log = EventLog(workspace / "events.sqlite")
    try:
        return log.steps(LIVE_RUN)
    finally:
        log.close()


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def one_job_workspace(workspace: Path) -> str:
    """A workspace that answered one job (in this process, closed again); returns the job id."""
    catalog = Catalog.default()
    engine = build_engine(load_settings(workspace=workspace), catalog=catalog, client=fake_client(catalog))
    try:
        return engine.ask("Failed password for root from 10.0.0.1 port 22 ssh2", "log_parsing")["job_id"]
    finally:
        engine.close()


# -- finding 1: reruns finish the work -------------------------------------------------------------------------
@pytest.mark.integration
def test_all_failed_jobs_are_errors_name_no_model_and_the_rerun_answers_them(api, tmp_path):
    jobs, workspace = tmp_path / "jobs.txt", tmp_path / "ws"
    jobs.write_text("\n".join(LINES) + "\n")
    argv = ["run", str(jobs), "--task", "log_parsing", "--concurrency", "1"]
    api.enqueue(*storm(500, 1000))                        # an API outage: every call of every model fails
    first = run_cli(argv, live_env(api, workspace), tmp_path / "out", name="outage")
    assert first.exitcode == 0, first.stderr
    assert f"{len(LINES)} jobs · 0 from cache · {len(LINES)} errors" in first.stdout, first.stdout
    assert "every model failed" in first.stdout
    logged = steps(workspace)
    assert len(logged) == len(LINES) and all(s["model"] is None and s["answer"] == "" for s in logged), logged

    with api._lock:
        api._script.clear()                               # the API is back
    second = run_cli(argv, live_env(api, workspace), tmp_path / "out", name="rerun")
    assert second.exitcode == 0, second.stderr
    assert "resuming" not in second.stderr                # nothing was done: every job runs again
    assert f"{len(LINES)} jobs · 0 from cache · 0 errors" in second.stdout, second.stdout
    answered = [s for s in steps(workspace) if s["answer"]]
    assert sorted(s["job_id"] for s in answered) == [f"jobs-{n:05d}" for n in range(1, len(LINES) + 1)]
    assert all(s["model"] for s in answered)

    third = run_cli(argv, live_env(api, workspace), tmp_path / "out", name="third")
    assert f"resuming: {len(LINES)} of {len(LINES)} jobs" in third.stderr   # now they are done
    assert api.request_count == len(api.requests)


@pytest.mark.integration
def test_jobs_refused_for_budget_are_errors_with_their_reason_and_run_on_the_rerun(api, tmp_path):
    jobs, workspace = tmp_path / "jobs.txt", tmp_path / "ws"
    jobs.write_text("\n".join(LINES) + "\n")
    argv = ["run", str(jobs), "--task", "log_parsing", "--concurrency", "1"]
    # (under the default `cheapest`, a log line no model fits gets the task's rule template instead: an answer)
    refused = run_cli([*argv, "--budget", "0"], live_env(api, workspace, SLS_WHEN_EXHAUSTED="refuse"),
                      tmp_path / "out", name="refused")
    assert refused.exitcode == 0, refused.stderr
    assert f"{len(LINES)} errors" in refused.stdout and "budget exhausted" in refused.stdout, refused.stdout
    assert api.request_count == 0

    rerun = run_cli([*argv, "--budget", "1"], live_env(api, workspace, SLS_WHEN_EXHAUSTED="refuse"),
                    tmp_path / "out", name="rerun")
    assert rerun.exitcode == 0, rerun.stderr
    assert "0 errors" in rerun.stdout, rerun.stdout
    assert len([s for s in steps(workspace) if s["answer"]]) == len(LINES)


@pytest.mark.integration
def test_log_lines_the_budget_pays_no_model_for_get_the_rule_template_and_say_so(api, tmp_path):
    jobs, workspace = tmp_path / "jobs.txt", tmp_path / "ws"
    jobs.write_text("\n".join(LINES) + "\n")
    out = run_cli(["run", str(jobs), "--task", "log_parsing", "--budget", "0"], live_env(api, workspace),
                  tmp_path / "out", name="ruled")
    assert out.exitcode == 0, out.stderr
    assert f"{len(LINES)} by the task's rule (the budget paid no model) · 0 errors · $0.000000" in out.stdout
    assert api.request_count == 0
    assert all(s["model"] == "rule" and s["answer"] for s in steps(workspace))


# -- finding 2: one workspace, one process ---------------------------------------------------------------------
@pytest.mark.integration
def test_a_second_sls_on_a_workspace_in_use_fails_at_once_and_writes_nothing(api, tmp_path, isolated):
    workspace = tmp_path / "ws"
    one_job_workspace(workspace)
    catalog = Catalog.default()
    holder = build_engine(load_settings(workspace=workspace), catalog=catalog, client=fake_client(catalog))
    try:
        before = listing(workspace)
        jobs = tmp_path / "jobs.txt"
        jobs.write_text("\n".join(LINES) + "\n")
        for name, argv in (("run", ["run", str(jobs), "--task", "log_parsing"]),
                           ("ask", ["ask", "disk sda1 is full", "--task", "log_parsing"]),
                           ("feedback", ["feedback", "nope", "--score", "1"])):
            child = run_cli(argv, live_env(api, workspace), tmp_path / "out", name=name)
            assert child.exitcode == 2, (name, child.stderr)
            line = error_line(child.stderr)
            assert str(workspace) in line and "in use by process" in line, line
            assert str(os.getpid()) in line and socket.gethostname() in line, line
            assert child.stdout == ""
        assert listing(workspace) == before              # nothing written by the refused commands
        assert api.request_count == 0
        with pytest.raises(WorkspaceBusyError, match="in use by process"):   # a second engine in-process too
            build_engine(load_settings(workspace=workspace), catalog=catalog, client=fake_client(catalog))
    finally:
        holder.close()
    assert (workspace / LOCK_FILE).read_text() == ""      # released on close: the next engine opens it
    build_engine(load_settings(workspace=workspace), catalog=catalog, client=fake_client(catalog)).close()


def test_a_step_whose_seq_is_taken_is_an_error_not_silently_dropped(tmp_path):
    log = EventLog(tmp_path / "events.sqlite")
    try:
        step = {"seq": 0, "job_id": "a", "source": "model", "model": "m", "cost_usd": 0.0}
        log.record_step(LIVE_RUN, step)
        with pytest.raises(WorkspaceError, match="events.sqlite"):
            log.record_step(LIVE_RUN, {**step, "job_id": "b"})
        assert [s["job_id"] for s in log.steps(LIVE_RUN)] == ["a"]
    finally:
        log.close()


def test_concurrent_state_writes_use_temp_files_of_their_own(tmp_path):
    target = tmp_path / STATE_FILE
    payloads = [bytes([k]) * 200_000 for k in range(8)]
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            for _ in range(20):
                atomic_write_bytes(target, data)
        except BaseException as exc:    # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert target.read_bytes() in payloads                # whole, never a mix of two writers
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]   # no temp file left behind


# -- finding 4: an emptied event log is not a new one ----------------------------------------------------------
def test_an_event_log_truncated_to_zero_bytes_is_a_clear_error_not_a_new_log(tmp_path, api):
    workspace = tmp_path / "ws"
    one_job_workspace(workspace)
    db = workspace / "events.sqlite"
    for extra in ("events.sqlite-wal", "events.sqlite-shm"):
        (workspace / extra).unlink(missing_ok=True)
    db.write_bytes(b"")
    child = run_cli(["ask", "disk sda1 is full", "--task", "log_parsing", "--budget", "1"],
                    live_env(api, workspace), tmp_path / "out", name="ask")
    assert child.exitcode == 2, child.stderr
    line = error_line(child.stderr)
    assert str(db) in line and "0 bytes" in line and "backup" in line and "--workspace" in line, line
    assert db.stat().st_size == 0                         # left as found, for the user to restore
    assert api.request_count == 0


def test_an_empty_event_log_in_a_new_workspace_is_fine(tmp_path):
    (tmp_path / "events.sqlite").write_bytes(b"")
    log = EventLog(tmp_path / "events.sqlite")
    log.close()


# -- finding 5: a corrupt snapshot or state ---------------------------------------------------------------------
def _corrupt_snapshot(workspace: Path, column: str = "state") -> None:
    con = sqlite3.connect(workspace / "events.sqlite")
    with con:
        con.execute(f"UPDATE snapshots SET {column}=? WHERE run_id=?", (b"\x80\x05garbage-not-a-pickle", LIVE_RUN))
    con.close()


def test_a_corrupt_snapshot_blob_falls_back_to_the_intact_state_file_and_says_so(tmp_path, isolated, caplog):
    workspace = tmp_path / "ws"
    one_job_workspace(workspace)
    _corrupt_snapshot(workspace)
    catalog = Catalog.default()
    with caplog.at_level("WARNING"):
        engine = build_engine(load_settings(workspace=workspace), catalog=catalog, client=fake_client(catalog))
    try:
        assert engine.scheduler.updates.last_seq == 0 and engine.scheduler.jobs_done == 1   # learned state kept
    finally:
        engine.close()
    text = caplog.text
    assert "events.sqlite" in text and "instead" in text and STATE_FILE in text, text


def test_a_corrupt_state_with_no_intact_copy_is_one_clear_error_and_reset_recovers(tmp_path, api):
    workspace = tmp_path / "ws"
    job_id = one_job_workspace(workspace)
    _corrupt_snapshot(workspace)
    (workspace / STATE_FILE).write_bytes(b"\x80\x05\x95truncated")
    child = run_cli(["feedback", job_id, "--score", "1"], live_env(api, workspace), tmp_path / "out", name="fb")
    assert child.exitcode == 2, child.stderr
    line = error_line(child.stderr)
    assert "events.sqlite" in line and str(workspace / STATE_FILE) in line and "SLS_RESET_LEARNED_STATE=1" in line
    reset = run_cli(["feedback", job_id, "--score", "1"], live_env(api, workspace, SLS_RESET_LEARNED_STATE="1"),
                    tmp_path / "out", name="reset")
    assert reset.exitcode == 0, reset.stderr
    assert '"applied": true' in reset.stdout


def test_a_corrupt_cache_journal_in_the_snapshot_is_a_warning_and_the_workspace_opens(tmp_path, isolated,
                                                                                        caplog):
    workspace = tmp_path / "ws"
    one_job_workspace(workspace)
    _corrupt_snapshot(workspace, "cache_pending")
    catalog = Catalog.default()
    with caplog.at_level("WARNING"):
        engine = build_engine(load_settings(workspace=workspace), catalog=catalog, client=fake_client(catalog))
    engine.close()
    assert "unflushed cache writes" in caplog.text and "events.sqlite" in caplog.text
