"""SemanticCache search and the adaptive per-task threshold."""

from __future__ import annotations

import random

import numpy as np
import pytest

from engine.cache.semantic import AdaptiveThreshold, SemanticCache, ThresholdPolicy


def _unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_threshold_rises_above_a_false_hit_and_is_bounded():
    t = AdaptiveThreshold(ThresholdPolicy(initial=0.9, ceiling=0.99, step_up=0.02, margin=0.005))
    assert t.on_false_hit(0.91) == pytest.approx(0.92)          # +step_up
    assert t.on_false_hit(0.95) == pytest.approx(0.955)         # above the false hit's similarity
    for _ in range(10):
        t.on_false_hit(0.96)
    assert t.value == pytest.approx(0.99) and t.false_hits == 12  # the ceiling holds
    assert not t.accepts(0.985) and t.accepts(0.99)


def test_threshold_falls_slowly_after_confirmed_hits_and_is_bounded():
    policy = ThresholdPolicy(initial=0.97, floor=0.9, step_up=0.02, target_false_hit_rate=0.05)
    t = AdaptiveThreshold(policy)
    t.on_confirmed_hit()
    assert 0.97 - t.value == pytest.approx(policy.step_down, abs=1e-6) and policy.step_down < policy.step_up / 10
    for _ in range(1000):
        t.on_confirmed_hit()
    assert t.value == pytest.approx(0.9)  # the floor holds


def test_threshold_settles_where_false_hits_become_rare():
    """Hits below a true boundary of 0.9 are wrong; the threshold should hover just above it."""
    rng = random.Random(0)
    t = AdaptiveThreshold(ThresholdPolicy(initial=0.97, floor=0.8, step_up=0.01, target_false_hit_rate=0.1,
                                          margin=0.0))
    trail = []
    for _ in range(5000):
        sim = rng.uniform(0.8, 1.0)
        if t.accepts(sim):
            t.on_confirmed_hit() if sim >= 0.9 else t.on_false_hit(sim)
        trail.append(t.value)
    assert 0.88 <= float(np.mean(trail[-2000:])) <= 0.92


@pytest.mark.parametrize("bad", [dict(initial=0.5, floor=0.6), dict(target_false_hit_rate=0.0), dict(step_up=0)])
def test_policy_validation(bad):
    with pytest.raises(ValueError):
        ThresholdPolicy(**bad)


def test_nearest_is_exact_and_survives_removals_and_growth():
    rng = np.random.default_rng(1)
    vecs = _unit(rng, 300)
    cache = SemanticCache(16, top_k=3)
    for i, v in enumerate(vecs):
        cache.add(f"e{i}", "t", "d", f"key {i}", v)
    removed = set(random.Random(2).sample(range(300), 150))
    for i in removed:
        assert cache.remove(f"e{i}")
    keep = [i for i in range(300) if i not in removed]
    for q in _unit(rng, 20):
        got = cache.nearest("t", "d", q)
        sims = vecs[keep] @ q
        expected = [f"e{keep[j]}" for j in np.argsort(-sims)[:3]]
        assert [n.entry_id for n in got] == expected
        assert got[0].similarity == pytest.approx(float(sims.max()), abs=1e-5)
    assert len(cache) == 150 and cache.size("t") == 150 and not cache.remove("e-missing")


def test_exact_keys_and_scopes():
    v = _unit(np.random.default_rng(3), 2)
    per_task, per_dataset = SemanticCache(16), SemanticCache(16, scope="dataset")
    for cache in (per_task, per_dataset):
        cache.add("a", "t", "d1", "what is 2+2?", v[0])
    assert per_task.exact("t", "d2", "what is 2+2?") == "a"
    assert per_dataset.exact("t", "d2", "what is 2+2?") is None
    assert per_dataset.exact("t", "d1", "what is 2+2?") == "a"
    assert per_task.nearest("other", "d1", v[0]) == []
    per_task.remove("a")
    assert per_task.exact("t", "d1", "what is 2+2?") is None
    with pytest.raises(ValueError):
        per_task.add("b", "t", "d", "k", np.zeros(8, np.float32))


def test_threshold_history_records_changes_with_sequence_numbers():
    cache = SemanticCache(16, ThresholdPolicy(initial=0.95))
    cache.feedback("qa", 0.96, correct=False, seq=7)
    cache.feedback("qa", 0.99, correct=True, seq=9)
    hist = cache.threshold_history()
    assert hist[0] == (0, "qa", 0.95)
    assert [(s, t) for s, t, _ in hist[1:]] == [(7, "qa"), (9, "qa")]
    assert hist[1][2] > 0.96 and hist[2][2] < hist[1][2]
    assert cache.thresholds() == {"qa": hist[-1][2]}
