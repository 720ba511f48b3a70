"""Opening a workspace's files safely: an emptied event log is not a new one, a corrupt learned state is
named (and replaced by its intact copy where there is one), and files are replaced atomically under a
name of their own.

The live engine keeps its learned state twice: in the event log's snapshot row (committed with each job)
and in ``scheduler_state.pkl`` (written after it). `restore_learned_state` loads the first that reads
(through `engine.safepickle.safe_loads`: loading a workspace never runs code from it) and says which copy
was broken; when none reads it raises one `WorkspaceError` naming the files and how to recover.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.errors import WorkspaceError
from engine.safepickle import UnsafePickleError

log = logging.getLogger(__name__)

#: Set to 1 to start the learned state afresh when no copy of it can be read (history is kept).
RESET_ENV = "SLS_RESET_LEARNED_STATE"
#: Files and folders whose presence shows that a workspace has been used before.
HISTORY_MARKS = ("scheduler_state.pkl", "chroma", "events.sqlite-wal")


def history_marks(workspace: Path) -> list[str]:
    """The names in `workspace` that show earlier use (non-empty files, non-empty folders)."""
    found = []
    for name in HISTORY_MARKS:
        path = workspace / name
        try:
            if path.is_dir() and any(path.iterdir()) or path.is_file() and path.stat().st_size > 0:
                found.append(name)
        except OSError:
            continue
    return found


def check_event_log(path: str | Path) -> None:
    """Refuse to open an event log that was truncated to nothing in a workspace with earlier history
    (SQLite would silently make it a new, empty log: history, spend and resume gone). A missing or empty
    log in an unused workspace is fine (a new workspace)."""
    path = Path(path)
    try:
        empty = path.is_file() and path.stat().st_size == 0
    except OSError:
        return
    if not empty:
        return
    marks = history_marks(path.parent)
    if marks:
        raise WorkspaceError(
            f"the event log {path} is empty (0 bytes) but the workspace holds earlier history "
            f"({', '.join(marks)}): it was truncated, and opening it would start a new history (spend, budgets "
            f"and resume lost). Restore {path.name} from a backup; or, to start afresh on purpose, move the "
            f"workspace aside (mv {path.parent} {path.parent}.old) or use another --workspace")


def restore_learned_state(restore: Callable[[bytes], object], snapshot: bytes | None, state_file: str | Path,
                          event_log: str | Path) -> str | None:
    """Restore the learned state from the event log's `snapshot` (newest), else from `state_file`.

    Returns which copy was used (None: nothing saved yet, a new workspace). A copy that cannot be read is
    skipped with a warning naming it; when no copy reads, `WorkspaceError` names them and says how to
    recover (unless `SLS_RESET_LEARNED_STATE=1`: the state then starts afresh, loudly)."""
    state_file = Path(state_file)
    copies: list[tuple[str, Callable[[], bytes]]] = []
    if snapshot is not None:
        copies.append((f"the learned-state snapshot in the event log {event_log}", lambda: snapshot))
    if state_file.exists():
        copies.append((str(state_file), state_file.read_bytes))
    if not copies:
        return None
    broken: list[str] = []
    for where, read in copies:
        try:
            restore(read())
        except UnsafePickleError as exc:
            broken.append(f"{where}: {exc}")
            log.error("%s names code to run, not data (%s): not loaded", where, exc)
        except Exception as exc:      # noqa: BLE001 - any failure of a corrupt blob is "cannot be read"
            broken.append(f"{where}: {type(exc).__name__}: {str(exc)[:200]}")
            log.warning("cannot read %s (%s: %s)", where, type(exc).__name__, str(exc)[:200])
        else:
            if broken:
                log.warning("restored the learned state from %s instead (an intact copy); the broken one is "
                            "replaced at the next checkpoint", where)
            return where
    if os.environ.get(RESET_ENV, "").strip() == "1":
        log.warning("%s=1: the learned state starts afresh (the history in %s is kept); unreadable: %s",
                    RESET_ENV, event_log, "; ".join(broken))
        return None
    raise WorkspaceError(
        "cannot read the learned state of this workspace — " + "; ".join(broken) + ". The job history is "
        f"intact. To recover, restore {state_file.name} from a backup, or start the learned state afresh "
        f"(keeping the history) by running the command again with {RESET_ENV}=1")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` atomically, through a temporary file of a unique name in its folder (two
    writers never share one), removed when the write fails; `WorkspaceError` names the file."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise WorkspaceError(f"cannot save {path}: {exc.strerror or exc}") from None
