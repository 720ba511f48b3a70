"""Micro-benchmarks of the cache: ``python -m engine.cache.bench [--quick]`` prints one JSON document.

Measures the embedder, template lookups at 1k/10k/50k synthetic templates, semantic lookups
(in-memory matrix vs a Chroma query), full `CacheManager.lookup` calls and Chroma flush throughput.
Run with ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` (faster on these 2-vCPU machines). The
synthetic generators are public so tests can reuse them.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.cache.embedder import HashNgramEmbedder
from engine.cache.entry import CacheEntry
from engine.cache.log_templates import TemplateIndex
from engine.cache.manager import CacheManager
from engine.cache.semantic import SemanticCache
from engine.cache.store import ChromaStore
from engine.jobs import Job
from engine.tasks.templates import literal_chars

__all__ = ["instantiate", "main", "run", "synthetic_questions", "synthetic_templates"]

log = logging.getLogger(__name__)

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "den", "por", "lin", "qua", "zer", "bex"]


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def synthetic_templates(n: int, seed: int = 0, datasets: int = 16, vocab: int = 3000,
                        wildcard_first: float = 0.15) -> list[tuple[str, str]]:
    """`n` distinct (dataset, template) pairs shaped like log templates.

    3–14 tokens of words, bare wildcards and partly literal tokens (``blk_<*>``, ``<*>ms``); a share
    `wildcard_first` start with a wildcard (they land in the suffix/anchor/fallback buckets).
    """
    rng = random.Random(seed)
    words = _vocabulary(rng, vocab)
    names = [f"ds{i:02d}" for i in range(datasets)]
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str]] = []
    while len(out) < n:
        tokens = []
        for _ in range(rng.randint(3, 14)):
            r = rng.random()
            if r < 0.6:
                tokens.append(rng.choice(words))
            elif r < 0.85:
                tokens.append("<*>")
            else:
                w = rng.choice(words)
                tokens.append(rng.choice([f"{w}_<*>", f"<*>{w[:2]}", f"{w}=<*>", "<*>:<*>"]))
        if rng.random() < wildcard_first:
            tokens[0] = "<*>"
        elif "<*>" in tokens[0]:
            tokens[0] = rng.choice(words)
        if not any("<*>" in t for t in tokens):
            tokens[rng.randrange(1, len(tokens))] = "<*>"
        pair = (rng.choice(names), " ".join(tokens))
        if pair not in seen and literal_chars(pair[1]) > 0:
            seen.add(pair)
            out.append(pair)
    return out


def instantiate(template: str, rng: random.Random) -> str:
    """A line the template matches: each wildcard becomes a number, a hex id, an IP or two words."""
    parts = template.split("<*>")
    out = [parts[0]]
    for part in parts[1:]:
        kind = rng.random()
        if kind < 0.4:
            value = str(rng.randint(0, 10**rng.randint(1, 9)))
        elif kind < 0.7:
            value = f"{rng.getrandbits(48):x}"
        elif kind < 0.9:
            value = ".".join(str(rng.randint(0, 255)) for _ in range(4))
        else:
            value = f"v{rng.randint(0, 99)} x{rng.randint(0, 99)}"
        out.append(value)
        out.append(part)
    return "".join(out)


def _percentiles(samples_us: Sequence[float]) -> dict[str, float]:
    a = np.asarray(samples_us, dtype=np.float64)
    return {"p50_us": round(float(np.percentile(a, 50)), 2), "p95_us": round(float(np.percentile(a, 95)), 2),
            "p99_us": round(float(np.percentile(a, 99)), 2), "max_us": round(float(a.max()), 2)}


def _time_each(fn: Callable[[Any], Any], inputs: Sequence[Any]) -> list[float]:
    clock = time.perf_counter_ns
    out = []
    for x in inputs:
        t = clock()
        fn(x)
        out.append((clock() - t) / 1000)
    return out


def bench_embedder(n: int = 5000) -> dict[str, Any]:
    """Batch throughput and single-call latency of the default embedder."""
    emb = HashNgramEmbedder()
    rng = random.Random(1)
    lines = [instantiate(t, rng) for _, t in synthetic_templates(n, seed=1)]
    emb.embed(lines[:10])
    t = time.perf_counter()
    emb.embed(lines)
    batch = time.perf_counter() - t
    single = _time_each(lambda x: emb.embed([x]), lines[:1000])
    return {"texts": n, "mean_chars": round(sum(map(len, lines)) / n, 1),
            "batch_texts_per_s": round(n / batch), "single": _percentiles(single)}


def bench_templates(sizes: Sequence[int], lookups: int = 3000) -> dict[str, Any]:
    """Template index build time and lookup latency (hits and misses) per index size."""
    return {str(n): _template_case(n, lookups) for n in sizes}


def _template_case(n: int, lookups: int) -> dict[str, Any]:
    pairs = synthetic_templates(n, seed=n)
    index = TemplateIndex(scope="dataset")
    t = time.perf_counter()
    for i, (ds, tpl) in enumerate(pairs):
        index.add(f"t{i}", tpl, ds)
    build = time.perf_counter() - t
    rng = random.Random(7)
    sample = [pairs[rng.randrange(n)] for _ in range(lookups)]
    hit_lines = [(instantiate(tpl, rng), ds) for ds, tpl in sample]
    # misses: real lines with one token replaced, looked up in their own dataset
    miss_lines = []
    for line, ds in hit_lines:
        toks = line.split(" ")
        toks[rng.randrange(len(toks))] = "zz" + str(rng.randint(0, 9999))
        miss_lines.append((" ".join(toks), ds))
    for line, ds in hit_lines[:200]:
        index.lookup(line, ds)  # warm-up

    def lookup(x: tuple[str, str]) -> Any:
        return index.lookup(x[0], x[1])

    hits = _time_each(lookup, hit_lines)
    misses = _time_each(lookup, miss_lines)
    found = sum(lookup(x) is not None for x in hit_lines)
    return {"build_s": round(build, 3), "hit_lookup": _percentiles(hits), "miss_lookup": _percentiles(misses),
            "all": _percentiles(hits + misses), "hit_lines_matched": found / lookups, "layout": index.stats()}


def synthetic_questions(n: int, seed: int = 0) -> list[str]:
    """`n` question-like texts of 8–30 random pseudo-words (keys for the semantic cache)."""
    rng = random.Random(seed)
    words = _vocabulary(rng, 4000)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30))) + "?" for _ in range(n)]


def bench_semantic(sizes: Sequence[int], queries: int = 1000) -> dict[str, Any]:
    """Nearest-neighbour search in the in-memory matrix and full manager lookups (memory-only)."""
    return {str(n): _semantic_case(n, queries) for n in sizes}


def _semantic_case(n: int, queries: int) -> dict[str, Any]:
    emb = HashNgramEmbedder()
    texts = synthetic_questions(n, seed=n)
    vectors = emb.embed(texts)
    cache = SemanticCache(emb.dim)
    for i, (text, v) in enumerate(zip(texts, vectors, strict=True)):
        cache.add(f"q{i}", "qa", "default", text, v)
    qs = list(emb.embed(synthetic_questions(queries, seed=n + 1)))
    search = _time_each(lambda q: cache.nearest("qa", "default", q), qs)
    manager = CacheManager(None, emb, max_entries_per_task=n + 1)
    for i, text in enumerate(texts):
        manager.store(Job(str(i), "qa", text), text, f"answer {i}", "m", 1.0, seq=i)

    def lookup(text: str) -> Any:
        return manager.lookup(Job("p", "qa", text), text)

    miss = _time_each(lookup, synthetic_questions(queries, seed=n + 2))
    exact = _time_each(lookup, texts[:queries])
    return {"numpy_nearest": _percentiles(search), "manager_lookup_miss": _percentiles(miss),
            "manager_lookup_exact_hit": _percentiles(exact)}


def bench_chroma(n: int, queries: int = 300) -> dict[str, Any]:
    """Write-behind flush throughput (upserts, metadata updates) and Chroma query latency."""
    emb = HashNgramEmbedder()
    texts = synthetic_questions(n, seed=99)
    vectors = emb.embed(texts)
    with tempfile.TemporaryDirectory() as tmp:
        store = ChromaStore.persistent(Path(tmp) / "chroma", max_batch=5000, flush_threshold=10**9)
        store.count("bench")  # connect and create the collection outside the timing
        entries = [CacheEntry(f"e{i}", "bench", "default", t, f"answer {i}", "m", 1.0, embedding=v,
                              last_used=i, created=i) for i, (t, v) in enumerate(zip(texts, vectors, strict=True))]
        t = time.perf_counter()
        for e in entries:
            store.put(e)
        buffered = time.perf_counter() - t
        t = time.perf_counter()
        written = store.flush()
        upsert_s = time.perf_counter() - t
        for e in entries:
            e.hits += 1
            store.update_metadata(e)
        t = time.perf_counter()
        updated = store.flush()
        update_s = time.perf_counter() - t
        qs = emb.embed(synthetic_questions(queries, seed=100))
        store.query("bench", qs[0])
        chroma_q = _time_each(lambda q: store.query("bench", q, 4), list(qs))
        t = time.perf_counter()
        loaded = len(store.load_all("bench"))
        load_s = time.perf_counter() - t
        store.close()
    return {"entries": n, "buffer_put_us_each": round(buffered / n * 1e6, 2),
            "flush_upserts_per_s": round(written / upsert_s), "flush_updates_per_s": round(updated / update_s),
            "write_calls": store.write_calls, "chroma_query": _percentiles(chroma_q),
            "load_all_s": round(load_s, 3), "loaded": loaded}


def run(quick: bool = False) -> dict[str, Any]:
    """Run every benchmark and return the results."""
    return {
        "embedder": bench_embedder(2000 if quick else 5000),
        "templates": bench_templates([1000, 10000] if quick else [1000, 10000, 50000],
                                     lookups=1000 if quick else 3000),
        "semantic": bench_semantic([1000, 10000] if quick else [1000, 10000, 20000],
                                   queries=300 if quick else 1000),
        "chroma": bench_chroma(2000 if quick else 10000),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: print the benchmark results as JSON."""
    parser = argparse.ArgumentParser(prog="python -m engine.cache.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 15 s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sys.stdout.write(json.dumps(run(quick=args.quick), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
