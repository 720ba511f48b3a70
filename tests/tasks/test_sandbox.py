"""The code sandbox: it runs correct code, reports failures, and contains hostile code.

Each attack test states what must not happen on the host; the isolation that applied is reported by
`SandboxResult.isolation`, and the tests that need namespaces skip (with the reason) where none exist.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import pytest

from engine.tasks.sandbox import (
    ISOLATION_MODES,
    available_isolation,
    drops_privileges,
    isolation_works,
    run_python,
)

FAST = {"timeout_s": 2, "cpu_s": 2}


@pytest.fixture(params=ISOLATION_MODES)
def mode(request) -> str:
    """Each isolation mode that works on this machine (the attack tests run under all of them)."""
    if not isolation_works(request.param):
        pytest.skip(f"isolation {request.param!r} is not available here")
    return request.param


def test_correct_solution_passes():
    result = run_python("def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\nprint('fine')\n", **FAST)
    assert result.ok and result.returncode == 0
    assert result.stdout == "fine\n"
    assert result.killed_reason is None and not result.timed_out
    assert result.isolation == available_isolation()


def test_wrong_solution_fails_with_its_error():
    result = run_python("def add(a, b):\n    return a - b\n\nassert add(2, 3) == 5\n", **FAST)
    assert not result.ok
    assert result.returncode == 1
    assert "AssertionError" in result.stderr
    assert result.killed_reason is None


def test_infinite_loop_is_killed():
    started = time.perf_counter()
    result = run_python("while True:\n    pass\n", timeout_s=1.5, cpu_s=5)
    assert not result.ok
    assert result.timed_out and result.killed_reason == "wall-clock timeout"
    assert time.perf_counter() - started < 5


def test_cpu_limit_stops_a_busy_loop_before_the_wall_clock():
    result = run_python("while True:\n    pass\n", timeout_s=5, cpu_s=1)
    assert not result.ok and not result.timed_out
    assert result.killed_reason == "cpu time limit"


def test_memory_hog_is_stopped():
    result = run_python("blocks = []\nwhile True:\n    blocks.append(bytearray(50_000_000))\n",
                        memory_mb=128, **FAST)
    assert not result.ok
    assert result.killed_reason == "memory limit"
    assert "MemoryError" in result.stderr


@pytest.fixture
def listening_port():
    """A TCP server on 127.0.0.1 of the host that records whether anyone connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    connected = threading.Event()
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            connected.set()
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], connected
    stop.set()
    thread.join(1)
    server.close()


def test_network_is_unreachable(listening_port, mode):
    if mode == "none":
        pytest.skip("the plain subprocess mode does not isolate the network (see the sandbox docstring)")
    port, connected = listening_port
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('connected')\n"
    result = run_python(code, isolation=mode, **FAST)
    assert result.isolation == mode
    assert not result.ok
    assert "connected" not in result.stdout
    assert "ConnectionRefusedError" in result.stderr or "Network is unreachable" in result.stderr
    assert not connected.is_set()


@pytest.mark.parametrize("target_dir", [os.path.dirname(os.path.abspath(__file__)), os.path.expanduser("~")])
def test_writes_outside_the_temp_dir_fail(target_dir, mode):
    if mode != "bwrap" and os.geteuid() == 0 and not drops_privileges(mode):
        pytest.skip(f"{mode!r} mode running as root can write anywhere (see the sandbox docstring)")
    target = os.path.join(target_dir, f"sandbox-escape-{uuid.uuid4().hex}.txt")
    result = run_python(f"open({target!r}, 'w').write('escaped')\nprint('wrote')\n", isolation=mode, **FAST)
    try:
        assert not result.ok
        assert "wrote" not in result.stdout
        assert not os.path.exists(target)
    finally:
        if os.path.exists(target):
            os.remove(target)


def test_the_temp_dir_is_writable_and_removed_afterwards():
    result = run_python("import os\nopen('scratch.txt', 'w').write('x')\nprint(os.getcwd())\n", **FAST)
    assert result.ok
    if result.isolation != "bwrap":  # inside bwrap the temp dir is mounted at /sandbox
        assert not os.path.exists(result.stdout.strip())


def _live_processes_of(uid: int) -> int:
    """Processes (zombies excluded) running under `uid`."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1][1:2]
            count += os.stat(f"/proc/{entry}").st_uid == uid and state not in (b"Z", b"X")
        except OSError:
            continue
    return count


def test_fork_bomb_is_contained(mode):
    if os.geteuid() == 0 and not drops_privileges(mode) and mode == "none":
        pytest.skip("plain subprocess mode as root without a privilege drop: RLIMIT_NPROC is not enforced")
    code = ("import os\n"
            "print(os.getuid(), flush=True)\n"
            "while True:\n"
            "    try:\n"
            "        os.fork()\n"
            "    except OSError:\n"
            "        pass\n")
    started = time.perf_counter()
    result = run_python(code, timeout_s=1.5, cpu_s=2, max_processes=16, isolation=mode)
    assert not result.ok
    assert result.killed_reason in {"wall-clock timeout", "process limit", "cpu time limit"}
    assert time.perf_counter() - started < 6
    if drops_privileges(mode):  # the run had a uid of its own: nothing may still run under it
        run_uid = int(result.stdout.split()[0])
        assert run_uid != os.getuid()
        assert _live_processes_of(run_uid) == 0, "processes of the fork bomb survived the run"


def test_huge_output_is_truncated():
    result = run_python("import sys\nfor _ in range(20_000):\n    sys.stdout.write('x' * 100)\n",
                        max_output_bytes=10_000, **FAST)
    assert result.ok
    assert result.stdout.startswith("x" * 10_000)
    assert result.stdout.endswith("[output truncated at 10000 bytes]")
    assert len(result.stdout) < 10_100


def test_environment_is_cleared():
    os.environ["SLS_SANDBOX_SECRET_PROBE"] = "do-not-leak"
    try:
        result = run_python("import os\nprint(os.environ.get('SLS_SANDBOX_SECRET_PROBE'))\n", **FAST)
    finally:
        del os.environ["SLS_SANDBOX_SECRET_PROBE"]
    assert result.stdout.strip() == "None"


def test_bwrap_hides_the_host_file_system():
    if available_isolation() != "bwrap":
        pytest.skip(f"isolation here is {available_isolation()!r}, not bwrap")
    result = run_python("import os\nprint(os.path.exists('/work'), os.path.exists('/etc/passwd'))\n", **FAST)
    assert result.stdout.strip() == "False False"
