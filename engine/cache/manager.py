"""The adaptive cache manager: one facade over template matching, semantic search, learned thresholds,
eviction and the Chroma store.

A lookup runs named stages, each timed in microseconds (GPTCache/vCache style):

* **normalize** — collapse whitespace (the key of exact matches and the input of the matchers);
* **embed** — semantic tasks only, skipped when an exact match was found;
* **search** — the template index (log parsing) or exact dict + in-memory nearest neighbours;
* **evaluate** — decide whether the candidate may be served: still valid, above the task's learned
  threshold (semantic), one of the job's allowed labels (classification / multiple choice).

Lookups search memory only: memory is the index, Chroma the store of record, written behind in
batches. A failing Chroma therefore costs nothing at lookup time, and at start-up it leaves an
empty (all-miss) cache instead of a crash.

Shared servers (several engines on one ``chroma run``): each engine indexes what it loaded at start-up,
so before a lookup it asks the server, at most every ``sync_interval_s`` per task, for the records
written since its last look (new verified answers, tombstones of invalidated ones) and folds them into
memory. The question is skipped while the store is backing off after a failure: a server that went away
degrades what other engines learn to misses, and the first look after it returns catches up (a full
reload when the start-up load itself had failed).
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.cache.embedder import Embedder, HashNgramEmbedder
from engine.cache.entry import CacheEntry, CacheHit, StageTimings, make_entry_id
from engine.cache.log_templates import Scope, TemplateIndex
from engine.cache.semantic import SemanticCache, ThresholdPolicy
from engine.cache.store import ChromaStore, NullStore
from engine.errors import SettingsError
from engine.jobs import Job
from engine.tasks.templates import is_all_wildcards, normalize_ws, template_matches

__all__ = ["CacheManager", "DEFAULT_TEMPLATE_TASKS"]

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE_TASKS = frozenset({"log_parsing"})
THRESHOLDS_FILE = "cache_thresholds.json"
_NS_TO_US = 1e-3
SYNC_INTERVAL_S = 1.0  # how often (per task) an engine on a shared server asks it for other engines' writes
SYNC_OVERLAP_S = 5.0   # re-read this much before the newest stamp seen: writers' clocks and flushes race


@dataclass(slots=True)
class _TaskCounters:
    lookups: int = 0
    hits: int = 0
    misses: int = 0
    template_hits: int = 0
    exact_hits: int = 0
    semantic_hits: int = 0
    confirmed: int = 0
    false_hits: int = 0
    stored: int = 0
    rejected: int = 0
    invalidated: int = 0
    evicted: int = 0


class CacheManager:
    """Answers jobs from earlier verified work when that is safe; learns from feedback on its hits.

    Construct with :meth:`open` (Chroma under a workspace or a shared server), or directly with a
    `store` (None: a memory-only cache, e.g. for what-if replays). Not safe to share between
    processes except through a Chroma server; thread-safe within a process.

    `template_tasks` are answered by verified log templates (the answer is a template, the key a
    line); every other task by the semantic cache. `template_scope` / `semantic_scope` decide whether
    entries learned on one dataset may answer jobs of another (see :class:`TemplateIndex`).
    `max_entries_per_task` caps memory and store; the least recently used entry (ties: fewest hits,
    then oldest) is evicted first. On a shared store, a lookup first folds in what other engines wrote
    to its task, at most every `sync_interval_s` seconds (default ``SYNC_INTERVAL_S``; 0: every lookup).
    """

    def __init__(self, store: ChromaStore | None = None, embedder: Embedder | None = None, *,
                 template_tasks: Iterable[str] = DEFAULT_TEMPLATE_TASKS, template_scope: Scope = "dataset",
                 semantic_scope: str = "task", threshold_policy: ThresholdPolicy | None = None,
                 max_entries_per_task: int = 20_000, thresholds_path: str | Path | None = None,
                 sync_interval_s: float | None = None):
        if template_scope not in ("dataset", "task"):
            raise SettingsError(f"template_scope must be 'dataset' or 'task', got {template_scope!r}")
        if semantic_scope not in ("dataset", "task"):
            raise SettingsError(f"semantic_scope must be 'dataset' or 'task', got {semantic_scope!r}")
        if max_entries_per_task < 1:
            raise SettingsError(f"max_entries_per_task must be >= 1, got {max_entries_per_task}")
        sync_interval_s = SYNC_INTERVAL_S if sync_interval_s is None else sync_interval_s
        if not sync_interval_s >= 0:
            raise SettingsError(f"sync_interval_s must be >= 0 seconds, got {sync_interval_s!r}")
        self.store_backend = store if store is not None else NullStore()   # memory only: writes dropped
        self.embedder: Embedder = embedder or HashNgramEmbedder()
        self.template_tasks = frozenset(template_tasks)
        self.template_scope: Scope = template_scope
        self.semantic_scope = semantic_scope
        self.max_entries_per_task = max_entries_per_task
        self.thresholds_path = Path(thresholds_path) if thresholds_path else None
        self._templates: dict[str, TemplateIndex] = {}
        self._semantic = SemanticCache(self.embedder.dim, threshold_policy, scope=semantic_scope)
        self._entries: dict[str, CacheEntry] = {}
        self._tombstones: set[str] = set()
        self._per_task: dict[str, int] = {}
        self._lru: dict[str, list[tuple[int, int, int, str]]] = {}
        self._counters: dict[str, _TaskCounters] = {}
        self._stage_sums = {"normalize": 0.0, "embed": 0.0, "search": 0.0, "evaluate": 0.0}
        self._recent_us: deque[float] = deque(maxlen=4096)
        self._clock = 0
        self._lock = threading.RLock()
        self.sync_interval_s = sync_interval_s
        self._synced_at: dict[str, float] = {}   # per task: monotonic time of the last look at the server
        self._loaded = store is None              # the start-up load reached the store (none: nothing to load)
        self._synced = 0                          # records folded in from other engines
        self.store_backend.embedder_name = self.embedder.name

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def open(cls, workspace_dir: str | Path, chroma_url: str | None = None, *,
             store_options: dict[str, Any] | None = None, **kwargs: Any) -> CacheManager:
        """A manager on ``<workspace_dir>/chroma`` (or the Chroma server at `chroma_url`), rebuilt from it.

        Learned thresholds are kept in ``<workspace_dir>/cache_thresholds.json``. `store_options` go
        to :class:`ChromaStore` (batch size, flush threshold, back-off), other keyword arguments to
        the constructor. An unreachable store gives an empty cache (all misses), never an exception.
        """
        workspace = Path(workspace_dir)
        store_options = store_options or {}
        if chroma_url:
            store = ChromaStore.http(chroma_url, **store_options)
        else:
            store = ChromaStore.persistent(workspace / "chroma", **store_options)
        kwargs.setdefault("thresholds_path", workspace / THRESHOLDS_FILE)
        manager = cls(store, **kwargs)
        manager.load()
        return manager

    def load(self) -> int:
        """Rebuild the in-memory indexes from the store; returns the number of valid entries loaded."""
        with self._lock:
            started = time.perf_counter()
            loaded = 0
            now = time.monotonic()
            for task in self.store_backend.tasks():
                entries = self.store_backend.load_all(task)
                self._synced_at[task] = now
                stale = [e for e in entries if e.valid and not self._usable_embedding(e)]
                if stale:
                    vectors = self.embedder.embed([normalize_ws(e.key) for e in stale])
                    for e, v in zip(stale, vectors, strict=True):
                        e.embedding = v
                for e in entries:
                    if not e.valid:
                        self._tombstones.add(e.entry_id)
                    elif self._index(e):
                        loaded += 1
                self._evict(task)
            self._loaded = self.store_backend.healthy
            self._load_thresholds()
            log.info("cache loaded %d entries (%d tombstones) in %.2f s", loaded, len(self._tombstones),
                     time.perf_counter() - started)
            return loaded

    def _usable_embedding(self, e: CacheEntry) -> bool:
        return e.embedding is not None and e.embedding.shape == (self.embedder.dim,)

    # -- lookup --------------------------------------------------------------------------------
    def lookup(self, job: Job, key_text: str, *, seq: int | None = None) -> CacheHit | None:
        """A safe cached answer for `job` (keyed by `key_text`, e.g. the log line), or None.

        With `seq` (the event sequence number) a hit also refreshes the entry's recency in memory.
        """
        with self._lock:
            task = job.task
            if self._sync_due(task):
                self.sync(task)
            counters = self._task_counters(task)
            counters.lookups += 1
            if task in self.template_tasks:
                hit = self._lookup_template(job, key_text)
            else:
                hit = self._lookup_semantic(job, key_text)
            if hit is None:
                counters.misses += 1
                return None
            counters.hits += 1
            if hit.kind == "template":
                counters.template_hits += 1
            elif hit.kind == "exact":
                counters.exact_hits += 1
            else:
                counters.semantic_hits += 1
            if seq is not None:
                self._touch(self._entries[hit.entry_id], seq)
            return hit

    # -- shared servers ------------------------------------------------------------------------
    def _sync_due(self, task: str) -> bool:
        store = self.store_backend
        if not store.shared or not store.available():
            return False
        return time.monotonic() - self._synced_at.get(task, -math.inf) >= self.sync_interval_s

    def sync(self, task: str) -> int:
        """Fold in what other engines wrote to `task` on the shared store since the last look; returns
        how many records changed memory. A store that is down changes nothing (and is asked again only
        after its back-off); after a failed start-up load the first successful look reloads everything."""
        store = self.store_backend
        with self._lock:
            self._synced_at[task] = time.monotonic()
            if not self._loaded:
                return self._reload()
            since = store.stamps.get(task, 0.0) - SYNC_OVERLAP_S
            records = store.changed_since(task, since)
            if not records:
                return 0
            changed = sum(self._fold(entry) for entry in records)
            if changed:
                self._synced += changed
                self._evict(task)
                log.debug("cache sync of %s: %d records from other engines", task, changed)
            return changed

    def _reload(self) -> int:
        """The start-up load failed: fold in every record of the store once it answers again."""
        store = self.store_backend
        if not store.available():
            return 0
        tasks = store.tasks()
        changed = 0
        for task in tasks:
            if not store.healthy:
                break
            changed += sum(self._fold(entry) for entry in store.load_all(task))
            self._synced_at[task] = time.monotonic()
            self._evict(task)
        if store.healthy:
            self._loaded = True
            self._synced += changed
            log.warning("cache store %s answered again: %d records loaded", store.description, changed)
        return changed

    def _fold(self, remote: CacheEntry) -> bool:
        """Apply one record read from the store to memory; True when memory changed."""
        eid = remote.entry_id
        if not remote.valid:
            if eid in self._tombstones:
                return False
            self._tombstones.add(eid)
            if self._drop(eid, delete=False) is not None:
                self._task_counters(remote.task).invalidated += 1
            return True
        if eid in self._tombstones:
            return False   # proved wrong here; a stale copy elsewhere does not bring it back
        local = self._entries.get(eid)
        if local is not None:
            if remote.hits > local.hits or remote.score > local.score:
                local.hits, local.score = max(local.hits, remote.hits), max(local.score, remote.score)
                return True
            return False
        if not self._usable_embedding(remote):
            remote.embedding = self.embedder.embed([normalize_ws(remote.key)])[0]
        if remote.task not in self.template_tasks:
            superseded = self._semantic.exact(remote.task, remote.dataset, normalize_ws(remote.key))
            if superseded is not None and superseded != eid:
                self._drop(superseded, delete=False)   # its writer replaced it with this newer answer
        return self._index(remote)

    # -- crash safety --------------------------------------------------------------------------
    def unflushed(self) -> bytes | None:
        """The store writes not yet flushed, as bytes (None: nothing pending) — committed by the live
        engine with each job, so a crash between that commit and the next flush loses nothing."""
        with self._lock:
            return self.store_backend.unflushed()

    def recover(self, blob: bytes | None) -> int:
        """Re-apply writes saved by :meth:`unflushed` before a crash, to memory and to the store
        (idempotent: writes that did reach the store are written again); returns how many. A saved
        upsert of an entry the store meanwhile knows as invalid is dropped, not resurrected."""
        store = self.store_backend
        if not blob:
            return 0
        with self._lock:
            applied = 0
            for op, task, payload in ChromaStore.parse_unflushed(blob):
                if op == "delete":
                    self._drop(payload, delete=False)
                    store.delete(task, payload)
                elif op == "upsert":
                    if payload.valid and payload.entry_id in self._tombstones:
                        continue
                    self._drop(payload.entry_id, delete=False)
                    self._fold(payload)
                    store.put(payload)
                else:
                    local = self._entries.get(payload.entry_id)
                    if not payload.valid:
                        self._drop(payload.entry_id, delete=False)
                        self._tombstones.add(payload.entry_id)
                    elif local is not None:
                        local.hits, local.score = payload.hits, payload.score
                        local.last_used = payload.last_used
                        payload = local
                    else:
                        continue   # evicted or deleted since: nothing to update
                    store.update_metadata(payload)
                applied += 1
            store.flush()
            log.info("cache recovered %d writes that were not flushed before the last stop", applied)
            return applied

    def _record(self, normalize_ns: int, embed_ns: int, search_ns: int, evaluate_ns: int) -> StageTimings:
        timings = StageTimings(normalize_ns * _NS_TO_US, embed_ns * _NS_TO_US, search_ns * _NS_TO_US,
                               evaluate_ns * _NS_TO_US)
        sums = self._stage_sums
        sums["normalize"] += timings.normalize
        sums["embed"] += timings.embed
        sums["search"] += timings.search
        sums["evaluate"] += timings.evaluate
        self._recent_us.append(timings.total)
        return timings

    def _lookup_template(self, job: Job, key_text: str) -> CacheHit | None:
        clock = time.perf_counter_ns
        t0 = clock()
        line = normalize_ws(key_text)
        t1 = clock()
        index = self._templates.get(job.task)
        match = index.lookup(line, job.dataset, normalized=True) if index is not None else None
        t2 = clock()
        entry = self._entries.get(match.entry_id) if match is not None else None
        accepted = entry is not None and entry.valid
        t3 = clock()
        timings = self._record(t1 - t0, 0, t2 - t1, t3 - t2)
        if not accepted:
            return None
        return CacheHit(entry.entry_id, entry.answer, 1.0, "template", entry.model, job.task, job.dataset,
                        timings)

    def _lookup_semantic(self, job: Job, key_text: str) -> CacheHit | None:
        clock = time.perf_counter_ns
        task, dataset = job.task, job.dataset
        t0 = clock()
        key = normalize_ws(key_text)
        t1 = clock()
        exact_id = self._semantic.exact(task, dataset, key) if key else None
        t2 = clock()
        embed_ns = 0
        if exact_id is not None:
            candidates = [(exact_id, 1.0, "exact")]
            t3 = t2
        elif key:
            vector = self.embedder.embed([key])[0]
            t_embedded = clock()
            embed_ns = t_embedded - t2
            candidates = [(n.entry_id, n.similarity, "semantic")
                          for n in self._semantic.nearest(task, dataset, vector)]
            t3 = clock() - embed_ns  # search = exact probe + nearest neighbours
        else:
            candidates, t3 = [], t2
        threshold = self._semantic.threshold(task).value
        t_eval = clock()
        chosen: tuple[CacheEntry, float, str] | None = None
        for entry_id, sim, kind in candidates:
            if kind == "semantic" and sim < threshold:
                break  # sorted by similarity: nothing further can pass
            entry = self._entries.get(entry_id)
            if entry is None or not entry.valid:
                continue
            if job.labels and entry.answer not in job.labels:
                continue  # an answer this job does not allow (another label set)
            chosen = (entry, sim, kind)
            break
        t4 = clock()
        timings = self._record(t1 - t0, embed_ns, t3 - t1, t4 - t_eval)
        if chosen is None:
            return None
        entry, sim, kind = chosen
        return CacheHit(entry.entry_id, entry.answer, min(1.0, sim), kind, entry.model, task, dataset,
                        timings, threshold if kind == "semantic" else None)

    # -- store ---------------------------------------------------------------------------------
    def store(self, job: Job, key_text: str, answer: str, model: str, score: float, seq: int) -> str | None:
        """Insert a verified answer; returns its entry id, or None when it is rejected.

        For template tasks `answer` is the template and `key_text` the line: a template that does not
        match its own line, or that is only wildcards, is rejected. An answer that feedback already
        proved wrong (a tombstone) is not stored again. Storing an existing entry refreshes it.
        """
        with self._lock:
            task = job.task
            counters = self._task_counters(task)
            self._clock = max(self._clock, seq)
            key = normalize_ws(key_text)
            if task in self.template_tasks:
                template = normalize_ws(answer)
                if not template or is_all_wildcards(template) or not template_matches(template, key):
                    log.debug("rejected template %r for line %r", answer, key)
                    counters.rejected += 1
                    return None
                scope_key = job.dataset if self.template_scope == "dataset" else "*"
                entry_id = make_entry_id(task, scope_key, template)
                answer = template
            else:
                if not key or not answer.strip() or (job.labels and answer not in job.labels):
                    counters.rejected += 1
                    return None
                scope_key = job.dataset if self.semantic_scope == "dataset" else "*"
                entry_id = make_entry_id(task, scope_key, f"{key}\x1e{answer}")
            if entry_id in self._tombstones:
                counters.rejected += 1
                return None
            existing = self._entries.get(entry_id)
            if existing is not None:
                existing.score = max(existing.score, float(score))
                self._touch(existing, seq)
                self.store_backend.update_metadata(existing)
                return entry_id
            if task not in self.template_tasks:
                superseded = self._semantic.exact(task, job.dataset, key)
                if superseded is not None:
                    self._drop(superseded, delete=True)  # the newer verified answer replaces it
            entry = CacheEntry(entry_id=entry_id, task=task, dataset=job.dataset, key=key, answer=answer,
                               model=model, score=float(score), embedding=self.embedder.embed([key])[0],
                               hits=0, last_used=seq, created=seq)
            self._index(entry)
            counters.stored += 1
            self.store_backend.put(entry)
            self._evict(task)
            return entry_id

    def _index(self, entry: CacheEntry) -> bool:
        task = entry.task
        if task in self.template_tasks:
            index = self._templates.get(task)
            if index is None:
                index = self._templates[task] = TemplateIndex(self.template_scope)
            if not index.add(entry.entry_id, entry.answer, entry.dataset):
                return False
        else:
            self._semantic.add(entry.entry_id, task, entry.dataset, normalize_ws(entry.key), entry.embedding)
        if entry.entry_id not in self._entries:
            self._per_task[task] = self._per_task.get(task, 0) + 1
        self._entries[entry.entry_id] = entry
        self._clock = max(self._clock, entry.last_used)
        self._push_lru(entry)
        return True

    def _drop(self, entry_id: str, *, delete: bool) -> CacheEntry | None:
        """Remove an entry from memory (and buffer its delete when `delete`)."""
        entry = self._entries.pop(entry_id, None)
        if entry is None:
            return None
        self._per_task[entry.task] -= 1
        if entry.task in self.template_tasks:
            self._templates[entry.task].remove(entry_id)
        else:
            self._semantic.remove(entry_id)
        if delete:
            self.store_backend.delete(entry.task, entry_id)
        return entry

    # -- recency and eviction ------------------------------------------------------------------
    def _push_lru(self, entry: CacheEntry) -> None:
        heap = self._lru.setdefault(entry.task, [])
        heapq.heappush(heap, (entry.last_used, entry.hits, entry.created, entry.entry_id))
        if len(heap) > 4 * self._per_task.get(entry.task, 0) + 1024:
            self._compact_lru(entry.task)

    def _compact_lru(self, task: str) -> None:
        heap = [(e.last_used, e.hits, e.created, e.entry_id) for e in self._entries.values() if e.task == task]
        heapq.heapify(heap)
        self._lru[task] = heap

    def _touch(self, entry: CacheEntry, seq: int) -> None:
        if seq > entry.last_used:
            entry.last_used = seq
            self._push_lru(entry)

    def _evict(self, task: str) -> int:
        """Evict least recently used entries of `task` beyond the cap; returns how many."""
        evicted = 0
        heap = self._lru.get(task, [])
        while self._per_task.get(task, 0) > self.max_entries_per_task and heap:
            last_used, hits, _, entry_id = heapq.heappop(heap)
            entry = self._entries.get(entry_id)
            if entry is None or entry.last_used != last_used or entry.hits != hits:
                continue  # a stale heap item: the entry changed (a newer item exists) or is gone
            self._drop(entry_id, delete=True)
            evicted += 1
        if evicted:
            self._task_counters(task).evicted += evicted
            log.debug("evicted %d entries of task %s", evicted, task)
        return evicted

    # -- feedback ------------------------------------------------------------------------------
    def feedback(self, hit: CacheHit, correct: bool, seq: int) -> None:
        """Learn from the verdict on a served hit.

        A confirmed hit counts a hit on the entry and refreshes its recency; a false hit invalidates
        the entry. For semantic hits the task threshold learns too (exact and template hits say
        nothing about similarity: their errors are wrong answers, handled by invalidation).
        """
        with self._lock:
            counters = self._task_counters(hit.task)
            self._clock = max(self._clock, seq)
            if correct:
                counters.confirmed += 1
                entry = self._entries.get(hit.entry_id)
                if entry is not None:
                    entry.hits += 1
                    entry.last_used = max(entry.last_used, seq)
                    self._push_lru(entry)
                    self.store_backend.update_metadata(entry)
            else:
                counters.false_hits += 1
                if not self.invalidate(hit.entry_id):
                    self._tombstones.add(hit.entry_id)  # evicted meanwhile: still never store it again
            if hit.kind == "semantic":
                self._semantic.feedback(hit.task, hit.similarity, correct, seq)

    def invalidate(self, entry_id: str) -> bool:
        """Withdraw an entry that feedback proved wrong; it stays in Chroma as a tombstone
        (``valid=False``) so it is neither served nor stored again, also after a restart."""
        with self._lock:
            entry = self._drop(entry_id, delete=False)
            if entry is None:
                return False
            entry.valid = False
            self._tombstones.add(entry_id)
            self._task_counters(entry.task).invalidated += 1
            self.store_backend.update_metadata(entry)
            return True

    # -- introspection -------------------------------------------------------------------------
    def _task_counters(self, task: str) -> _TaskCounters:
        c = self._counters.get(task)
        if c is None:
            c = self._counters[task] = _TaskCounters()
        return c

    def entry(self, entry_id: str) -> CacheEntry | None:
        """The live entry with this id (None when absent or invalidated)."""
        return self._entries.get(entry_id)

    def size(self, task: str | None = None) -> int:
        """Number of live entries (of one task, or in all)."""
        return len(self._entries) if task is None else self._per_task.get(task, 0)

    # -- checkpoints -----------------------------------------------------------------------------
    def memory_state(self) -> bytes:
        """The in-memory state (indexes, entries, thresholds, counters) without the store, as bytes."""
        import pickle
        with self._lock:
            state = {k: v for k, v in self.__dict__.items()
                     if k not in ("store_backend", "_lock", "_synced_at")}
            return pickle.dumps(state)

    def restore_memory_state(self, blob: bytes) -> None:
        """Replace the in-memory state with a checkpoint's and make the store say the same: entries the
        store gained after the checkpoint are deleted, the checkpoint's entries are written again."""
        from engine.safepickle import safe_loads
        with self._lock:
            self.__dict__.update(safe_loads(blob))   # h14
            self._synced_at = {}
            store = self.store_backend
            keep = set(self._entries) | set(self._tombstones)
            for task in store.tasks():
                for entry in store.load_all(task):
                    if entry.entry_id not in keep:
                        store.delete(task, entry.entry_id)
            for entry in self._entries.values():
                store.put(entry)
            store.flush()

    def warm(self, entries: Iterable[CacheEntry], tombstones: Iterable[str] = (),
             thresholds: dict[str, float] | None = None) -> int:
        """Seed the cache with another workspace's verified entries, tombstones and semantic thresholds (a
        warm start); returns how many entries were added. The entries count as used before anything of this
        run (recency shifted below 0, order kept) and are written to this cache's own store, if any."""
        with self._lock:
            self._tombstones.update(tombstones)
            entries = [e for e in entries if e.valid and e.entry_id not in self._tombstones]
            shift = max((max(e.last_used, e.created) for e in entries), default=-1) + 1
            stale = [e for e in entries if not self._usable_embedding(e)]
            if stale:
                for e, v in zip(stale, self.embedder.embed([normalize_ws(e.key) for e in stale]), strict=True):
                    e.embedding = v
            added = 0
            for e in entries:
                if e.entry_id in self._entries:
                    continue
                e.last_used, e.created = e.last_used - shift, e.created - shift
                if self._index(e):
                    added += 1
                    self.store_backend.put(e)
            for task, value in (thresholds or {}).items():
                self._semantic.set_threshold(task, float(value), 0)
            for task in {e.task for e in entries}:
                self._evict(task)
            return added

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The valid entries as plain dicts (most recently used first), for the dashboard."""
        with self._lock:
            rows = sorted(self._entries.values(), key=lambda e: (-e.last_used, e.entry_id))
            return [{"entry_id": e.entry_id, "task": e.task, "dataset": e.dataset, "key": e.key,
                     "answer": e.answer, "model": e.model, "score": e.score, "hits": e.hits,
                     "last_used": e.last_used, "created": e.created}
                    for e in rows[:limit]]

    def threshold(self, task: str) -> float:
        """The current acceptance threshold of a semantic task."""
        with self._lock:
            return self._semantic.threshold(task).value

    def threshold_history(self) -> list[tuple[int, str, float]]:
        """Threshold changes as (event seq, task, threshold), for the dashboard."""
        with self._lock:
            return self._semantic.threshold_history()

    def stats(self) -> dict[str, Any]:
        """Entries, hits, misses, false hits, hit rates per task, thresholds, store health and timings."""
        with self._lock:
            tasks: dict[str, Any] = {}
            for task in sorted(set(self._counters) | set(self._per_task)):
                c = self._task_counters(task)
                row = asdict(c)
                row["entries"] = self._per_task.get(task, 0)
                row["hit_rate"] = c.hits / c.lookups if c.lookups else 0.0
                row["false_hit_rate"] = c.false_hits / c.hits if c.hits else 0.0
                if task not in self.template_tasks:
                    row["threshold"] = self._semantic.threshold(task).value
                tasks[task] = row
            n = sum(c.lookups for c in self._counters.values())
            recent = np.fromiter(self._recent_us, dtype=np.float64)
            timings = {f"mean_{k}_us": (v / n if n else 0.0) for k, v in self._stage_sums.items()}
            if recent.size:
                timings["p50_total_us"] = float(np.percentile(recent, 50))
                timings["p95_total_us"] = float(np.percentile(recent, 95))
            return {
                "tasks": tasks,
                "entries": len(self._entries),
                "tombstones": len(self._tombstones),
                "lookups": n,
                "hits": sum(c.hits for c in self._counters.values()),
                "misses": sum(c.misses for c in self._counters.values()),
                "false_hits": sum(c.false_hits for c in self._counters.values()),
                "thresholds": self._semantic.thresholds(),
                "timings": timings,
                "synced": self._synced,
                "store": self.store_backend.stats(),
            }

    # -- persistence ---------------------------------------------------------------------------
    def flush(self, force: bool = True) -> int:
        """Write buffered changes to the store (a checkpoint); returns how many operations were written.

        ``force=False`` leaves a store that is down alone until its back-off has elapsed."""
        with self._lock:
            return self.store_backend.flush(force)

    def close(self) -> None:
        """Flush, save the learned thresholds and release the store."""
        with self._lock:
            self._save_thresholds()
            self.store_backend.close()

    def __enter__(self) -> CacheManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _save_thresholds(self) -> None:
        if self.thresholds_path is None:
            return
        data = {"thresholds": self._semantic.thresholds(), "seq": self._clock}
        try:
            self.thresholds_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.thresholds_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
            tmp.replace(self.thresholds_path)
        except OSError as exc:
            log.warning("could not save cache thresholds to %s: %s", self.thresholds_path, exc)

    def _load_thresholds(self) -> None:
        if self.thresholds_path is None or not self.thresholds_path.exists():
            return
        try:
            data = json.loads(self.thresholds_path.read_text())
            for task, value in data.get("thresholds", {}).items():
                self._semantic.set_threshold(str(task), float(value), int(data.get("seq", 0)))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable cache thresholds %s: %s", self.thresholds_path, exc)
