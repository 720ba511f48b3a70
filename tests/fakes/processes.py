"""Scheduler processes for multi-process and crash tests, forked from a pre-warmed fork server.

Starting `sls` costs seconds of imports (anthropic, langchain, chromadb); a crash test starts it five
times. Children are therefore forked from a `multiprocessing` fork server that imported the engine
once, and each child gets an explicit environment (not the one the fork server was started with).

* `start_cli(argv, env, folder)` — `sls <argv>` in a child; stdout/stderr go to files; a test can
  SIGKILL it at any moment (`child.kill()`) and read its exit status.
* `EngineProcess(env)` — a long-running scheduler (`engine.service.build_engine`) driven over a pipe:
  `ask`, `feedback`, `stats`, `close`. Two of them are two scheduler processes.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRELOAD = ["engine.cli", "engine.live_cli", "engine.service", "engine.cache", "engine.clients.factory",
           "chromadb", "langchain_anthropic", "tests.fakes.processes"]


def context() -> mp.context.BaseContext:
    """The fork-server context, preloading the engine (effective when this process starts the server)."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


@contextlib.contextmanager
def _neutral_main():
    """Start children with a module-less `__main__`: multiprocessing re-runs the parent's `__main__`
    script in every child, and after Streamlit's AppTest that script is the dashboard app."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def warm_up() -> None:
    """Start the fork server now, so that it imports the engine in the background (on another core)
    while the tests that do not need it run; the first child then starts at once."""
    from multiprocessing import forkserver
    context()
    forkserver.ensure_running()


def _enter(env: dict[str, str]) -> None:
    """Make the child's environment exactly `env` and apply settings read at import time."""
    os.environ.clear()
    os.environ.update(env)
    if "SLS_CHECKPOINT_EVERY" in env:   # read when engine.simulation.replay was imported (preloaded)
        import engine.simulation.replay as replay
        replay.CHECKPOINT_EVERY = int(env["SLS_CHECKPOINT_EVERY"])


def _run_cli(argv: list[str], env: dict[str, str], out: str, err: str, fsize_limit: int | None) -> None:
    _enter(env)
    with open(out, "w") as fout, open(err, "w") as ferr:   # opened before any limit or uid change below
        if fsize_limit is not None:
            import resource
            # A real write failure (EFBIG) past `fsize_limit` bytes per file: a full disk that root cannot
            # override. Ignoring SIGXFSZ turns the signal into the write error.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))
        if env.get("SLS_TEST_UID"):
            # An unprivileged uid: root ignores file permissions, so a read-only workspace needs another user.
            # Import first what the command may load lazily: the interpreter's own files may be unreadable
            # to that user (a pyenv Python under /root).
            import importlib
            for module in ("csv", "gzip", "pickle", "sqlite3", "uuid", "engine.clients.replay", "engine.tasks",
                           "engine.traces"):
                importlib.import_module(module)
            uid = int(env["SLS_TEST_UID"])
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        from engine.cli import main
        sys.stdout, sys.stderr = fout, ferr
        try:
            code = main(argv)
        except BaseException as exc:   # a crash the CLI did not turn into an error line
            import traceback
            traceback.print_exc(file=ferr)
            code = 99 if not isinstance(exc, SystemExit) else (exc.code or 0)
        fout.flush()
        ferr.flush()
    os._exit(code)


@dataclass
class Child:
    """An `sls` child process."""

    process: Any
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def exitcode(self) -> int | None:
        return self.process.exitcode

    def alive(self) -> bool:
        return self.process.is_alive()

    def wait(self, timeout: float = 60) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.kill()
            raise TimeoutError(f"sls child {self.pid} did not finish in {timeout} s; stderr:\n{self.stderr}")
        return self.process.exitcode

    def kill(self) -> None:
        """SIGKILL by pid: no cleanup, no flush, no atexit."""
        if self.process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.join(10)

    @property
    def stdout(self) -> str:
        return self.out.read_text() if self.out.exists() else ""

    @property
    def stderr(self) -> str:
        return self.err.read_text() if self.err.exists() else ""


def start_cli(argv: list[str], env: dict[str, str], folder: Path, *, name: str = "sls",
              fsize_limit: int | None = None) -> Child:
    """Start `sls <argv>` in a forked child with exactly `env`; its output goes to `folder/name.out|err`."""
    folder.mkdir(parents=True, exist_ok=True)
    out, err = folder / f"{name}.out", folder / f"{name}.err"
    process = context().Process(target=_run_cli, args=(list(argv), dict(env), str(out), str(err), fsize_limit),
                                daemon=True)
    with _neutral_main():
        process.start()
    return Child(process, out, err)


def run_cli(argv: list[str], env: dict[str, str], folder: Path, *, name: str = "sls", timeout: float = 120,
            fsize_limit: int | None = None) -> Child:
    """`start_cli` and wait for it."""
    child = start_cli(argv, env, folder, name=name, fsize_limit=fsize_limit)
    child.wait(timeout)
    return child


# -- a long-running scheduler process ------------------------------------------------------------------------
def _serve_engine(conn, env: dict[str, str], client_options: dict) -> None:
    _enter(env)
    from engine.clients.settings import BreakerPolicy, ClientSettings, RetryPolicy
    from engine.service import build_engine
    from engine.settings import load_settings
    options = dict(client_options)
    if "retry" in options:
        options["retry"] = RetryPolicy(**options["retry"])
    if "breaker" in options:
        options["breaker"] = BreakerPolicy(**options["breaker"])
    engine = build_engine(load_settings(), client_settings=ClientSettings(**options))
    conn.send(("ready", os.getpid()))
    while True:
        command, args = conn.recv()
        try:
            if command == "ask":
                reply = engine.ask(*args)
            elif command == "feedback":
                reply = engine.feedback(*args)
            elif command == "stats":
                reply = engine.scheduler.cache.stats() if engine.scheduler.cache is not None else None
            elif command == "close":
                engine.close()
                conn.send(("ok", None))
                break
            else:
                raise ValueError(f"unknown command {command!r}")
            conn.send(("ok", reply))
        except Exception as exc:   # reported to the test, which decides
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
    conn.close()
    os._exit(0)


class EngineProcess:
    """A scheduler in its own process (a fresh `build_engine` on `env`), driven over a pipe."""

    def __init__(self, env: dict[str, str], *, client_options: dict | None = None, timeout_s: float = 60):
        ctx = context()
        self._conn, child_conn = ctx.Pipe()
        self.timeout_s = timeout_s
        self.process = ctx.Process(target=_serve_engine, args=(child_conn, dict(env), client_options or {}),
                                   daemon=True)
        with _neutral_main():
            self.process.start()
        child_conn.close()
        status, self.pid = self._receive()
        assert status == "ready"

    def _receive(self):
        if not self._conn.poll(self.timeout_s):
            self.kill()
            raise TimeoutError("the engine process did not answer")
        return self._conn.recv()

    def call(self, command: str, *args: Any) -> Any:
        self._conn.send((command, args))
        status, reply = self._receive()
        if status != "ok":
            raise RuntimeError(f"engine process: {reply}")
        return reply

    def ask(self, text: str, task: str) -> dict:
        return self.call("ask", text, task)

    def feedback(self, job_id: str, score: float) -> dict:
        return self.call("feedback", job_id, score)

    def stats(self) -> dict:
        return self.call("stats")

    def close(self) -> None:
        if self.process.exitcode is None:
            with contextlib.suppress(Exception):
                self.call("close")
            self.process.join(10)
        self.kill()

    def kill(self) -> None:
        if self.process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.join(10)

    def __enter__(self) -> EngineProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.005) -> bool:
    """Poll `predicate` until it is true (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
