"""Sandbox limits that hold (issue 14, findings 7, 8, 9): a size-limited private scratch for generated code,
stale work dirs swept, no generated code run without bubblewrap unless the user opts in, verdicts in our own
words, and `./dev` saying which way it is."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from engine.jobs import Job
from engine.tasks import sandbox
from engine.tasks.code_generation import CodeGenerationTask, run_tests
from engine.tasks.sandbox import isolation_works, run_python, sandbox_status

ROOT = Path(__file__).resolve().parents[2]
FAST = {"timeout_s": 20, "cpu_s": 20, "memory_mb": 256}

FILL_DISK = """
import os
written = 0
try:
    for k in range(40):
        with open(f"blob{k}.bin", "wb") as fh:
            fh.write(b"x" * (15 * 1024 * 1024))
        written += 15 * 1024 * 1024
except OSError as exc:
    print("stopped:", type(exc).__name__, exc.errno)
print("written MiB:", written // 2**20)
"""


@pytest.fixture
def no_bwrap(monkeypatch, tmp_path):
    """A machine without bubblewrap: a PATH that lacks it, and fresh probes."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("unshare", "setpriv", "python3"):
        if shutil.which(tool):
            (bindir / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.delenv("SLS_SANDBOX", raising=False)
    isolation_works.cache_clear()
    sandbox._WARNED.clear()
    yield
    isolation_works.cache_clear()
    sandbox._WARNED.clear()


@pytest.fixture
def private_tmp(monkeypatch):
    """The sandbox's temp dirs in a folder of this test's own (traversable by the sandbox's unprivileged
    uid, like /tmp), and a fresh sweep."""
    root = Path(tempfile.mkdtemp(prefix="sls-test-sandbox-tmp-"))
    root.chmod(0o755)
    monkeypatch.setattr("tempfile.tempdir", str(root))
    sandbox.sweep_stale_workdirs.cache_clear()
    yield root
    sandbox.sweep_stale_workdirs.cache_clear()
    shutil.rmtree(root, ignore_errors=True)


# -- finding 7: the disk ---------------------------------------------------------------------------------------
def test_generated_code_cannot_fill_the_host_disk(private_tmp, monkeypatch):
    if not isolation_works("bwrap"):
        pytest.skip("bubblewrap does not work here")
    kept: list[str] = []
    monkeypatch.setattr(sandbox.shutil, "rmtree", lambda path, **kw: kept.append(path))   # look afterwards
    result = run_python(FILL_DISK, isolation="bwrap", **FAST)
    written = int(result.stdout.split("written MiB:")[1].split()[0])
    assert "stopped: OSError 28" in result.stdout, result.stdout + result.stderr     # ENOSPC: the scratch is full
    assert written <= sandbox.SCRATCH_BYTES // 2**20
    (workdir,) = kept
    on_host = sum(p.stat().st_size for p in Path(workdir).rglob("*") if p.is_file())
    assert on_host < 10_000, f"{on_host} bytes landed in the host's {workdir}"


# -- finding 8: stale work dirs -----------------------------------------------------------------------------------
def test_stale_work_dirs_are_swept_and_none_is_left_behind(private_tmp):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = private_tmp / f"sls-sandbox-{dead.pid}-abc123"
    live = private_tmp / f"sls-sandbox-{os.getpid()}-def456"      # a run in progress in a live engine
    for folder in (stale, live):
        folder.mkdir()
        (folder / "main.py").write_text("print(1)\n")
    result = run_python("print('ok')\n", isolation="bwrap" if isolation_works("bwrap") else "none", **FAST)
    assert result.ok and result.stdout.strip() == "ok"
    assert not stale.exists()
    assert live.exists()
    assert sorted(p.name for p in private_tmp.iterdir()) == [live.name]      # the run left nothing behind


# -- finding 9: no bubblewrap, no generated code --------------------------------------------------------------
def test_without_bwrap_generated_code_is_not_run_and_the_verifier_says_why(no_bwrap, tmp_path):
    marker = tmp_path / "ran"
    status = sandbox_status()
    assert status["mode"] == "disabled" and status["runs_code"] is False
    assert "bubblewrap" in status["detail"] and "SLS_SANDBOX=unsafe-none" in status["detail"]
    result = run_python(f"open({str(marker)!r}, 'w').write('x')\n", **FAST)
    assert not result.ok and result.isolation == "disabled" and result.killed_reason == "sandbox unavailable"
    task = CodeGenerationTask()
    job = Job("j", "code_generation", "f. Your code should pass these tests:\nassert f() == 1\n",
              reference="assert f() == 1")
    code = f"def f():\n    open({str(marker)!r}, 'w').write('x')\n    return 1\n"
    verdict = task.verify(job, code)
    assert verdict.ok is None and "not run" in verdict.reason and "bubblewrap" in verdict.reason, verdict
    assert task.score(job, code) is None                  # ungraded, not wrong: a model is not blamed
    assert not marker.exists(), "generated code ran without bubblewrap"


def test_without_bwrap_an_explicit_opt_in_runs_it(no_bwrap, monkeypatch, tmp_path):
    monkeypatch.setenv("SLS_SANDBOX", "unsafe-none")
    assert sandbox_status()["mode"] == "none" and sandbox_status()["safe"] is False
    result = run_python("print('ran')\n", **FAST)
    assert result.ok and result.stdout.strip() == "ran" and result.isolation == "none"


def test_a_bad_sandbox_setting_runs_nothing(no_bwrap, monkeypatch):
    monkeypatch.setenv("SLS_SANDBOX", "yes-please")
    assert sandbox_status()["mode"] == "disabled"


def test_the_verdict_never_carries_the_program_output(tmp_path):
    secret = "sk-ant-api03-SECRETSECRETSECRET"
    code = (f"def f():\n    import sys\n    print({secret!r})\n    print({secret!r}, file=sys.stderr)\n"
            f"    raise ValueError({secret!r})\n")
    job = Job("j", "code_generation", "f. Your code should pass these tests:\nassert f() == 1\n")
    verdict = CodeGenerationTask().verify(job, code)
    assert verdict.ok is False or verdict.ok is None
    assert secret not in verdict.reason and "SECRET" not in verdict.reason, verdict.reason
    if verdict.ok is False:
        assert "ValueError" in verdict.reason and "assert f() == 1" in verdict.reason, verdict.reason
        result = run_tests(code, ["assert f() == 1"])
        assert secret in result.stderr          # the output is kept in the result, only not in the verdict


def _repo_copy(tmp_path: Path) -> Path:
    """`dev` in a folder of its own, with a ready .venv (links to this one's) and a readable secrets.toml."""
    repo = tmp_path / "repo"
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".streamlit").mkdir()
    shutil.copy(ROOT / "dev", repo / "dev")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    (repo / ".venv" / "bin" / "python").symlink_to(ROOT / ".venv" / "bin" / "python")
    (repo / ".venv" / ".installed").touch()
    later = (repo / "pyproject.toml").stat().st_mtime + 60
    os.utime(repo / ".venv" / ".installed", (later, later))      # installed: `dev` does not install again
    secrets = repo / ".streamlit" / "secrets.toml"
    secrets.write_text('ANTHROPIC_API_KEY = "sk-ant-test"\n')
    secrets.chmod(0o644)
    return repo


def test_dev_on_a_machine_without_bwrap_says_generated_code_will_not_run(tmp_path):
    repo = _repo_copy(tmp_path)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "env", "dirname", "sed", "id", "touch", "chmod", "python3"):
        (bindir / tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(bindir), "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "SLS_DEV_NO_INSTALL": "1"}
    done = subprocess.run([str(bindir / "bash"), "./dev", "sandbox"], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "bubblewrap (bwrap) is NOT installed" in done.stderr and "will NOT be run" in done.stderr
    assert "SLS_SANDBOX=unsafe-none" in done.stderr
    assert done.stdout.startswith("disabled: generated code is not run"), done.stdout
    assert stat.S_IMODE((repo / ".streamlit" / "secrets.toml").stat().st_mode) == 0o600


def test_dev_with_bwrap_says_it_runs_isolated(tmp_path):
    if not shutil.which("bwrap"):
        pytest.skip("no bwrap here")
    repo = _repo_copy(tmp_path)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "SLS_DEV_NO_INSTALL": "1"}
    done = subprocess.run(["./dev", "sandbox"], cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "NOT installed" not in done.stderr and done.stdout.startswith("bwrap:"), (done.stdout, done.stderr)
