"""CacheManager logic on a memory-only cache: lookups, store rules, feedback, invalidation, eviction."""

from __future__ import annotations

import dataclasses

import pytest
from cache_helpers import log_job, qa_job

from engine.cache.manager import CacheManager
from engine.cache.semantic import ThresholdPolicy
from engine.errors import SettingsError

LINE = "Received block blk_123 of size 67108864 from /10.250.19.102"
TEMPLATE = "Received block <*> of size <*> from <*>"


@pytest.fixture
def cache() -> CacheManager:
    return CacheManager(None, threshold_policy=ThresholdPolicy(initial=0.9, floor=0.8))


def test_template_hit_after_store(cache):
    assert cache.lookup(log_job(LINE), LINE) is None
    eid = cache.store(log_job(LINE), LINE, TEMPLATE, "mixtral", 1.0, seq=1)
    hit = cache.lookup(log_job("x"), "Received block blk_9 of size 1 from /10.0.0.7")
    assert hit is not None and hit.entry_id == eid and hit.answer == TEMPLATE
    assert (hit.kind, hit.similarity, hit.model, hit.task, hit.threshold) == ("template", 1.0, "mixtral",
                                                                               "log_parsing", None)
    assert all(v >= 0 for v in hit.timings.as_dict().values()) and hit.timings.embed == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.answer = "other"  # type: ignore[misc]


@pytest.mark.parametrize("template", [
    "Received block <*> of size <*> to <*>",   # does not match its own line
    "<*> <*> <*>",                              # only wildcards: would match everything
    "",
])
def test_template_that_does_not_verify_is_rejected(cache, template):
    assert cache.store(log_job(LINE), LINE, template, "m", 1.0, seq=1) is None
    assert cache.size() == 0 and cache.stats()["tasks"]["log_parsing"]["rejected"] == 1


def test_most_specific_stored_template_is_served(cache):
    cache.store(log_job(LINE), LINE, TEMPLATE, "m1", 1.0, seq=1)
    specific = cache.store(log_job(LINE), LINE, "Received block <*> of size 67108864 from <*>", "m2", 1.0, seq=2)
    assert cache.lookup(log_job(LINE), LINE).entry_id == specific


def test_template_scope_dataset_by_default_task_when_asked():
    for scope, expect_hit in (("dataset", False), ("task", True)):
        cache = CacheManager(None, template_scope=scope)
        cache.store(log_job(LINE, "HDFS"), LINE, TEMPLATE, "m", 1.0, seq=1)
        assert (cache.lookup(log_job(LINE, "Hadoop"), LINE) is not None) is expect_hit
    with pytest.raises(SettingsError):
        CacheManager(None, template_scope="global")  # type: ignore[arg-type]


def test_exact_and_semantic_hits(cache):
    q = "Is the refund policy 30 days for unopened items?"
    cache.store(qa_job(q), q, "billing", "haiku", 1.0, seq=1)
    exact = cache.lookup(qa_job("x"), "  Is the refund policy 30 days   for unopened items? ")
    assert exact.kind == "exact" and exact.similarity == 1.0 and exact.timings.embed == 0
    near = cache.lookup(qa_job("x"), "Is the refund policy 30 days for unopened item?")
    assert near is not None and near.kind == "semantic" and 0.9 <= near.similarity < 1.0
    assert near.threshold == 0.9 and near.timings.embed > 0
    assert cache.lookup(qa_job("x"), "How do I reset my password?") is None
    assert cache.lookup(qa_job("x", task="code_generation"), q) is None  # other task, other space


def test_answers_outside_the_jobs_labels_are_not_served_or_stored(cache):
    q = "Which gas do plants absorb? A) oxygen B) carbon dioxide"
    cache.store(qa_job(q, "multiple_choice", ("A", "B")), q, "B", "m", 1.0, seq=1)
    assert cache.lookup(qa_job(q, "multiple_choice", ("A", "B")), q).answer == "B"
    assert cache.lookup(qa_job(q, "multiple_choice", ("yes", "no")), q) is None
    assert cache.store(qa_job(q, "multiple_choice", ("A", "B")), q, "C", "m", 1.0, seq=2) is None


def test_cold_cache_threshold_is_conservative():
    cache = CacheManager(None)  # default policy: 0.97 for hashed n-grams
    q = "Is the refund policy 30 days for unopened items?"
    cache.store(qa_job(q), q, "billing", "m", 1.0, seq=1)
    assert cache.threshold("text_classification") == 0.97
    assert cache.lookup(qa_job("x"), "Is the refund policy 60 days for opened items?") is None


def test_false_semantic_hit_invalidates_raises_threshold_and_blocks_restore(cache):
    q = "Is the refund policy 30 days for unopened items?"
    eid = cache.store(qa_job(q), q, "billing", "m", 1.0, seq=1)
    hit = cache.lookup(qa_job("x"), "Is the refund policy 30 days for unopened item?")
    cache.feedback(hit, correct=False, seq=2)
    assert cache.entry(eid) is None and cache.lookup(qa_job(q), q) is None
    assert cache.threshold("text_classification") > max(0.9, hit.similarity)
    assert cache.store(qa_job(q), q, "billing", "m", 1.0, seq=3) is None  # proven wrong: not again
    assert cache.store(qa_job(q), q, "refunds", "m", 1.0, seq=4) is not None  # another answer is fine
    stats = cache.stats()["tasks"]["text_classification"]
    assert (stats["false_hits"], stats["invalidated"], stats["hits"]) == (1, 1, 1)
    assert cache.threshold_history()[-1][:2] == (2, "text_classification")


def test_confirmed_semantic_hits_lower_the_threshold_slowly(cache):
    q = "Is the refund policy 30 days for unopened items?"
    eid = cache.store(qa_job(q), q, "billing", "m", 1.0, seq=1)
    before = cache.threshold("text_classification")
    for seq in range(2, 12):
        hit = cache.lookup(qa_job("x"), "Is the refund policy 30 days for unopened item?")
        cache.feedback(hit, correct=True, seq=seq)
    after = cache.threshold("text_classification")
    assert before - 0.02 < after < before
    assert cache.entry(eid).hits == 10 and cache.entry(eid).last_used == 11


def test_false_exact_hit_invalidates_without_moving_threshold(cache):
    q = "What is 2+2?"
    cache.store(qa_job(q), q, "5", "m", 0.0, seq=1)
    hit = cache.lookup(qa_job(q), q)
    cache.feedback(hit, correct=False, seq=2)
    assert cache.lookup(qa_job(q), q) is None and cache.threshold("text_classification") == 0.9


def test_false_template_hit_invalidates_the_template(cache):
    eid = cache.store(log_job(LINE), LINE, "Received <*> of size <*> from <*>", "m", 1.0, seq=1)
    hit = cache.lookup(log_job(LINE), LINE)
    cache.feedback(hit, correct=False, seq=2)
    assert not cache.invalidate(eid)  # already gone
    assert cache.lookup(log_job(LINE), LINE) is None
    assert cache.stats()["tasks"]["log_parsing"]["false_hits"] == 1


def test_newer_answer_for_the_same_key_supersedes(cache):
    q = "Classify: the app crashes on start"
    first = cache.store(qa_job(q), q, "bug", "m1", 1.0, seq=1)
    second = cache.store(qa_job(q), q, "crash", "m2", 1.0, seq=2)
    assert first != second and cache.entry(first) is None and cache.size("text_classification") == 1
    assert cache.lookup(qa_job(q), q).answer == "crash"


def test_restoring_an_entry_refreshes_it(cache):
    eid = cache.store(log_job(LINE), LINE, TEMPLATE, "m", 0.5, seq=1)
    assert cache.store(log_job("y"), "Received block b of size 2 from c", TEMPLATE, "m2", 0.9, seq=5) == eid
    entry = cache.entry(eid)
    assert (entry.score, entry.last_used, entry.created, entry.model) == (0.9, 5, 1, "m")
    assert cache.size() == 1


def test_eviction_is_lru_then_fewest_hits():
    cache = CacheManager(None, max_entries_per_task=3)
    ids = {}
    for seq, name in enumerate(["a", "b", "c"], start=1):
        ids[name] = cache.store(log_job(f"{name} 1"), f"{name} 1", f"{name} <*>", "m", 1.0, seq=seq)
    # a and b are both last used at seq 10; a has more hits, so b (although newer) goes first
    for name, n_hits in (("a", 2), ("b", 1)):
        for _ in range(n_hits):
            cache.feedback(cache.lookup(log_job("z"), f"{name} 2"), correct=True, seq=10)
    cache.feedback(cache.lookup(log_job("z"), "c 2"), correct=True, seq=11)
    ids["d"] = cache.store(log_job("d 1"), "d 1", "d <*>", "m", 1.0, seq=12)
    assert cache.entry(ids["b"]) is None and cache.size("log_parsing") == 3
    ids["e"] = cache.store(log_job("e 1"), "e 1", "e <*>", "m", 1.0, seq=13)
    assert cache.entry(ids["a"]) is None  # now the least recently used
    assert {n for n in "cde" if cache.entry(ids[n])} == set("cde")
    assert cache.lookup(log_job("z"), "a 5") is None  # evicted from the index too
    assert cache.stats()["tasks"]["log_parsing"]["evicted"] == 2


def test_lookup_with_seq_refreshes_recency():
    cache = CacheManager(None, max_entries_per_task=2)
    a = cache.store(log_job("a 1"), "a 1", "a <*>", "m", 1.0, seq=1)
    b = cache.store(log_job("b 1"), "b 1", "b <*>", "m", 1.0, seq=2)
    cache.lookup(log_job("a 2"), "a 2", seq=3)
    cache.store(log_job("c 1"), "c 1", "c <*>", "m", 1.0, seq=4)
    assert cache.entry(a) is not None and cache.entry(b) is None


def test_stats_shape(cache):
    cache.store(log_job(LINE), LINE, TEMPLATE, "m", 1.0, seq=1)
    cache.lookup(log_job(LINE), LINE)
    cache.lookup(log_job(LINE), "unrelated line")
    cache.lookup(qa_job("q"), "q")
    stats = cache.stats()
    lp = stats["tasks"]["log_parsing"]
    assert (lp["entries"], lp["hits"], lp["misses"], lp["hit_rate"]) == (1, 1, 1, 0.5)
    assert stats["tasks"]["text_classification"]["threshold"] == 0.9
    assert stats["thresholds"] == {"text_classification": 0.9}
    assert (stats["lookups"], stats["hits"], stats["misses"], stats["store"]) == (3, 1, 2, None)
    assert stats["timings"]["p95_total_us"] >= stats["timings"]["p50_total_us"] > 0


def test_false_hit_on_an_evicted_entry_still_blocks_it():
    cache = CacheManager(None, max_entries_per_task=1)
    cache.store(log_job("a 1"), "a 1", "a <*>", "m", 1.0, seq=1)
    hit = cache.lookup(log_job("a 2"), "a 2")
    cache.store(log_job("b 1"), "b 1", "b <*>", "m", 1.0, seq=2)  # evicts "a <*>"
    cache.feedback(hit, correct=False, seq=3)
    assert cache.store(log_job("a 1"), "a 1", "a <*>", "m", 1.0, seq=4) is None
