"""Offline text embedders for the cache (no downloads, no network, deterministic across processes).

The default, :class:`HashNgramEmbedder`, is the "hashing trick" over character n-grams: every 3-, 4- and
5-gram of the lower-cased, space-padded text is hashed to one of `dim` buckets with a sign, the signed
counts are summed and the vector is L2-normalised. Cosine similarity then measures shared n-grams, which
is what a cache needs to recognise the same request written slightly differently.

Why not ``zlib.crc32`` per n-gram in a Python loop: it runs at ~8k short texts/s and slows down in
proportion to the text length (a 150-character log line has ~440 n-grams). Here the n-gram hashes of
a whole batch are computed at once with numpy: a polynomial hash over the Unicode code points followed
by the MurmurHash3 64-bit finaliser (so buckets and signs are well spread), then one ``bincount``.
It is a pure function of the text — no Python ``hash()``, no seed from the process — so vectors are
identical across processes, machines and restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Embedder", "HashNgramEmbedder"]

_MULT = np.uint64(0x100000001B3)  # FNV-64 prime: the polynomial base over code points
_FMIX1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S63 = np.uint64(63)


@runtime_checkable
class Embedder(Protocol):
    """What the cache needs from an embedder: a name, a dimension and a batch `embed`.

    `embed` returns a C-contiguous ``float32`` array of shape ``(len(texts), dim)`` whose rows are
    L2-normalised (or all zero for a text with no features), so a dot product is a cosine similarity.
    The `name` is stored with the Chroma collection so a cache built with another embedder is noticed.
    """

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch of texts."""
        ...


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (in place): every input bit affects every output bit."""
    h ^= h >> _S33
    h *= _FMIX1
    h ^= h >> _S33
    h *= _FMIX2
    h ^= h >> _S33
    return h


class HashNgramEmbedder:
    """Signed hashed character n-grams (default 3–5) into `dim` dimensions, L2-normalised.

    >>> e = HashNgramEmbedder()
    >>> v = e.embed(["connection refused by host", "Connection refused by host 10.0.0.1", "disk full"])
    >>> v.shape, str(v.dtype)
    ((3, 256), 'float32')
    >>> bool(v[0] @ v[1] > v[0] @ v[2])
    True
    """

    def __init__(self, dim: int = 256, ngram_range: tuple[int, int] = (3, 5), lowercase: bool = True):
        if dim < 2:
            raise ValueError(f"dim must be >= 2, got {dim}")
        lo, hi = ngram_range
        if not 1 <= lo <= hi:
            raise ValueError(f"ngram_range must be (lo, hi) with 1 <= lo <= hi, got {ngram_range}")
        self.dim = dim
        self.ngram_range = (lo, hi)
        self.lowercase = lowercase

    @property
    def name(self) -> str:
        """A stable identifier of the embedder and its parameters."""
        lo, hi = self.ngram_range
        return f"hash-ngram-{lo}-{hi}-d{self.dim}{'-lc' if self.lowercase else ''}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch of texts into an ``(n, dim)`` float32 array of unit (or zero) rows."""
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        padded = [f" {t.lower() if self.lowercase else t} " for t in texts]
        if n == 1:
            return self._embed_single(padded[0], out)
        lengths = np.fromiter((len(p) for p in padded), dtype=np.int64, count=n)
        codes = np.frombuffer("".join(padded).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
        total = codes.shape[0]
        ends = np.cumsum(lengths)
        row_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
        end_of = ends[row_of]
        positions = np.arange(total, dtype=np.int64)
        lo, hi = self.ngram_range
        flat = np.zeros(n * self.dim, dtype=np.float64)
        h = codes.copy()
        for k in range(2, hi + 1):
            # h[i] becomes the hash of codes[i : i + k]; positions whose k-gram runs past the end of
            # the buffer keep a stale value and are masked out below (they also cross a text end).
            m = total - k + 1
            if m <= 0:
                break  # the whole batch is shorter than k characters
            h[:m] = h[:m] * _MULT + codes[k - 1:]
            if k < lo:
                continue
            valid = positions + k <= end_of
            if not valid.any():
                continue
            mixed = _fmix64(h[valid] ^ np.uint64(k * 0x9E3779B1))
            bucket = (mixed % np.uint64(self.dim)).astype(np.int64)
            sign = 1.0 - 2.0 * (mixed >> _S63).astype(np.float64)
            flat += np.bincount(row_of[valid] * self.dim + bucket, weights=sign, minlength=n * self.dim)
        if lo == 1:
            mixed = _fmix64(codes ^ np.uint64(0x9E3779B1))
            bucket = (mixed % np.uint64(self.dim)).astype(np.int64)
            sign = 1.0 - 2.0 * (mixed >> _S63).astype(np.float64)
            flat += np.bincount(row_of * self.dim + bucket, weights=sign, minlength=n * self.dim)
        out[:] = flat.reshape(n, self.dim)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def _embed_single(self, padded: str, out: np.ndarray) -> np.ndarray:
        """`embed` of one (padded) text without the batch bookkeeping (row of each position, text ends,
        validity masks) and with one hash finalisation and one ``bincount`` for all n-gram sizes: the
        cache embeds one key per lookup and per store, where that overhead was over half of the time.

        The vector is bit-for-bit the batch one: the same hashes, and bucket sums of ±1 terms are exact
        integers in float64 whatever the order they are added in."""
        codes = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
        total = codes.shape[0]
        lo, hi = self.ngram_range
        grams = [codes ^ np.uint64(0x9E3779B1)] if lo == 1 else []
        h = codes.copy()
        for k in range(2, hi + 1):
            m = total - k + 1        # positions whose k-gram lies inside the text
            if m <= 0:
                break
            h[:m] = h[:m] * _MULT + codes[k - 1:]
            if k >= lo:
                grams.append(h[:m] ^ np.uint64(k * 0x9E3779B1))
        if grams:
            mixed = _fmix64(np.concatenate(grams))
            bucket = (mixed % np.uint64(self.dim)).astype(np.int64)
            sign = 1.0 - 2.0 * (mixed >> _S63).astype(np.float64)
            out[0] = np.bincount(bucket, weights=sign, minlength=self.dim)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text (a ``(dim,)`` vector)."""
        return self.embed([text])[0]
