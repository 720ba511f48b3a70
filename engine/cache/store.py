"""ChromaDB as the cache's store of record, behind a write-behind buffer that never raises.

One collection per task (``sls_<task>``, cosine space, ``embedding_function=None``: embeddings are
always passed explicitly, since Chroma's default embedder downloads a model and fails offline).

Writes are buffered per task and coalesced per entry id (a later upsert replaces an earlier one, a
metadata update folds into a pending upsert, a delete cancels both) and written in batches of at most
`max_batch` at :meth:`ChromaStore.flush`, when more than `flush_threshold` operations are pending, and
at :meth:`ChromaStore.close`. A single Chroma add costs ~20 ms here and a batched one ~1 ms per item,
so a replay must never write once per event.

Every Chroma failure is caught and logged: reads return nothing (the cache degrades to misses),
writes stay in the buffer and are retried at the next flush, and the client is rebuilt on the next
attempt. While Chroma is down the store behaves like a circuit breaker: automatic flushes,
``flush(force=False)`` and :meth:`ChromaStore.changed_since` do not touch the server until the back-off
(exponential, from ``retry_backoff``) has elapsed, so an outage costs one failed request per interval,
not one per job. `healthy`, `errors` and :meth:`ChromaStore.stats` tell the dashboard.

Shared servers: every written record carries a ``stamp`` (the writer's wall clock at flush), so an
engine can fetch what other engines wrote since its last look (:meth:`ChromaStore.changed_since`)
instead of reloading a whole collection.

Crash safety: :meth:`ChromaStore.unflushed` serialises the buffered operations (the live engine commits
them with each job in its event log) and :meth:`ChromaStore.parse_unflushed` reads them back after a
restart, for the manager to apply again (replaying them is idempotent).
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from engine.cache.entry import CacheEntry
from engine.errors import SettingsError
from engine.safepickle import safe_loads
from engine.secrets import scrub, scrub_mapping

__all__ = ["ChromaStore", "collection_name"]

log = logging.getLogger(__name__)

COLLECTION_PREFIX = "sls_"
STAMP = "stamp"                      # metadata key: writer's wall clock (time.time()) at flush
RETRY_BACKOFF = (1.0, 60.0)          # seconds: first and longest wait before retrying a failed server
_NAME_BAD = re.compile(r"[^a-zA-Z0-9._-]")


def collection_name(task: str, prefix: str = COLLECTION_PREFIX) -> str:
    """The Chroma collection of `task`: ``sls_<task>`` restricted to Chroma's allowed characters."""
    name = prefix + _NAME_BAD.sub("_", task)
    if not name[-1].isalnum():
        name += "0"
    return name[:512]


@dataclass(slots=True)
class _Pending:
    """Coalesced pending operations of one task's collection."""

    upserts: dict[str, tuple[np.ndarray, str, dict[str, Any]]] = field(default_factory=dict)
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.upserts) + len(self.updates) + len(self.deletes)


class ChromaStore:
    """Persistent (or shared, over HTTP) storage of cache entries with batched, failure-tolerant writes.

    Build one with :meth:`persistent` or :meth:`http` (or pass any `client_factory` returning a Chroma
    client, e.g. a test spy). Nothing connects until first use.
    """

    def __init__(self, client_factory: Callable[[], Any], *, max_batch: int = 1000,
                 flush_threshold: int = 2000, max_pending: int = 200_000, embedder_name: str = "",
                 retry_backoff: tuple[float, float] | None = None, description: str = "chroma",
                 shared: bool = False):
        if max_batch < 1 or flush_threshold < 1:
            raise ValueError("max_batch and flush_threshold must be >= 1")
        self._factory = client_factory
        self.max_batch = max_batch
        self.flush_threshold = flush_threshold
        self.max_pending = max_pending
        self.embedder_name = embedder_name
        self.description = description
        self.shared = shared    # other engines write to the same collections (a Chroma server)
        self._backoff_min, self._backoff_max = retry_backoff or RETRY_BACKOFF
        self._backoff = 0.0
        self._retry_at = 0.0
        self._client: Any = None
        self._collections: dict[str, Any] = {}
        self._pending: dict[str, _Pending] = {}
        self.healthy = True
        self.errors = 0
        self.last_error = ""
        self.dropped = 0
        self.written = 0
        self.write_calls = 0
        self.flushes = 0
        self.flush_seconds = 0.0
        self.stamps: dict[str, float] = {}   # per task: the newest record stamp seen by a read

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def persistent(cls, path: str | Path, **kwargs: Any) -> ChromaStore:
        """A store in a local directory (``chromadb.PersistentClient``)."""
        path = Path(path)

        def factory() -> Any:
            import chromadb  # imported lazily: 1.5 s, and nothing happens at import time

            path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(path))

        return cls(factory, description=f"chroma:{path}", **kwargs)

    @classmethod
    def http(cls, url: str, **kwargs: Any) -> ChromaStore:
        """A store on a Chroma server shared by several engines (``chromadb.HttpClient``)."""
        parsed = urlparse(url if "://" in url else f"http://{url}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SettingsError(f"chroma_url must look like http://host:port, got {url!r}")
        host, ssl = parsed.hostname, parsed.scheme == "https"
        port = parsed.port or (443 if ssl else 8000)

        def factory() -> Any:
            import chromadb

            return chromadb.HttpClient(host=host, port=port, ssl=ssl)

        kwargs.setdefault("shared", True)
        return cls(factory, description=f"chroma:{parsed.scheme}://{host}:{port}", **kwargs)

    # -- failure handling --------------------------------------------------------------------------
    def _failed(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        self.healthy = False
        self.last_error = f"{what}: {type(exc).__name__}: {exc}"
        self._backoff = min(self._backoff_max, max(self._backoff_min, 2 * self._backoff))
        self._retry_at = time.monotonic() + self._backoff
        log.warning("cache store %s failed (%s); the cache degrades to misses and retries in %.0f s: %s",
                    what, self.description, self._backoff, self.last_error)
        # drop the client: the next attempt reconnects (a closed client or a deleted collection
        # would otherwise fail forever)
        self._collections.clear()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # best effort on a client that already failed
                client.close()

    def _succeeded(self) -> None:
        if not self.healthy:
            log.warning("cache store %s is reachable again", self.description)
        self.healthy = True
        self._backoff = 0.0

    def available(self) -> bool:
        """Whether the server may be tried now: healthy, or unhealthy with its back-off elapsed."""
        return self.healthy or time.monotonic() >= self._retry_at

    def retry_in(self) -> float:
        """Seconds until an unhealthy store is tried again (0 when it may be tried now)."""
        return 0.0 if self.available() else self._retry_at - time.monotonic()

    def _connect(self) -> None:
        self._client = self._factory()
        try:
            self.max_batch = min(self.max_batch, int(self._client.get_max_batch_size()))
        except Exception as exc:  # an optional capability of the client
            log.debug("get_max_batch_size unavailable: %s", exc)

    def _collection(self, task: str) -> Any:
        col = self._collections.get(task)
        if col is None:
            if self._client is None:
                self._connect()
            col = self._client.get_or_create_collection(
                collection_name(task),
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"sls_task": task, "embedder": self.embedder_name},
            )
            self._collections[task] = col
        return col

    # -- reads -------------------------------------------------------------------------------------
    def tasks(self) -> list[str]:
        """Tasks that have a collection in the store ([] when Chroma is unreachable)."""
        try:
            if self._client is None:
                self._connect()
            out = []
            for col in self._client.list_collections():
                if not col.name.startswith(COLLECTION_PREFIX):
                    continue
                task = (col.metadata or {}).get("sls_task")
                if task:
                    out.append(str(task))
            self._succeeded()
            return sorted(out)
        except Exception as exc:  # degrade, never crash the run
            self._failed("list collections", exc)
            return []

    def load_all(self, task: str, page: int = 5000) -> list[CacheEntry]:
        """Every stored entry of `task` (valid ones and tombstones), with embeddings; [] on failure."""
        try:
            col = self._collection(task)
            stored_embedder = (col.metadata or {}).get("embedder", "")
            foreign = bool(self.embedder_name and stored_embedder and stored_embedder != self.embedder_name)
            if foreign:
                log.warning("collection %s was built with embedder %s, now %s: embeddings are recomputed "
                            "in memory (writes of new entries fail until the collection is rebuilt)",
                            col.name, stored_embedder, self.embedder_name)
            entries, newest = self._read(col, None, page, foreign)
            self.stamps[task] = max(self.stamps.get(task, 0.0), newest)
            self._succeeded()
            return entries
        except Exception as exc:
            self._failed(f"load of task {task!r}", exc)
            return []

    def changed_since(self, task: str, since: float, page: int = 5000) -> list[CacheEntry] | None:
        """Records of `task` written (by any engine) at or after wall-clock time `since`: new entries,
        tombstones and metadata updates. None when the store is backing off or the read fails.

        Records written before stamps existed are not returned (a full :meth:`load_all` sees them).
        """
        if not self.available():
            return None
        try:
            col = self._collection(task)
            stored_embedder = (col.metadata or {}).get("embedder", "")
            foreign = bool(self.embedder_name and stored_embedder and stored_embedder != self.embedder_name)
            entries, newest = self._read(col, {STAMP: {"$gte": float(since)}}, page, foreign)
            self.stamps[task] = max(self.stamps.get(task, 0.0), newest)
            self._succeeded()
            return entries
        except Exception as exc:
            self._failed(f"sync of task {task!r}", exc)
            return None

    @staticmethod
    def _read(col: Any, where: dict | None, page: int, foreign: bool) -> tuple[list[CacheEntry], float]:
        """Every record of `col` matching `where`, paged; and the newest stamp among them (0.0: none)."""
        entries: list[CacheEntry] = []
        newest = 0.0
        offset = 0
        while True:
            got = col.get(where=where, include=["embeddings", "documents", "metadatas"], limit=page,
                          offset=offset)
            ids = got["ids"]
            embs = got.get("embeddings")
            for i, entry_id in enumerate(ids):
                meta = got["metadatas"][i] or {}
                stamp = meta.get(STAMP)
                if isinstance(stamp, int | float):
                    newest = max(newest, float(stamp))
                emb = None if embs is None or foreign else embs[i]
                entries.append(CacheEntry.from_record(entry_id, got["documents"][i], meta, emb))
            if len(ids) < page:
                break
            offset += page
        return entries, newest

    def count(self, task: str) -> int | None:
        """Number of entries stored for `task` (None when Chroma is unreachable)."""
        try:
            n = self._collection(task).count()
            self._succeeded()
            return n
        except Exception as exc:
            self._failed(f"count of task {task!r}", exc)
            return None

    def query(self, task: str, embedding: np.ndarray, n_results: int = 4) -> list[tuple[str, float]]:
        """Nearest stored entries as (id, cosine similarity); [] on failure.

        Not on the lookup path (the manager searches in memory); kept for benchmarks and tools.
        """
        try:
            res = self._collection(task).query(query_embeddings=[embedding], n_results=n_results,
                                               include=["distances"])
            self._succeeded()
            return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]
        except Exception as exc:
            self._failed(f"query of task {task!r}", exc)
            return []

    # -- buffered writes ---------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Number of buffered operations not yet written."""
        return sum(len(p) for p in self._pending.values())

    def put(self, entry: CacheEntry) -> None:
        """Buffer an upsert of `entry` (its embedding must be set)."""
        if entry.embedding is None:
            raise ValueError(f"entry {entry.entry_id} has no embedding")
        p = self._pending.setdefault(entry.task, _Pending())
        p.deletes.discard(entry.entry_id)
        p.updates.pop(entry.entry_id, None)
        # a key in a job's text or an answer is never stored (answers are scrubbed at the client already)
        p.upserts[entry.entry_id] = (entry.embedding, scrub(entry.key), scrub_mapping(entry.metadata()))
        self._after_write()

    def update_metadata(self, entry: CacheEntry) -> None:
        """Buffer a metadata-only update of `entry` (hits, last use, valid flag…)."""
        p = self._pending.setdefault(entry.task, _Pending())
        eid = entry.entry_id
        if eid in p.upserts:
            emb, doc, _ = p.upserts[eid]
            p.upserts[eid] = (emb, doc, entry.metadata())
        elif eid not in p.deletes:
            p.updates[eid] = entry.metadata()
        self._after_write()

    def delete(self, task: str, entry_id: str) -> None:
        """Buffer a delete."""
        p = self._pending.setdefault(task, _Pending())
        p.upserts.pop(entry_id, None)
        p.updates.pop(entry_id, None)
        p.deletes.add(entry_id)
        self._after_write()

    def _after_write(self) -> None:
        n = self.pending
        if n > self.flush_threshold and time.monotonic() >= self._retry_at:
            self.flush()
            n = self.pending
        if n > self.max_pending:
            self._shed(n - self.max_pending)

    def _shed(self, excess: int) -> None:
        """Drop the oldest buffered metadata updates, then upserts, when Chroma has been down too long."""
        for p in self._pending.values():
            for bucket in (p.updates, p.upserts):
                while excess > 0 and bucket:
                    bucket.pop(next(iter(bucket)))
                    excess -= 1
                    self.dropped += 1
        log.error("cache store %s unreachable for too long: %d buffered writes dropped so far",
                  self.description, self.dropped)

    def flush(self, force: bool = True) -> int:
        """Write every pending operation in batches; returns how many were written.

        On a failure the unwritten operations stay buffered (written ones are not repeated) and the
        method returns normally. With ``force=False`` an unhealthy store is left alone until its
        back-off has elapsed (the per-job flush of a live engine must not hammer a server that is down).
        """
        if not self.pending or not (force or self.available()):
            return 0
        started = time.perf_counter()
        written = 0
        stamp = time.time()
        for task in list(self._pending):
            p = self._pending[task]
            try:
                col = self._collection(task)
                for ids in _chunks(sorted(p.deletes), self.max_batch):
                    col.delete(ids=ids)
                    self.write_calls += 1
                    p.deletes.difference_update(ids)
                    written += len(ids)
                for ids in _chunks(list(p.upserts), self.max_batch):
                    rows = [p.upserts[i] for i in ids]
                    col.upsert(ids=ids, embeddings=np.stack([r[0] for r in rows]),
                               documents=[r[1] for r in rows],
                               metadatas=[{**r[2], STAMP: stamp} for r in rows])
                    self.write_calls += 1
                    for i in ids:
                        del p.upserts[i]
                    written += len(ids)
                for ids in _chunks(list(p.updates), self.max_batch):
                    col.update(ids=ids, metadatas=[{**p.updates[i], STAMP: stamp} for i in ids])
                    self.write_calls += 1
                    for i in ids:
                        del p.updates[i]
                    written += len(ids)
            except Exception as exc:
                self._failed(f"flush of task {task!r}", exc)
                break
            else:
                del self._pending[task]
        else:
            self._succeeded()
        self.written += written
        self.flushes += 1
        elapsed = time.perf_counter() - started
        self.flush_seconds += elapsed
        if written:
            log.debug("cache store flushed %d operations in %.3f s", written, elapsed)
        return written

    # -- crash safety --------------------------------------------------------------------------------
    def unflushed(self, limit: int = 5000) -> bytes | None:
        """The buffered operations as bytes (None when nothing is pending, or more than `limit`: a
        journal that large would cost more per job than it saves; those writes are then only as safe as
        the next successful flush)."""
        n = self.pending
        if not n or n > limit:
            return None
        return pickle.dumps({task: (dict(p.upserts), dict(p.updates), set(p.deletes))
                             for task, p in self._pending.items() if len(p)})

    @staticmethod
    def parse_unflushed(blob: bytes) -> list[tuple[str, str, Any]]:
        """The operations saved by :meth:`unflushed`, as (op, task, payload): ``upsert`` (a CacheEntry
        with its embedding), ``update`` (a CacheEntry carrying only the metadata) or ``delete`` (an id).

        A blob that cannot be read (corrupt, truncated, or naming code rather than data: it is loaded with
        `safe_loads`, never `pickle.loads`) yields no operations and a warning: those writes are cache
        entries, which the engine re-learns; the workspace stays usable."""
        ops: list[tuple[str, str, Any]] = []
        try:
            for task, (upserts, updates, deletes) in safe_loads(blob).items():
                ops.extend(("delete", task, entry_id) for entry_id in sorted(deletes))
                ops.extend(("upsert", task, CacheEntry.from_record(entry_id, doc, meta, emb))
                           for entry_id, (emb, doc, meta) in upserts.items())
                ops.extend(("update", task, CacheEntry.from_record(entry_id, None, meta, None))
                           for entry_id, meta in updates.items())
        except Exception as exc:    # noqa: BLE001 - any failure of a corrupt blob means "unreadable"
            log.warning("the unflushed cache writes saved with the last job (the snapshot in the workspace's "
                        "event log events.sqlite) cannot be read (%s: %s); they are skipped: the cache lacks "
                        "those entries and learns them again", type(exc).__name__, str(exc)[:200])
            return []
        return ops

    def close(self) -> None:
        """Flush and release the client (pending writes that still fail are logged as lost)."""
        self.flush()
        if self.pending:
            log.error("cache store %s closed with %d unwritten operations", self.description, self.pending)
        client, self._client = self._client, None
        self._collections.clear()
        if client is not None:
            try:
                client.close()
            except Exception as exc:
                log.debug("closing the chroma client failed: %s", exc)

    def stats(self) -> dict[str, Any]:
        """Health and write counters for the dashboard."""
        return {
            "backend": self.description,
            "shared": self.shared,
            "healthy": self.healthy,
            "retry_in_s": round(self.retry_in(), 3),
            "errors": self.errors,
            "last_error": self.last_error,
            "pending": self.pending,
            "written": self.written,
            "write_calls": self.write_calls,
            "flushes": self.flushes,
            "flush_seconds": round(self.flush_seconds, 4),
            "dropped": self.dropped,
        }


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class NullStore:
    """No store behind the cache (replays, tests, a cache that could not open its store): it lives in memory
    only. Writes are dropped, reads are empty, and `stats()` is None ("no store")."""

    shared = False
    healthy = True
    errors = 0
    pending = 0
    description = "no store (memory only)"

    def __init__(self):
        self.stamps: dict[str, float] = {}
        self.embedder_name = ""

    def available(self) -> bool:
        return True

    def tasks(self) -> list[str]:
        return []

    def load_all(self, task: str, page: int = 5000) -> list[CacheEntry]:
        return []

    def changed_since(self, task: str, since: float, page: int = 5000) -> list[CacheEntry]:
        return []

    def put(self, entry: CacheEntry) -> None:
        pass

    def update_metadata(self, entry: CacheEntry) -> None:
        pass

    def delete(self, task: str, entry_id: str) -> None:
        pass

    def flush(self, force: bool = True) -> int:
        return 0

    def unflushed(self, limit: int = 5000) -> bytes | None:
        return None

    def close(self) -> None:
        pass

    def stats(self) -> None:
        return None
