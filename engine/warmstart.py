"""Warm start: begin a run from what an earlier run learned, read from its workspace.

A workspace is what `sls replay --workspace DIR` or a live scheduler (`SLS_WORKSPACE`) leaves behind. What
it has learned lives in three places:

* ``events.sqlite`` — table ``checkpoints`` (one per replay run: the policy's snapshot, the scheduler's
  learned state and the cache's in-memory state) and table ``snapshots`` (the live engine's learned state,
  committed with each job, plus its unflushed cache writes);
* ``scheduler_state.pkl`` — the live engine's learned state, written at each checkpoint;
* ``chroma/`` with ``cache_thresholds.json`` — the live engine's cache (a replay's checkpoint holds its own).

A warm start takes the predictors, the models they know, the drift detectors, the tasks' judges, the cache's
verified entries (log templates and semantic answers) with its tombstones, and the semantic thresholds. It
leaves behind what belongs to a run: the budget ledger and spend, the pacer's λ, the job counters, the event
sequence, the run's drift events, observations and threshold history, and the event log.

The source is never written: the event log and the Chroma store are copied to a temporary directory and
read there. Every workspace blob is unpickled by `load_blob` — the one place to harden.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import SettingsError
from engine.eventlog import EVENTS_FILE
from engine.safepickle import safe_loads

log = logging.getLogger(__name__)

STATE_FILE = "scheduler_state.pkl"          # = engine.service.STATE_FILE (not imported: service is heavy)
CHROMA_DIR = "chroma"
THRESHOLDS_FILE = "cache_thresholds.json"   # = engine.cache.manager.THRESHOLDS_FILE


class WarmStartError(SettingsError):
    """A warm-start directory that is not a workspace or holds no learned state (exit status 2 in `sls`)."""


def load_blob(blob: bytes):
    """Unpickle one blob read from a workspace (every warm-start read goes through here)."""
    return safe_loads(blob)   # a workspace is data, never code


@dataclass
class WarmState:
    """The learned state of a workspace, ready to seed a new scheduler (`apply_warm_state`)."""

    source: Path
    origin: str                       # which record it came from, for logs and reports
    predictors: object
    known: set = field(default_factory=set)
    drift: object | None = None
    judges: dict = field(default_factory=dict)
    entries: list = field(default_factory=list)        # valid engine.cache CacheEntry objects
    tombstones: set = field(default_factory=set)       # ids of entries feedback proved wrong
    thresholds: dict = field(default_factory=dict)     # semantic task -> acceptance threshold

    def summary(self) -> dict:
        return {"warm_start": str(self.source), "origin": self.origin, "models": sorted(self.known),
                "cache_entries": len(self.entries), "tombstones": len(self.tombstones),
                "thresholds": dict(self.thresholds)}


def read_warm_state(directory: str | Path) -> WarmState:
    """The learned state saved in the workspace `directory` (the newest record, when it holds several runs).

    Raises `WarmStartError` naming the directory and what is missing when it is not a workspace or holds no
    learned state. Nothing in `directory` is written."""
    src = Path(directory).expanduser()
    if not src.is_dir():
        raise WarmStartError(f"warm start from {src}: not a directory (expected the workspace of an earlier "
                             "`sls replay --workspace` or of a live scheduler)")
    events, state_file, chroma = src / EVENTS_FILE, src / STATE_FILE, src / CHROMA_DIR
    if not (events.is_file() or state_file.is_file() or chroma.is_dir()):
        raise WarmStartError(f"warm start from {src}: not a workspace (no {EVENTS_FILE}, {STATE_FILE} or "
                             f"{CHROMA_DIR}/ in it)")
    with tempfile.TemporaryDirectory(prefix="sls-warm-") as tmp:
        found = _from_event_log(events, Path(tmp)) if events.is_file() else None
        if found is None and state_file.is_file():
            found = ("live", "scheduler_state.pkl", state_file.read_bytes(), None)
        if found is None:
            raise WarmStartError(f"warm start from {src}: the workspace holds no learned state (no checkpoint "
                                 f"of an sls replay and no live snapshot in {EVENTS_FILE}, no {STATE_FILE})")
        kind, origin, core_blob, extra = found
        try:
            state = _scheduler_state(core_blob)
            cache = _replay_cache(extra) if kind == "replay" else _live_cache(src, Path(tmp), extra)
        except WarmStartError:
            raise
        except Exception as exc:   # unreadable or foreign pickles: say where, not a traceback
            raise WarmStartError(f"warm start from {src}: cannot read the learned state of {origin} "
                                 f"({type(exc).__name__}: {exc})") from None
    entries, tombstones, thresholds = cache
    return WarmState(src, origin, state["predictors"], set(state["known"]), state["drift"], state["judges"],
                     entries, tombstones, thresholds)


def apply_warm_state(scheduler, warm: WarmState) -> None:
    """Seed `scheduler` (an `engine.scheduling.Scheduler` just built for a new run) with `warm`: its update
    manager takes the predictors, known models, drift detectors and judges; its cache the verified entries,
    tombstones and thresholds. The run's own pacer, counters, event sequence and ledger stay fresh."""
    updates = scheduler.updates
    updates.predictors = warm.predictors
    updates.known = set(warm.known)
    if warm.drift is not None:
        warm.drift.events = []            # the earlier run's drift events are its history, not this run's
        updates.drift = warm.drift
    updates.judges = dict(warm.judges)
    if scheduler.cache is not None:
        scheduler.cache.warm(warm.entries, warm.tombstones, warm.thresholds)
    log.info("warm start from %s (%s): %d models, %d cache entries", warm.source, warm.origin,
             len(warm.known), len(warm.entries))


# -- reading -----------------------------------------------------------------------------------------------
def _from_event_log(events: Path, tmp: Path):
    """(kind, origin, scheduler blob, cache blob or live pending writes) of the newest learned state in the
    event log, or None. The log (and its WAL) is copied first: opening it in place could write to it."""
    copy = tmp / EVENTS_FILE
    shutil.copyfile(events, copy)
    wal = events.with_name(events.name + "-wal")
    if wal.is_file():
        shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
    try:
        db = sqlite3.connect(copy)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            rows = []
            if "checkpoints" in tables:
                rows += [("replay", *r) for r in
                         db.execute("SELECT run_id, seq, state, NULL, at FROM checkpoints")]
            if "snapshots" in tables:
                rows += [("live", *r) for r in db.execute("SELECT run_id, seq, state, cache_pending, at FROM snapshots")]
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise WarmStartError(f"warm start from {events.parent}: {EVENTS_FILE} is not a readable event log "
                             f"({exc})") from None
    for kind, run_id, seq, blob, pending, _at in sorted(rows, key=lambda r: r[-1], reverse=True):
        if kind == "live":
            return kind, f"live snapshot of run '{run_id}' at event {seq}", blob, pending
        try:
            runner_blob = load_blob(blob)["runner"]
        except Exception as exc:
            raise WarmStartError(f"warm start from {events.parent}: unreadable checkpoint of replay run "
                                 f"{run_id} in {EVENTS_FILE} ({type(exc).__name__})") from None
        if not runner_blob:
            continue            # a baseline's checkpoint: it learns nothing
        runner = load_blob(runner_blob)
        if not isinstance(runner, dict) or "core" not in runner:
            continue
        return kind, f"checkpoint of replay run {run_id} at job {seq + 1}", runner["core"], runner.get("cache")
    return None


def _scheduler_state(blob: bytes) -> dict:
    """Predictors, known models, drift monitor and judges from a `Scheduler.snapshot()` blob (both formats)."""
    state = load_blob(blob)
    if "pacer" in state:          # a snapshot from before the update manager held all the learned state
        return {"predictors": state["predictors"], "known": state["known"], "drift": None, "judges": {}}
    updates = state["updates"]
    return {"predictors": updates.predictors, "known": updates.known, "drift": updates.drift,
            "judges": dict(updates.__dict__.get("judges", {}))}


def _replay_cache(blob: bytes | None) -> tuple[list, set, dict]:
    """A replay checkpoint's cache (its in-memory state: entries, tombstones, thresholds)."""
    if not blob:
        return [], set(), {}
    state = load_blob(blob)
    entries = [e for e in state["_entries"].values() if e.valid]
    return entries, set(state["_tombstones"]), dict(state["_semantic"].thresholds())


def _live_cache(src: Path, tmp: Path, pending: bytes | None) -> tuple[list, set, dict]:
    """A live workspace's cache: its Chroma store (read from a copy) plus the writes not yet flushed, and
    the thresholds saved beside it."""
    entries: dict[str, object] = {}
    tombstones: set[str] = set()
    if (src / CHROMA_DIR).is_dir():
        from engine.cache.store import ChromaStore
        copy = tmp / CHROMA_DIR
        shutil.copytree(src / CHROMA_DIR, copy)
        store = ChromaStore.persistent(copy)
        try:
            for task in store.tasks():
                for entry in store.load_all(task):
                    if entry.valid:
                        entries[entry.entry_id] = entry
                    else:
                        tombstones.add(entry.entry_id)
        finally:
            store.close()
    if pending:
        from engine.cache.store import ChromaStore
        for op, _task, payload in ChromaStore.parse_unflushed(pending):
            if op == "upsert" and payload.valid:
                entries[payload.entry_id] = payload
            elif op == "delete":
                entries.pop(payload, None)
            elif op == "update" and not payload.valid:
                entries.pop(payload.entry_id, None)
                tombstones.add(payload.entry_id)
    thresholds: dict[str, float] = {}
    path = src / THRESHOLDS_FILE
    if path.is_file():
        try:
            thresholds = {str(k): float(v) for k, v in json.loads(path.read_text()).get("thresholds", {}).items()}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("warm start: ignoring unreadable cache thresholds %s: %s", path, exc)
    return [e for k, e in entries.items() if k not in tombstones], tombstones, thresholds
