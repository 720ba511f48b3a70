"""Fault handling inside the cache, without a network: a store that is down is asked again only after
its back-off, writes that never reached the store survive a crash, and engines sharing one store see
each other's writes. ("Shared" here is two managers on one on-disk Chroma, which is what two engines on
one server look like to the cache.)"""

from __future__ import annotations

import pytest

from engine.cache.manager import CacheManager
from engine.cache.store import ChromaStore
from engine.errors import SettingsError
from engine.jobs import Job

LINE = "Received block blk_123 of size 67108864 from /10.250.19.102"
TEMPLATE = "Received block <*> of size <*> from <*>"
OTHER = "Received block blk_9 of size 5 from /10.0.0.1"


def log_job(line: str, dataset: str = "HDFS") -> Job:
    return Job("j", "log_parsing", line, dataset=dataset)


def qa_job(text: str) -> Job:
    return Job("q", "text_classification", text, labels=("billing", "bug"))


def shared_store(path) -> ChromaStore:
    def factory():
        import chromadb
        return chromadb.PersistentClient(path=str(path))
    return ChromaStore(factory, shared=True, description=f"shared:{path}")


def test_a_store_that_is_down_is_asked_again_once_per_back_off_not_per_lookup_or_flush():
    attempts = []

    def down():
        attempts.append(1)
        raise ConnectionError("connection refused")

    cache = CacheManager(ChromaStore(down, shared=True, retry_backoff=(60.0, 60.0)), sync_interval_s=0)
    assert cache.load() == 0 and len(attempts) == 1
    cache.store(log_job(LINE), LINE, TEMPLATE, "m", 1.0, seq=1)
    for _ in range(20):
        assert cache.lookup(log_job(OTHER), OTHER) is not None     # memory still answers what it knows
        assert cache.lookup(log_job("disk full"), "disk sda1 full") is None
        assert cache.flush(force=False) == 0
    assert len(attempts) == 1                                       # no request while backing off
    stats = cache.stats()["store"]
    assert stats["healthy"] is False and stats["pending"] == 1 and stats["retry_in_s"] > 50
    assert cache.flush() == 0 and len(attempts) == 2                # an explicit flush still tries


def test_writes_that_never_reached_the_store_are_recovered_after_a_crash(tmp_path):
    crashed = CacheManager(ChromaStore.persistent(tmp_path / "a"))
    tid = crashed.store(log_job(LINE), LINE, TEMPLATE, "m", 1.0, seq=1)
    qid = crashed.store(qa_job("The app crashes on start"), "The app crashes on start", "bug", "m", 1.0, seq=2)
    crashed.feedback(crashed.lookup(log_job(OTHER), OTHER), correct=True, seq=3)
    journal = crashed.unflushed()
    assert journal is not None and crashed.stats()["store"]["pending"] == 2   # the process dies here

    restarted = CacheManager.open(tmp_path / "a")
    assert restarted.size() == 0                                    # nothing had been flushed
    assert restarted.recover(journal) == 2
    assert restarted.lookup(log_job(OTHER), OTHER).entry_id == tid and restarted.entry(tid).hits == 1
    assert restarted.lookup(qa_job("x"), "The app crashes on start").entry_id == qid
    assert restarted.stats()["store"]["pending"] == 0
    restarted.close()
    assert CacheManager.open(tmp_path / "a").size() == 2            # and they reached the store


def test_a_recovered_write_does_not_resurrect_an_entry_proved_wrong_meanwhile(tmp_path):
    crashed = CacheManager(ChromaStore.persistent(tmp_path / "a"))
    tid = crashed.store(log_job(LINE), LINE, TEMPLATE, "m", 1.0, seq=1)
    journal = crashed.unflushed()
    other = CacheManager.open(tmp_path / "a")                       # meanwhile another engine proves it wrong
    other.store(log_job(LINE), LINE, TEMPLATE, "m", 1.0, seq=1)
    assert other.invalidate(tid)
    other.close()
    restarted = CacheManager.open(tmp_path / "a")
    restarted.recover(journal)
    assert restarted.lookup(log_job(OTHER), OTHER) is None and restarted.stats()["tombstones"] == 1


def test_engines_sharing_a_store_see_each_others_new_answers_tombstones_and_replacements(tmp_path):
    reader = CacheManager(shared_store(tmp_path / "s"), sync_interval_s=0)
    writer = CacheManager(shared_store(tmp_path / "s"), sync_interval_s=0)
    reader.load()
    writer.load()
    assert reader.lookup(log_job(LINE), LINE) is None
    tid = writer.store(log_job(LINE), LINE, TEMPLATE, "m", 1.0, seq=1)
    question = "How do I change my billing address?"
    old = writer.store(qa_job(question), question, "bug", "m", 1.0, seq=2)
    writer.flush()
    assert reader.lookup(log_job(OTHER), OTHER).entry_id == tid
    assert reader.lookup(qa_job(question), question).entry_id == old
    assert reader.stats()["synced"] == 2

    new = writer.store(qa_job(question), question, "billing", "m", 1.0, seq=3)   # replaces the old answer
    writer.invalidate(tid)
    writer.flush()
    assert reader.lookup(log_job(OTHER), OTHER) is None                     # the tombstone arrived
    hit = reader.lookup(qa_job(question), question)
    assert hit.entry_id == new and hit.answer == "billing" and reader.entry(old) is None
    assert reader.store(log_job(LINE), LINE, TEMPLATE, "m", 1.0, seq=4) is None   # never stored again here
    reader.close()
    writer.close()


def test_a_running_engine_asks_the_shared_store_at_most_once_per_interval(tmp_path):
    reader = CacheManager(shared_store(tmp_path / "s"), sync_interval_s=3600)
    writer = CacheManager(shared_store(tmp_path / "s"))
    reader.load()
    assert reader.lookup(log_job(LINE), LINE) is None               # this look counts as the last sync
    writer.store(log_job(LINE), LINE, TEMPLATE, "m", 1.0, seq=1)
    writer.flush()
    assert reader.lookup(log_job(OTHER), OTHER) is None             # not asked again within the hour
    assert reader.sync("log_parsing") == 1                          # an explicit sync sees it
    assert reader.lookup(log_job(OTHER), OTHER) is not None


def test_the_sync_interval_is_validated():
    with pytest.raises(SettingsError, match="sync_interval_s"):
        CacheManager(sync_interval_s=-1)
