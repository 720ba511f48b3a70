"""The offline hashed n-gram embedder: shape, normalisation, determinism, speed-independent semantics."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from engine.cache.embedder import Embedder, HashNgramEmbedder

TEXTS = ["How's the weather in Paris?", "What is the weather forecast for Paris?", "How do I cook pasta?",
         "Paris weather today", "", "ab", "Ünïcödé ✓ текст"]


def test_shape_dtype_and_unit_rows():
    v = HashNgramEmbedder().embed(TEXTS)
    assert v.shape == (len(TEXTS), 256) and v.dtype == np.float32 and v.flags.c_contiguous
    norms = np.linalg.norm(v, axis=1)
    assert norms[4] == 0.0  # the empty text has no 3-gram
    np.testing.assert_allclose(np.delete(norms, 4), 1.0, atol=1e-5)


def test_empty_batch():
    assert HashNgramEmbedder(dim=32).embed([]).shape == (0, 32)


def test_batch_equals_single_calls():
    e = HashNgramEmbedder()
    batch = e.embed(TEXTS)
    for text, row in zip(TEXTS, batch, strict=True):
        np.testing.assert_array_equal(e.embed_one(text), row)


@pytest.mark.parametrize("kwargs", [{"ngram_range": (1, 1)}, {"ngram_range": (1, 3)}, {"ngram_range": (2, 6)},
                                    {"dim": 7, "ngram_range": (4, 4)}, {"dim": 64, "lowercase": False}])
def test_one_text_alone_or_in_a_batch_gives_the_same_bits(kwargs):
    # a single text takes a shorter path than a batch; the cache relies on both agreeing exactly
    e = HashNgramEmbedder(**kwargs)
    texts = [*TEXTS, "a", "abcd", "x" * 700, "Failed password for root from 10.0.0.1 port 22 ssh2"]
    batch = e.embed(texts)
    for text, row in zip(texts, batch, strict=True):
        single = e.embed([text])
        assert single.shape == (1, e.dim) and single.dtype == np.float32 and single.flags.c_contiguous
        np.testing.assert_array_equal(single[0], row)


def test_lexical_similarity_ordering_and_case_folding():
    e = HashNgramEmbedder()
    v = e.embed(TEXTS[:4] + ["PARIS WEATHER TODAY"])
    sims = v[0] @ v.T
    assert sims[1] > sims[2] and sims[3] > sims[2]
    assert v[3] @ v[4] == pytest.approx(1.0, abs=1e-6)
    assert HashNgramEmbedder(lowercase=False).embed(["Paris", "PARIS"])[0] @ \
        HashNgramEmbedder(lowercase=False).embed(["PARIS"])[0] < 0.5


def test_ngram_range_1_and_validation():
    v = HashNgramEmbedder(dim=16, ngram_range=(1, 2)).embed(["a"])
    assert np.linalg.norm(v[0]) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError):
        HashNgramEmbedder(ngram_range=(4, 3))
    with pytest.raises(ValueError):
        HashNgramEmbedder(dim=1)


def test_deterministic_across_processes():
    code = ("import sys, hashlib; from engine.cache.embedder import HashNgramEmbedder as H; "
            f"sys.stdout.write(hashlib.sha256(H().embed({TEXTS!r}).tobytes()).hexdigest())")
    here = HashNgramEmbedder().embed(TEXTS).tobytes()
    import hashlib

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1", "PATH": ""}, cwd=_repo_root())
    assert out.stdout == hashlib.sha256(here).hexdigest()


def test_implements_protocol_and_names_its_parameters():
    e = HashNgramEmbedder(dim=128, ngram_range=(2, 4))
    assert isinstance(e, Embedder)
    assert e.name == "hash-ngram-2-4-d128-lc"


def _repo_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2])


def test_lone_surrogates_embed_and_key_without_crashing():
    from engine.cache.embedder import HashNgramEmbedder
    from engine.cache.entry import make_entry_id

    emb = HashNgramEmbedder()
    assert emb.embed(["\ud800 lone"])[0].shape == emb.embed(["plain"])[0].shape
    assert make_entry_id("t", "s", "\udfff") != make_entry_id("t", "s", "x")
    assert emb.embed_one("\ud800 lone").shape == emb.embed_one("x").shape
