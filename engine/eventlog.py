"""The SQLite event log of a workspace: runs, jobs, decisions, feedback, drift events, spend and checkpoints.

Writes are grouped into transactions: a replay commits its step records together with a snapshot of the
learned state at each checkpoint, so a run killed at any point resumes from the last checkpoint and
re-computes (deterministically) what came after it — nothing lost, nothing counted twice. The live engine
commits each job (or user feedback) together with its learned state and the cache writes not yet flushed
(a `Snapshot`), so a process killed between two jobs restarts exactly where the log says it was.

A write that fails (full disk, read-only workspace) rolls back and raises `WorkspaceError` naming the file
and the likely cause; the rows committed before stay intact.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import WorkspaceError
from engine.workspace_state import check_event_log

EVENTS_FILE = "events.sqlite"   # a workspace's event log
LIVE_RUN = "live"               # the run id of a workspace's live jobs

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, trace TEXT, policy TEXT, options TEXT,
    started REAL NOT NULL, finished REAL, status TEXT NOT NULL DEFAULT 'running');
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, job_id TEXT NOT NULL, source TEXT, model TEXT,
    score REAL, cost_usd REAL NOT NULL, record TEXT NOT NULL, PRIMARY KEY (run_id, seq));
CREATE TABLE IF NOT EXISTS decisions (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run_id, seq));
CREATE TABLE IF NOT EXISTS feedback (
    run_id TEXT NOT NULL, job_id TEXT NOT NULL, seq INTEGER NOT NULL, score REAL, source TEXT NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (run_id, job_id, seq));
CREATE TABLE IF NOT EXISTS drift_events (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, model TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (run_id, seq, model));
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, state BLOB NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS learning (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT, counters TEXT NOT NULL, rng BLOB,
    PRIMARY KEY (run_id, seq));
CREATE TABLE IF NOT EXISTS fleet_events (
    origin TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, PRIMARY KEY (origin, seq));
CREATE TABLE IF NOT EXISTS snapshots (
    run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, state BLOB NOT NULL, cache_pending BLOB,
    at REAL NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The live engine's learned state and its unflushed cache writes, with every event up to `seq`
    applied (the `learning` rows after it rebuild what came later)."""

    run_id: str
    seq: int
    state: bytes
    cache_pending: bytes | None = None


@dataclass(frozen=True, slots=True)
class Learning:
    """What one live job taught the learned state, logged with its step: its feedback event (JSON, None
    for a job refused without a call), the job counters and pacing after it (JSON) and the exploration
    generator's state (bytes)."""

    seq: int
    event: str | None
    counters: str
    rng: bytes | None


def _hint(err: sqlite3.Error) -> str:
    """What a failed write most likely means, in words (sqlite's own message stays in the error)."""
    name = getattr(err, "sqlite_errorname", "") or ""
    text = str(err).lower()
    if "FULL" in name or "disk is full" in text:
        return "the disk is full"
    if "READONLY" in name or "readonly" in text or "read-only" in text:
        return "the workspace is read-only"
    if "IOERR" in name or "i/o error" in text:
        return "a disk write failed (full disk, file size limit or read-only workspace?)"
    if "CANTOPEN" in name or "unable to open" in text:
        return "the file cannot be created or opened (missing directory or no permission?)"
    if "BUSY" in name or "locked" in text:
        return "another process holds the event log"
    return "see the message"


class EventLog:
    """A workspace's event log (one SQLite file, WAL journal)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        check_event_log(self.path)   # h14: an emptied log in a used workspace is an error, not a new log
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise WorkspaceError(f"cannot open the event log {self.path}: {exc} ({_hint(exc)})") from None
        except OSError as exc:
            raise WorkspaceError(f"cannot open the event log {self.path}: "
                                 f"{exc.strerror or exc} (workspace {self.path.parent})") from None

    def close(self) -> None:
        self.db.close()

    # -- runs --------------------------------------------------------------------------------------------
    def start_run(self, run_id: str, kind: str, trace: str = "", policy: str = "", options: dict | None = None):
        with self._tx():
            self.db.execute("INSERT OR IGNORE INTO runs(run_id, kind, trace, policy, options, started) "
                            "VALUES (?,?,?,?,?,?)",
                            (run_id, kind, trace, policy, json.dumps(options or {}, default=str), time.time()))

    def run(self, run_id: str) -> dict | None:
        row = self.db.execute("SELECT run_id, kind, trace, policy, options, status FROM runs WHERE run_id=?",
                              (run_id,)).fetchone()
        if row is None:
            return None
        return dict(zip(("run_id", "kind", "trace", "policy", "options", "status"), row, strict=True))

    def finish_run(self, run_id: str, status: str = "finished") -> None:
        with self._tx():
            self.db.execute("UPDATE runs SET finished=?, status=? WHERE run_id=?", (time.time(), status, run_id))

    # -- checkpointed replay steps -----------------------------------------------------------------------
    def checkpoint(self, run_id: str, seq: int, steps: list[dict], decisions: list[dict],
                   drift_events: list[dict], state: bytes) -> None:
        """Atomically append steps/decisions/drift events and replace the run's state snapshot."""
        with self._tx():
            self._insert(run_id, steps, decisions, on_conflict="ABORT")
            self.db.executemany("INSERT OR IGNORE INTO drift_events(run_id, seq, model, detail) VALUES (?,?,?,?)",
                                [(run_id, e["seq"], e["model"], e["detail"]) for e in drift_events])
            self.db.execute("INSERT OR REPLACE INTO checkpoints(run_id, seq, state, at) VALUES (?,?,?,?)",
                            (run_id, seq, state, time.time()))

    def _insert(self, run_id: str, steps: list[dict], decisions: list[dict], *, on_conflict: str) -> None:
        """Insert steps (a seq already logged is an error, or ignored) and upsert decisions; inside a _tx."""
        self.db.executemany(
            f"INSERT OR {on_conflict} INTO steps(run_id, seq, job_id, source, model, score, cost_usd, record) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [(run_id, s["seq"], s["job_id"], s["source"], s["model"], s.get("score"), s["cost_usd"],
              json.dumps(s, default=str)) for s in steps])
        self.db.executemany("INSERT OR REPLACE INTO decisions(run_id, seq, body) VALUES (?,?,?)",
                            [(run_id, d["seq"], json.dumps(d, default=str)) for d in decisions])

    def last_checkpoint(self, run_id: str) -> tuple[int, bytes] | None:
        row = self.db.execute("SELECT seq, state FROM checkpoints WHERE run_id=?", (run_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def discard_after(self, run_id: str, seq: int) -> None:
        """Forget the run's steps and decisions after `seq` (they will be recomputed from the checkpoint)."""
        with self._tx():
            self.db.execute("DELETE FROM steps WHERE run_id=? AND seq>?", (run_id, seq))
            self.db.execute("DELETE FROM decisions WHERE run_id=? AND seq>?", (run_id, seq))
            if seq < 0:
                self.db.execute("DELETE FROM checkpoints WHERE run_id=?", (run_id,))

    def decisions(self, run_id: str) -> list[dict]:
        return [json.loads(r[0]) for r in
                self.db.execute("SELECT body FROM decisions WHERE run_id=? ORDER BY seq", (run_id,))]

    def steps(self, run_id: str) -> list[dict]:
        return [json.loads(r[0]) for r in
                self.db.execute("SELECT record FROM steps WHERE run_id=? ORDER BY seq", (run_id,))]

    def step_count(self, run_id: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM steps WHERE run_id=?", (run_id,)).fetchone()[0]

    def spend(self, run_id: str) -> float:
        return self.db.execute("SELECT COALESCE(SUM(cost_usd),0) FROM steps WHERE run_id=?",
                               (run_id,)).fetchone()[0]

    # -- live jobs and feedback ----------------------------------------------------------------------------
    def record_step(self, run_id: str, step: dict, decision: dict | None = None, *,
                    learning: Learning | None = None, snapshot: Snapshot | None = None) -> None:
        """Log one live job (its decision, what it taught the learned state, and a snapshot of that state
        every so many jobs) in one transaction; a seq already logged is an error."""
        with self._tx():
            self._insert(run_id, [step], [decision] if decision else [], on_conflict="ABORT")   # h14
            if learning is not None:
                self.db.execute("INSERT OR REPLACE INTO learning(run_id, seq, event, counters, rng) "
                                "VALUES (?,?,?,?,?)", (run_id, learning.seq, learning.event, learning.counters,
                                                       learning.rng))
            if snapshot is not None:
                self._save(snapshot)

    def learning_after(self, run_id: str, seq: int) -> list[Learning]:
        """What the jobs after event `seq` taught the learned state, in seq order."""
        rows = self.db.execute("SELECT seq, event, counters, rng FROM learning WHERE run_id=? AND seq>? "
                               "ORDER BY seq", (run_id, seq)).fetchall()
        return [Learning(*row) for row in rows]

    def steps_of_jobs(self, run_id: str, job_ids: list[str]) -> dict[str, list[dict]]:
        """The logged steps of each of `job_ids` that has any, in seq order."""
        out: dict[str, list[dict]] = {}
        unique = sorted(set(job_ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            rows = self.db.execute(
                f"SELECT job_id, record FROM steps WHERE run_id=? AND job_id IN ({','.join('?' * len(chunk))}) "
                "ORDER BY seq", (run_id, *chunk))
            for job_id, record in rows:
                out.setdefault(job_id, []).append(json.loads(record))
        return out

    # -- the live engine's learned state -------------------------------------------------------------------
    def _save(self, snapshot: Snapshot) -> None:
        self.db.execute("INSERT OR REPLACE INTO snapshots(run_id, seq, state, cache_pending, at) "
                        "VALUES (?,?,?,?,?)", (snapshot.run_id, snapshot.seq, snapshot.state,
                                               snapshot.cache_pending, time.time()))
        # what the snapshot holds need not be rebuilt any more
        self.db.execute("DELETE FROM learning WHERE run_id=? AND seq<=?", (snapshot.run_id, snapshot.seq))

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the run's learned-state snapshot (outside a job: end of a run, closing)."""
        with self._tx():
            self._save(snapshot)

    def snapshot(self, run_id: str) -> Snapshot | None:
        """The learned state committed with the run's last job or feedback, if any."""
        row = self.db.execute("SELECT seq, state, cache_pending FROM snapshots WHERE run_id=?",
                              (run_id,)).fetchone()
        return None if row is None else Snapshot(run_id, row[0], row[1], row[2])

    def next_seq(self, run_id: str) -> int:
        row = self.db.execute("SELECT MAX(seq) FROM steps WHERE run_id=?", (run_id,)).fetchone()
        return 0 if row[0] is None else row[0] + 1

    def find_step(self, job_id: str) -> tuple[str, dict] | None:
        row = self.db.execute("SELECT run_id, record FROM steps WHERE job_id=? ORDER BY rowid DESC LIMIT 1",
                              (job_id,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def add_feedback(self, run_id: str, job_id: str, seq: int, score: float | None, source: str, *,
                     snapshot: Snapshot | None = None) -> bool:
        """Record feedback once per (run, job, seq), with the learned state after applying it, in one
        transaction; returns False (and saves nothing) when it was already recorded."""
        with self._tx():
            cur = self.db.execute("INSERT OR IGNORE INTO feedback(run_id, job_id, seq, score, source, at) "
                                  "VALUES (?,?,?,?,?,?)", (run_id, job_id, seq, score, source, time.time()))
            if cur.rowcount == 1 and snapshot is not None:
                self._save(snapshot)
        return cur.rowcount == 1

    # -- a fleet's feedback events (engine.fleet.sync re-sends them when Redis lost its data) -----------------
    def add_fleet_event(self, origin: str, seq: int, event: str) -> None:
        with self._tx():
            self.db.execute("INSERT OR REPLACE INTO fleet_events(origin, seq, event) VALUES (?,?,?)",
                            (origin, seq, event))

    def fleet_origin(self) -> str | None:
        """The origin this workspace's scheduler published under (None before its first event)."""
        row = self.db.execute("SELECT origin FROM fleet_events ORDER BY rowid DESC LIMIT 1").fetchone()
        return None if row is None else row[0]

    def fleet_events(self, origin: str, limit: int) -> list[str]:
        """The last `limit` events this scheduler published, oldest first (JSON text)."""
        rows = self.db.execute("SELECT event FROM fleet_events WHERE origin=? ORDER BY seq DESC LIMIT ?",
                               (origin, limit)).fetchall()
        return [r[0] for r in reversed(rows)]

    def feedback_scores(self, run_id: str) -> dict[str, float]:
        """The latest graded feedback per job of a run: job id -> score in [0, 1]."""
        rows = self.db.execute("SELECT job_id, score FROM feedback WHERE run_id=? AND score IS NOT NULL "
                               "ORDER BY at, rowid", (run_id,)).fetchall()
        return {job_id: float(score) for job_id, score in rows}

    def has_feedback(self, run_id: str, job_id: str, seq: int) -> bool:
        return self.db.execute("SELECT 1 FROM feedback WHERE run_id=? AND job_id=? AND seq=?",
                               (run_id, job_id, seq)).fetchone() is not None

    def _tx(self):
        return _Transaction(self.db, self.path)


class _Transaction:
    def __init__(self, db: sqlite3.Connection, path: Path):
        self.db, self.path = db, path

    def __enter__(self):
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise WorkspaceError(f"event log {self.path}: cannot start a write ({exc}): {_hint(exc)}") from None
        return self.db

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
                return False
            except sqlite3.Error as err:
                self._rollback()
                raise self._error(err) from None
        self._rollback()
        if isinstance(exc, sqlite3.Error):
            raise self._error(exc) from None
        return False

    def _rollback(self) -> None:
        # After some I/O errors SQLite has already rolled back on its own; a second ROLLBACK would fail.
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")

    def _error(self, err: sqlite3.Error) -> WorkspaceError:
        return WorkspaceError(f"event log {self.path}: cannot write ({err}): {_hint(err)}; nothing was changed, "
                              "the rows written before are intact")
