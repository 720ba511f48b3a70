"""Fault family: a workspace that cannot be written — a full disk, a read-only directory, a file where a
directory should be.

Each ends with one clear `error:` line naming the path (exit status 2, no traceback), and nothing in the
event log is corrupted: `PRAGMA integrity_check` is ok and the rows written before are intact. After a
full disk, the same command run again (space freed) resumes the file with every job exactly once.

The disk is "full" for real: the child runs under `RLIMIT_FSIZE` (writes past the limit fail with
EFBIG, which root cannot override). Read-only is real too: as root (who ignores permissions) the child
drops to the unprivileged `nobody` uid before it opens the root-owned workspace.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from fault_helpers import ROOT, integrity, live_env

from engine.cli import main
from engine.traces import load_trace
from tests.fakes.processes import run_cli

pytestmark = pytest.mark.timeout(180)

DEMO = ROOT / "sample_data" / "demo"
FREE_BYTES = 150_000      # room left on the "disk" (per file) when the run starts: a few jobs' worth
NOBODY = 65534


def steps(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT run_id, seq, job_id, cost_usd, record FROM steps ORDER BY run_id, seq").fetchall()
    finally:
        con.close()


def one_error_line(stderr: str, path: Path) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    assert str(path) in lines[0], lines[0]
    return lines[0]


@pytest.mark.integration
def test_a_full_disk_stops_the_run_with_a_clear_error_and_a_rerun_resumes_it(api, tmp_path):
    lines = [f"worker w{i} finished task {i} in {7 * i} ms" for i in range(24)]    # 24 distinct templates
    jobs = tmp_path / "jobs.txt"
    workspace = tmp_path / "ws"
    env = live_env(api, workspace)
    argv = ["run", str(jobs), "--task", "log_parsing", "--concurrency", "2", "--json"]
    jobs.write_text("\n".join(lines[:6]) + "\n")                        # a first run fills the workspace
    assert run_cli(argv, env, tmp_path / "out", name="first").exitcode == 0
    jobs.write_text("\n".join(lines) + "\n")                            # then the file grows, the disk fills
    largest = max(p.stat().st_size for p in workspace.rglob("*") if p.is_file())

    full = run_cli(argv, env, tmp_path / "out", name="full", fsize_limit=largest + FREE_BYTES)
    assert full.exitcode == 2, full.stderr
    error = one_error_line(full.stderr, workspace)
    assert "cannot" in error and ("disk" in error or "File too large" in error), error
    assert full.stdout == ""
    db = workspace / "events.sqlite"
    assert integrity(db) == "ok"
    before = steps(db)
    assert 6 < len(before) < len(lines), "the disk filled up in the middle of the run"
    assert len({row[2] for row in before}) == len(before)

    again = run_cli(argv, env, tmp_path / "out", name="again")
    assert again.exitcode == 0, again.stderr
    assert f"resuming: {len(before)} of {len(lines)} jobs" in again.stderr
    after = steps(db)
    assert after[:len(before)] == before                                   # the earlier rows, intact
    assert Counter(row[2] for row in after) == Counter(f"jobs-{n:05d}" for n in range(1, 25))
    assert integrity(db) == "ok"


@pytest.fixture
def shared_tmp():
    """A directory another uid can traverse (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="sls-faults-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _make_read_only(workspace: Path) -> dict[str, str]:
    """Make `workspace` unwritable for the child; returns the child's extra environment."""
    if os.geteuid() == 0:
        for path in [workspace, *workspace.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)     # readable by all, writable by root only
        return {"SLS_TEST_UID": str(NOBODY), "HOME": str(workspace.parent)}
    for path in [*workspace.rglob("*"), workspace]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    return {}


def test_a_read_only_workspace_is_a_clear_error_and_changes_nothing(shared_tmp, isolated, capsys):
    workspace = shared_tmp / "ws"
    job_text = next(j.text for j in load_trace(DEMO).jobs() if j.task == "log_parsing")
    argv = ["ask", job_text, "--task", "log_parsing", "--replay", str(DEMO), "--json"]
    env = live_env(None, workspace)
    first = run_cli(argv, env, shared_tmp / "out", name="writable")
    assert first.exitcode == 0, first.stderr
    db = workspace / "events.sqlite"
    assert len(steps(db)) == 1
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in workspace.rglob("*") if p.is_file()}

    extra = _make_read_only(workspace)
    try:
        blocked = run_cli(argv, {**env, **extra}, shared_tmp / "out", name="read-only")
    finally:
        for path in [workspace, *workspace.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert blocked.exitcode == 2, blocked.stderr
    error = one_error_line(blocked.stderr, workspace)
    assert "events.sqlite" in error and ("read-only" in error or "readonly" in error
                                         or "permission" in error.lower() or "unable to open" in error), error
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in workspace.rglob("*") if p.is_file()} == digest            # not a byte changed
    assert integrity(db) == "ok" and len(steps(db)) == 1


def test_a_file_where_the_workspace_directory_should_be_is_a_clear_error(isolated, capsys):
    blocker = isolated / "not-a-dir"
    blocker.write_text("a file\n")
    code = main(["ask", "disk sda1 full", "--task", "log_parsing", "--replay", str(DEMO),
                 "--workspace", str(blocker / "ws")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert one_error_line(err, blocker / "ws").startswith(f"error: cannot use the workspace {blocker / 'ws'}: ")
    assert "Not a directory" in err
