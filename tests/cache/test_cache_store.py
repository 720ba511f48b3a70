"""ChromaStore and CacheManager on a real on-disk Chroma: persistence, write-behind batching, failures."""

from __future__ import annotations

import socket
from collections import Counter

import pytest
from cache_helpers import SpyClient, log_job, qa_job

from engine.cache.embedder import HashNgramEmbedder
from engine.cache.entry import CacheEntry
from engine.cache.manager import CacheManager
from engine.cache.semantic import ThresholdPolicy
from engine.cache.store import ChromaStore, collection_name
from engine.errors import SettingsError

LINE = "Received block blk_123 of size 67108864 from /10.250.19.102"
TEMPLATE = "Received block <*> of size <*> from <*>"
QUESTION = "Is the refund policy 30 days for unopened items?"
POLICY = ThresholdPolicy(initial=0.9, floor=0.8)


@pytest.fixture
def write_calls() -> Counter:
    """A counter of Chroma write calls, shared with the SpyClient of a test."""
    return Counter()


def _spy_store(tmp_path, calls: Counter, **options) -> ChromaStore:
    return ChromaStore(lambda: SpyClient(tmp_path / "chroma", calls), **options)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_collection_names_are_valid_chroma_names():
    assert collection_name("log_parsing") == "sls_log_parsing"
    assert collection_name("qa/é-") == "sls_qa__-0"


def test_persistence_round_trip(tmp_path):
    cache = CacheManager.open(tmp_path, threshold_policy=POLICY)
    tid = cache.store(log_job(LINE), LINE, TEMPLATE, "mixtral", 1.0, seq=1)
    qid = cache.store(qa_job(QUESTION), QUESTION, "billing", "haiku", 1.0, seq=2)
    bad = cache.store(log_job("disk sda1 full"), "disk sda1 full", "disk <*> full", "m", 1.0, seq=3)
    cache.feedback(cache.lookup(log_job("x"), "Received block b of size 1 from c"), correct=True, seq=4)
    cache.feedback(cache.lookup(log_job("x"), "disk sdb2 full"), correct=False, seq=5)
    cache.feedback(cache.lookup(qa_job("x"), QUESTION[:-2] + "?"), correct=True, seq=6)
    threshold = cache.threshold("text_classification")
    assert cache.flush() > 0
    cache.close()

    reopened = CacheManager.open(tmp_path, threshold_policy=POLICY)
    assert reopened.size() == 2 and reopened.stats()["tombstones"] == 1
    hit = reopened.lookup(log_job("y"), "Received block blk_9 of size 5 from /10.0.0.1")
    assert (hit.entry_id, hit.answer, hit.model) == (tid, TEMPLATE, "mixtral")
    assert reopened.entry(tid).hits == 1 and reopened.entry(tid).last_used == 4
    assert reopened.lookup(qa_job("y"), QUESTION).entry_id == qid
    assert reopened.lookup(qa_job("y"), QUESTION[:-2] + "?").kind == "semantic"
    assert reopened.lookup(log_job("y"), "disk sdc3 full") is None            # the invalidated template
    assert reopened.store(log_job("y"), "disk sda1 full", "disk <*> full", "m", 1.0, seq=7) is None
    assert bad is not None and reopened.threshold("text_classification") == threshold
    reopened.close()


def test_write_behind_batches_writes(tmp_path, write_calls):
    store = _spy_store(tmp_path, write_calls, max_batch=100, flush_threshold=10**6)
    cache = CacheManager(store)
    hits = []
    for i in range(250):
        line = f"worker {i} started task{i} in {i} ms"
        cache.store(log_job(line), line, f"worker <*> started task{i} in <*> ms", "m", 1.0, seq=i)
        hits.append(cache.lookup(log_job(line), line))
    assert sum(write_calls.values()) == 0 and store.pending == 250  # nothing written per event
    assert cache.flush() == 250
    assert (write_calls["upsert"], write_calls["upsert_items"]) == (3, 250)
    for seq, hit in enumerate(hits[:120], start=300):
        cache.feedback(hit, correct=True, seq=seq)
    cache.invalidate(hits[-1].entry_id)
    assert cache.flush() == 121
    assert (write_calls["update"], write_calls["update_items"]) == (2, 121)
    assert write_calls["add"] == 0 and store.stats()["written"] == 371
    cache.close()


def test_buffer_flushes_itself_beyond_threshold_and_coalesces(tmp_path, write_calls):
    store = _spy_store(tmp_path, write_calls, max_batch=1000, flush_threshold=50)
    emb = HashNgramEmbedder()
    entries = [CacheEntry(f"e{i}", "qa", "d", f"text {i}", "a", "m", 1.0, embedding=emb.embed_one(f"text {i}"))
               for i in range(120)]
    for e in entries[:40]:
        store.put(e)
        e.hits += 1
        store.update_metadata(e)  # folds into the pending upsert
    assert sum(write_calls.values()) == 0 and store.pending == 40
    for e in entries[40:]:
        store.put(e)  # flushes itself each time more than 50 operations are pending
    assert write_calls["upsert"] == 2 and write_calls["update"] == 0 and store.pending == 18
    store.delete("qa", "e119")
    store.delete("qa", "e0")
    store.close()
    # the pending upsert of e119 is cancelled; its delete is still sent (an earlier flush may have written it)
    assert write_calls["delete_items"] == 2 and write_calls["upsert_items"] == 119
    assert store.count("qa") == 118  # reconnects: count after close still works
    assert {e.entry_id: e.hits for e in store.load_all("qa")}["e1"] == 1


def test_closed_client_degrades_then_recovers(tmp_path):
    cache = CacheManager.open(tmp_path)
    cache.store(log_job(LINE), LINE, TEMPLATE, "m", 1.0, seq=1)
    cache.flush()
    store = cache.store_backend
    store._client.close()  # Chroma goes away under the cache
    line2 = "PacketResponder 1 for block blk_4 terminating"
    eid = cache.store(log_job(line2), line2, "PacketResponder <*> for block <*> terminating", "m", 1.0, seq=2)
    assert cache.flush() == 0  # fails quietly, keeps the write
    stats = cache.stats()["store"]
    assert not stats["healthy"] and stats["errors"] == 1 and stats["pending"] == 1
    assert stats["last_error"].startswith("flush of task 'log_parsing': ")   # names what failed
    assert cache.lookup(log_job(LINE), LINE) is not None  # lookups are served from memory
    assert cache.lookup(log_job(line2), line2).entry_id == eid
    assert cache.flush() == 1 and cache.stats()["store"]["healthy"]  # explicit flush reconnects
    cache.close()
    assert CacheManager.open(tmp_path).lookup(log_job(line2), line2).entry_id == eid


def test_deleted_collection_is_recreated(tmp_path):
    cache = CacheManager.open(tmp_path)
    cache.store(log_job(LINE), LINE, TEMPLATE, "m", 1.0, seq=1)
    cache.flush()
    cache.store_backend._client.delete_collection(collection_name("log_parsing"))
    line2 = "PacketResponder 1 for block blk_4 terminating"
    cache.store(log_job(line2), line2, "PacketResponder <*> for block <*> terminating", "m", 1.0, seq=2)
    assert cache.flush() == 0 and cache.stats()["store"]["errors"] == 1
    assert cache.flush() == 1
    cache.close()


def test_unreachable_chroma_server_means_misses_not_crashes(tmp_path):
    cache = CacheManager.open(tmp_path, chroma_url=f"http://127.0.0.1:{_free_port()}",
                              store_options={"retry_backoff": (60.0, 60.0), "flush_threshold": 1})
    assert cache.size() == 0 and cache.lookup(log_job(LINE), LINE) is None
    assert cache.store(log_job(LINE), LINE, TEMPLATE, "m", 1.0, seq=1) is not None
    assert cache.lookup(log_job(LINE), LINE) is not None  # still a working in-memory cache
    cache.store(qa_job(QUESTION), QUESTION, "billing", "m", 1.0, seq=2)  # auto-flush is backing off
    stats = cache.stats()["store"]
    assert not stats["healthy"] and stats["errors"] == 1 and stats["pending"] == 2
    cache.close()  # tries once more, logs, does not raise
    assert cache.stats()["store"]["errors"] == 2


def test_bad_chroma_url_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="chroma_url"):
        CacheManager.open(tmp_path, chroma_url="ftp://somewhere")


def test_failing_client_factory_leaves_an_empty_cache(tmp_path):
    def broken():
        raise OSError("disk unavailable")

    cache = CacheManager(ChromaStore(broken))
    assert cache.load() == 0 and cache.lookup(qa_job(QUESTION), QUESTION) is None
    assert cache.store_backend.errors == 1
