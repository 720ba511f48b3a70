"""Run untrusted (model-generated) Python in a separate, confined process.

Generated code never runs in the engine's own process. `run_python(code)` writes the code to
``main.py`` in a fresh private temporary directory, runs it with a fresh interpreter
(`/usr/bin/python3 -I`, or `sys.executable -I` where there is no system Python) and returns a
`SandboxResult`. The directory is deleted when the run ends, whatever happened. `run_python` never
raises because of what the code does; a sandbox that cannot start is a failed run
(``killed_reason="sandbox error"``).

Guarantees in every isolation mode
----------------------------------
* **Own process, own session.** The child starts a new session (so a new process group); stdin is
  /dev/null; the environment is replaced by PATH, HOME (the temp dir), LANG and
  PYTHONDONTWRITEBYTECODE; ``-I`` ignores user site-packages and PYTHON* variables.
* **Resource limits**, set in the child between fork and exec (``preexec_fn``) and inherited by all
  it starts: RLIMIT_CPU = `cpu_s` seconds (SIGXCPU, SIGKILL one second later), RLIMIT_AS =
  `memory_mb` MiB (allocations fail with MemoryError), RLIMIT_FSIZE = 16 MiB per file (SIGXFSZ),
  RLIMIT_NOFILE = 64, RLIMIT_CORE = 0, RLIMIT_NPROC = `max_processes` + a few for the sandbox's own
  helper processes.
* **Unprivileged uid when the engine is root.** Root ignores RLIMIT_NPROC and may write anywhere, so
  when the engine runs as root (and the interpreter is the system one, readable by anyone) each run
  gets a fresh uid/gid of its own from an unused range (2,000,000+), with no supplementary groups.
  RLIMIT_NPROC is then enforced and counts that run's processes only, and when the run ends every
  process still running under that uid is killed (a double-forked, `setsid` daemon leaves the process
  group, so the group kill alone would miss it in mode ``none``). When the engine is not root,
  the run keeps the engine's uid and RLIMIT_NPROC is raised by the number of processes that uid
  already has.
* **Process count guard.** While the run lasts, the parent counts its descendants every 20 ms (from
  /proc) and kills it when they exceed `max_processes` + helpers (``killed_reason="process limit"``),
  a second line of defence where RLIMIT_NPROC cannot apply.
* **Wall clock.** After `timeout_s` seconds the child's process group is killed with SIGKILL
  (``timed_out``, ``killed_reason="wall-clock timeout"``); with bwrap/unshare everything in the run's
  PID namespace dies with it, and `run_python` waits until the killed processes are gone.
* **Output.** stdout and stderr are captured, each truncated to `max_output_bytes` (a final line
  ``[output truncated at N bytes]`` says so); the pipes are drained to their end so a chatty child
  cannot block. Bytes that are not UTF-8 are decoded with U+FFFD replacements.
* **Only valid text runs.** Code that cannot be encoded as UTF-8 (lone surrogates) is not run: the
  result is a failure with a ``SyntaxError`` line on stderr and ``returncode`` None.

Isolation modes (``SandboxResult.isolation``). By default only bubblewrap runs generated code: without
it the mode is ``disabled`` and `run_python` runs nothing (a failed result, ``killed_reason="sandbox
unavailable"``, saying why), unless the user opts in explicitly with ``SLS_SANDBOX=unsafe-unshare`` or
``SLS_SANDBOX=unsafe-none`` (``SLS_SANDBOX=off`` never runs code). `sandbox_status()` says which mode is in
force, for the dashboard. Probes run once per mode, lazily, on first use. Work dirs are named after the
engine's pid; those of engines that died mid-run are swept on first use (`sweep_stale_workdirs`).

* ``bwrap`` — bubblewrap: ``bwrap --unshare-all --die-with-parent --new-session``, unprivileged (in a
  user namespace) when the engine is root. Private network namespace (only its own loopback: nothing
  of the host, 127.0.0.1 included, is reachable), private PID/IPC/UTS/cgroup namespaces, fresh /proc and
  /dev, read-only /usr (plus the /bin, /lib, /lib64 links or binds), a 16 MiB tmpfs at /tmp, and a
  32 MiB tmpfs at /sandbox (the working directory) holding main.py bound read-only: nothing the code
  writes reaches the host's disk. Nothing else of the host file system
  is visible (no /etc, /home, /root, /work): writes anywhere else fail.
* ``unshare`` — no bwrap, engine running as root: ``unshare --net --pid --fork --kill-child``, then
  ``setpriv`` to the run's fresh uid. No network, own PID namespace. The host file system stays
  visible (readable where world-readable) and writable only where any user may write (/tmp,
  /dev/shm, /var/tmp).
* ``none`` — a plain subprocess with the guarantees above (and the fresh uid when root). No network or
  file-system isolation: network access and reads of world-readable files are possible. Use it only for
  code you would be willing to run anyway.

Caveats: ``preexec_fn`` only calls ``setrlimit`` (no locks), which is safe in a threaded engine in
practice, though CPython documents preexec_fn as unsafe with threads. bubblewrap leaves its inner
process for PID 1 to reap; on hosts whose PID 1 reaps orphans late (some containers) finished runs
show as ``bwrap <defunct>`` for a while — run the engine under an init (``docker run --init``) there.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import random
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

SYSTEM_PYTHON = "/usr/bin/python3"
FILE_SIZE_LIMIT = 16 * 1024 * 1024
OPEN_FILES_LIMIT = 64
TMPFS_BYTES = 16 * 1024 * 1024
SCRATCH_BYTES = 32 * 1024 * 1024   # the working directory's tmpfs under bwrap (with /tmp: 48 MiB in all)
#: Environment variable choosing the sandbox: "auto" (default: bubblewrap, else generated code is not
#: run), "bwrap", "unsafe-unshare" or "unsafe-none" (explicit opt-ins to weaker isolation), "off".
SANDBOX_ENV = "SLS_SANDBOX"
SANDBOX_CHOICES = ("auto", "bwrap", "unsafe-unshare", "unsafe-none", "off")
DISABLED = "disabled"
WORKDIR_PREFIX = "sls-sandbox-"
_POLL_S = 0.02
_HELPERS = 4  # processes of the sandbox machinery itself (bwrap's two, unshare, …) within the limits
_ID_RANGE = (2_000_000, 2_900_000)  # unprivileged uids/gids no account uses: a fresh one per run


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """What happened to one sandboxed run.

    `ok` is True when the program exited with status 0 before any limit hit it. `killed_reason` names
    the limit that ended it ("wall-clock timeout", "cpu time limit", "memory limit", "process limit",
    "file size limit", "signal SIGSEGV", ...) or is None. `isolation` is "bwrap", "unshare" or "none".
    """

    ok: bool
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    killed_reason: str | None
    isolation: str


def _is_root() -> bool:
    return os.geteuid() == 0


def _interpreter() -> str:
    """The system Python, else the real file of the running interpreter (not a venv link: a venv's
    packages have no business in the sandbox, and its path is not mounted there)."""
    return SYSTEM_PYTHON if os.access(SYSTEM_PYTHON, os.X_OK) else os.path.realpath(sys.executable)


def _bwrap_args(workdir: str, interpreter: str) -> list[str]:
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    if not interpreter.startswith("/usr/"):
        prefix = os.path.realpath(sys.base_prefix)
        args += ["--ro-bind", prefix, prefix]
    return args + [
        "--proc", "/proc", "--dev", "/dev", "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp",
        # the working directory is a private, size-limited tmpfs too: nothing the code writes reaches the
        # host's disk (the host's work dir holds only main.py, bound read-only)
        "--perms", "0755", "--size", str(SCRATCH_BYTES), "--tmpfs", "/sandbox",
        "--ro-bind", os.path.join(workdir, "main.py"), "/sandbox/main.py", "--chdir", "/sandbox", "--clearenv",
        "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/sandbox",
        "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        interpreter, "-I", "main.py",
    ]


def _unshare_args(run_id: int, interpreter: str) -> list[str]:
    return ["unshare", "--net", "--pid", "--fork", "--kill-child", "--",
            "setpriv", f"--reuid={run_id}", f"--regid={run_id}", "--clear-groups", "--",
            interpreter, "-I", "main.py"]


def _command(mode: str, workdir: str, interpreter: str, run_id: int | None) -> list[str]:
    if mode == "bwrap":
        return _bwrap_args(workdir, interpreter)
    if mode == "unshare":
        return _unshare_args(run_id if run_id is not None else 0, interpreter)
    return [interpreter, "-I", "main.py"]


def _run_id(mode: str, interpreter: str) -> int | None:
    """The unprivileged uid/gid a run uses when the engine is root (None: keep the engine's ids)."""
    if not _is_root() or interpreter != SYSTEM_PYTHON:
        return None  # not root; or the interpreter's own prefix may be unreadable for an unprivileged uid
    return random.randrange(*_ID_RANGE)


def _prepare(workdir: str, code: str, run_id: int | None) -> None:
    script = os.path.join(workdir, "main.py")
    with open(script, "w", encoding="utf-8") as fh:
        fh.write(code)
    os.chmod(workdir, 0o755)
    os.chmod(script, 0o644)
    if run_id is not None:
        os.chown(workdir, run_id, run_id)
        os.chown(script, run_id, run_id)


def _popen_ids(mode: str, run_id: int | None) -> dict:
    """Popen arguments that drop to `run_id` (bwrap drops before it starts; `unshare` must start as root
    and drops through setpriv)."""
    if mode in ("bwrap", "none") and run_id is not None:
        return {"user": run_id, "group": run_id, "extra_groups": []}
    return {}


ISOLATION_MODES = ("bwrap", "unshare", "none")


@functools.cache
def isolation_works(mode: str) -> bool:
    """True when isolation `mode` can run a trivial script on this machine (probed once per mode)."""
    if mode == "none":
        return True
    if mode == "bwrap" and not shutil.which("bwrap"):
        return False
    if mode == "unshare" and not (_is_root() and shutil.which("unshare") and shutil.which("setpriv")):
        return False
    result = _execute(mode, "print('ok')\n", _interpreter(), timeout_s=10, cpu_s=5, memory_mb=256,
                      max_output_bytes=1000, max_processes=8)
    if not (result.ok and result.stdout.strip() == "ok"):
        log.info("sandbox mode %s does not work here: %s", mode, result.stderr[:300])
        return False
    return True


def sandbox_choice() -> str:
    """The `SLS_SANDBOX` setting ("auto" when unset); `ValueError` naming the accepted values otherwise."""
    raw = os.environ.get(SANDBOX_ENV, "").strip().lower() or "auto"
    if raw not in SANDBOX_CHOICES:
        raise ValueError(f"{SANDBOX_ENV}={raw!r} is not a sandbox setting; expected one of "
                         f"{', '.join(SANDBOX_CHOICES)}")
    return raw


_WARNED: set[str] = set()


def available_isolation() -> str:
    """The isolation generated code runs under: "bwrap" when bubblewrap works here; "unshare" or "none"
    only when `SLS_SANDBOX` opts in explicitly (unsafe-unshare / unsafe-none); otherwise "disabled" —
    generated code is then not run at all (see `sandbox_status`). Probes run lazily, once per mode."""
    try:
        choice = sandbox_choice()
    except ValueError as exc:
        _warn_once(str(exc), str(exc))
        return DISABLED
    if choice == "off":
        return DISABLED
    if choice in ("auto", "bwrap"):
        if isolation_works("bwrap"):
            return "bwrap"
        _warn_once("no-bwrap", "bubblewrap (bwrap) is not available here, so generated code is NOT run: "
                   f"{INSTALL_HINT}")
        return DISABLED
    mode = choice.removeprefix("unsafe-")
    if not isolation_works(mode):
        _warn_once(choice, f"{SANDBOX_ENV}={choice}, but that isolation does not work here: generated code is "
                   "not run")
        return DISABLED
    _warn_once(choice, f"{SANDBOX_ENV}={choice}: generated code runs WITHOUT bubblewrap ({mode} isolation: it "
               "can read world-readable files; no disk quota beyond 16 MiB per file)")
    return mode


INSTALL_HINT = ("install it (Debian/Ubuntu: sudo apt-get install bubblewrap; ./dev setup does it where it may), "
                f"or opt in to running it unconfined with {SANDBOX_ENV}=unsafe-none")


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning("%s", message)


def sandbox_status() -> dict:
    """What the sandbox does here, for the dashboard and `sls`: {"mode": "bwrap" | "unshare" | "none" |
    "disabled", "runs_code": bool, "safe": bool, "detail": one sentence}."""
    mode = available_isolation()
    detail = {
        "bwrap": "bubblewrap: no network, no host files, 48 MiB private scratch, CPU/memory/process limits",
        "unshare": f"{SANDBOX_ENV}=unsafe-unshare: no network, but host files are readable — opted in",
        "none": f"{SANDBOX_ENV}=unsafe-none: a plain subprocess, network and host files reachable — opted in",
        DISABLED: f"generated code is not run: bubblewrap is unavailable or {SANDBOX_ENV} is off; {INSTALL_HINT}",
    }[mode]
    return {"mode": mode, "runs_code": mode != DISABLED, "safe": mode == "bwrap", "detail": detail}


def drops_privileges(mode: str) -> bool:
    """True when runs in `mode` execute under a fresh unprivileged uid (the engine is root and the
    interpreter is the system one, readable by any uid)."""
    return _run_id(mode, _interpreter()) is not None


def _set_limits(cpu_s: int, memory_bytes: int, nproc: int) -> None:
    """Resource limits, applied in the child between fork and exec (async-signal-safe calls only)."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES_LIMIT, OPEN_FILES_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _process_table() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def _descendants(root_pid: int) -> list[int]:
    """Pids of the live descendants of `root_pid`."""
    children = _process_table()
    found, stack = [], [root_pid]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:][:1] not in (b"Z", b"X")


class _ExitWaiter:
    """Waits up to a given time for a child to exit and says whether it has.

    With a pidfd (Linux 5.3+) the wait ends the moment the child exits; `Popen.wait(timeout)` instead
    polls with sleeps that grow to several milliseconds, which adds up over many short sandbox runs."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.fd, self.poller = proc, None, None
        try:
            self.fd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            return
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)

    def __call__(self, seconds: float) -> bool:
        if self.poller is not None:
            return bool(self.poller.poll(max(1, int(seconds * 1000))))
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _await_exit(pids: list[int], timeout_s: float = 2.0) -> None:
    """Wait (briefly) until killed processes are really gone, so nothing of a run outlives `run_python`."""
    deadline = time.monotonic() + timeout_s
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        if pids:
            time.sleep(_POLL_S)


def _user_process_count(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                continue
    return count


def _reader(stream, limit: int, sink: list[bytes], truncated: list[bool]) -> None:
    """Drain `stream` to its end, keeping the first `limit` bytes."""
    kept = 0
    # read1: whatever the pipe holds now, not a full 64 KiB block — so output written before a killed or
    # escaped process stops writing is kept even when the pipe never reaches its end in time
    while chunk := stream.read1(65536):
        room = limit - kept
        if room > 0:
            sink.append(chunk[:room])
            kept += min(room, len(chunk))
        if len(chunk) > room:
            truncated[0] = True
    stream.close()


def _decode(parts: list[bytes], truncated: bool, limit: int) -> str:
    text = b"".join(parts).decode("utf-8", errors="replace")
    return text + (f"\n[output truncated at {limit} bytes]" if truncated else "")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _kill_uid(uid: int) -> list[int]:
    """SIGKILL every process running under `uid` (a run's own uid); returns their pids."""
    killed = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return killed
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            os.kill(int(entry), signal.SIGKILL)
        except OSError:       # gone meanwhile (ProcessLookupError) or not ours to see
            continue
        killed.append(int(entry))
    return killed


def run_python(code: str, timeout_s: float = 5, cpu_s: int = 5, memory_mb: int = 256,
               max_output_bytes: int = 64_000, *, max_processes: int = 32,
               isolation: str | None = None) -> SandboxResult:
    """Run `code` as a Python script in a sandbox (see the module docstring for the guarantees).

    `isolation` forces a mode ("bwrap", "unshare", "none"; ValueError for anything else); by default the
    strongest available is used. Never raises for anything the code does; a sandbox that cannot start
    is reported as a failed run. `max_processes` bounds the processes the code may have at once.
    """
    if isolation is not None and isolation not in ISOLATION_MODES:
        raise ValueError(f"unknown isolation {isolation!r}; expected one of {', '.join(ISOLATION_MODES)}")
    sweep_stale_workdirs()
    mode = isolation or available_isolation()
    if mode == DISABLED:
        return SandboxResult(False, None, "", "not run: " + sandbox_status()["detail"], False,
                             NOT_RUN, DISABLED)
    return _execute(mode, code, _interpreter(), timeout_s=timeout_s, cpu_s=cpu_s, memory_mb=memory_mb,
                    max_output_bytes=max_output_bytes, max_processes=max_processes)


def _execute(mode: str, code: str, interpreter: str, *, timeout_s: float, cpu_s: int, memory_mb: int,
             max_output_bytes: int, max_processes: int) -> SandboxResult:
    try:
        code.encode("utf-8")
    except UnicodeEncodeError as exc:   # lone surrogates: the code cannot even be written to main.py
        return SandboxResult(False, None, "", f"SyntaxError: the code is not valid Unicode text ({exc.reason} "
                             f"at character {exc.start}); nothing was run", False, None, mode)
    run_id = _run_id(mode, interpreter)
    nproc = max_processes + _HELPERS
    if run_id is None and not _is_root():
        nproc += _user_process_count(os.getuid())  # RLIMIT_NPROC counts every process of the real uid
    workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-")
    try:
        _prepare(workdir, code, run_id)
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        memory_bytes = memory_mb * 1024 * 1024
        return _supervise(
            _command(mode, workdir, interpreter, run_id), workdir, env, mode, _popen_ids(mode, run_id),
            lambda: _set_limits(cpu_s, memory_bytes, nproc), timeout_s, max_output_bytes, max_processes,
            run_id)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


NOT_RUN = "sandbox unavailable"


@functools.cache
def sweep_stale_workdirs() -> int:
    """Remove the work dirs of sandbox runs whose engine process is gone (killed mid-run: its `finally`
    never ran). Runs once per process, on first use; returns how many were removed."""
    root = tempfile.gettempdir()
    removed = 0
    try:
        names = [n for n in os.listdir(root) if n.startswith(WORKDIR_PREFIX)]
    except OSError:
        return 0
    for name in names:
        path = os.path.join(root, name)
        owner = name[len(WORKDIR_PREFIX):].split("-", 1)[0]
        try:
            if owner.isdigit():
                if _pid_alive(int(owner)):
                    continue
            elif time.time() - os.stat(path).st_mtime < 3600:   # an older engine's dir: only when stale
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += not os.path.exists(path)
    if removed:
        log.info("removed %d stale sandbox work dirs from %s", removed, root)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _alive(pid)


def _supervise(cmd: list[str], workdir: str, env: dict[str, str], mode: str, ids: dict,
               preexec: Callable[[], None], timeout_s: float, max_output_bytes: int,
               max_processes: int, run_id: int | None = None) -> SandboxResult:
    """Start `cmd`, enforce the wall clock and the process count, collect its output. With a uid of the
    run's own (`run_id`), every process still running under it when the run ends is killed."""
    try:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, preexec_fn=preexec, **ids)
    except (OSError, subprocess.SubprocessError) as exc:
        return SandboxResult(False, None, "", f"sandbox failed to start: {exc}", False, "sandbox error", mode)
    out: list[bytes] = []
    err: list[bytes] = []
    out_truncated, err_truncated = [False], [False]
    readers = [
        threading.Thread(target=_reader, args=(proc.stdout, max_output_bytes, out, out_truncated), daemon=True),
        threading.Thread(target=_reader, args=(proc.stderr, max_output_bytes, err, err_truncated), daemon=True),
    ]
    for thread in readers:
        thread.start()
    deadline = time.monotonic() + timeout_s
    reason: str | None = None
    doomed: list[int] = []
    exited = _ExitWaiter(proc)
    while True:
        if exited(_POLL_S):
            proc.wait()
            break
        descendants = _descendants(proc.pid)
        if time.monotonic() >= deadline:
            reason = "wall-clock timeout"
        elif len(descendants) > max_processes + _HELPERS:
            reason = "process limit"
        if reason:
            doomed = descendants
            _kill_group(proc.pid)  # bwrap/unshare: their PID namespace dies with them
            proc.wait()
            break
    exited.close()
    _kill_group(proc.pid)  # whatever of a plain run is left in its process group
    if run_id is not None:
        # a process that left the group (double fork + setsid) escapes killpg; without a PID namespace
        # (mode none) it would outlive the run, holding the output pipes. The uid is the run's alone.
        doomed += _kill_uid(run_id)
    _await_exit(doomed)
    for thread in readers:
        thread.join(timeout=2)
    stdout = _decode(out, out_truncated[0], max_output_bytes)
    stderr = _decode(err, err_truncated[0], max_output_bytes)
    returncode = proc.returncode
    reason = reason or _killed_reason(returncode, mode, stderr)
    return SandboxResult(returncode == 0 and reason is None, returncode, stdout, stderr,
                         reason == "wall-clock timeout", reason, mode)


def _killed_reason(returncode: int | None, mode: str, stderr: str) -> str | None:
    """Which limit ended a run, from its exit status and stderr (None for a normal exit)."""
    signum = None
    if returncode is not None and returncode < 0:
        signum = -returncode
    elif mode == "bwrap" and returncode is not None and returncode > 128:
        signum = returncode - 128  # bwrap reports a child killed by signal N as 128 + N
    if signum is not None:
        named = {signal.SIGXCPU: "cpu time limit", signal.SIGXFSZ: "file size limit"}
        try:
            sig = signal.Signals(signum)
        except ValueError:
            return f"signal {signum}"
        return named.get(sig, f"signal {sig.name}")
    if returncode and "MemoryError" in stderr:
        return "memory limit"
    return None
