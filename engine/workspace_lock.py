"""One workspace, one engine: an exclusive lock taken when an engine opens a workspace.

Two engines on one workspace (two `sls run`, an `sls ask` during a run, a second dashboard engine) take
colliding event sequence numbers and overwrite each other's learned state. `lock_workspace` takes an
exclusive, non-blocking `flock` on ``<workspace>/.sls.lock`` and writes the holder (pid, host, command,
start time) into it; a second opener — another process, or another engine of the same process — gets a
`WorkspaceBusyError` at once naming the holder, before it writes anything. The lock lives as long as the
open file: it is released by `release()`, and by the kernel when the process dies (a SIGKILLed run leaves no
stale lock; the file stays, holding the last holder's details, and is simply locked again).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from engine.errors import WorkspaceError

LOCK_FILE = ".sls.lock"


class WorkspaceBusyError(WorkspaceError):
    """Another engine holds the workspace (the message names its pid and host)."""


class WorkspaceLock:
    """An exclusive lock on a workspace, held until `release()` (or the process ends)."""

    def __init__(self, path: Path, fd: int | None):
        self.path, self._fd = path, fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let other engines open the workspace (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)             # closing the descriptor drops the flock

    def __del__(self):
        with contextlib.suppress(Exception):
            self.release()

    def __repr__(self) -> str:
        return f"WorkspaceLock({str(self.path)!r}, held={self.held})"


def holder(workspace: str | Path) -> dict | None:
    """What the lock file says about its last holder (pid, host, command, since), or None."""
    try:
        text = (Path(workspace) / LOCK_FILE).read_text(encoding="utf-8")
        info = json.loads(text)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def lock_workspace(workspace: str | Path) -> WorkspaceLock:
    """Take the workspace's lock or raise `WorkspaceBusyError` (another holder) / `WorkspaceError` (the lock
    file cannot be created). The workspace directory must exist."""
    path = Path(workspace) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise WorkspaceError(f"cannot lock the workspace {workspace}: cannot open {path}: "
                                 f"{exc.strerror or exc}") from None
        # A workspace we may not write: no engine of ours can write it either. Lock the file if it is
        # there (a read-only descriptor can hold a flock); else there is nothing to guard, and the event
        # log reports the read-only workspace in its own words.
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return WorkspaceLock(path, None)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise WorkspaceBusyError(busy_message(workspace)) from None
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(os.path.basename(a) if k == 0 else a for k, a in enumerate(sys.argv))[:200]}
    with contextlib.suppress(OSError):     # the details are a courtesy: the flock is the lock
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    return WorkspaceLock(path, fd)


def busy_message(workspace: str | Path) -> str:
    """The one line a second opener gets."""
    info = holder(workspace) or {}
    who = (f"process {info.get('pid', '?')} on host {info.get('host', '?')}"
           + (f" ({info['command']}, since {info.get('since', '?')})" if info.get("command") else ""))
    return (f"the workspace {workspace} is in use by {who}: one workspace serves one engine at a time; "
            "wait for it to finish, stop it, or use another --workspace")
