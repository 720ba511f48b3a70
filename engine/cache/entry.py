"""Value objects of the cache: a stored entry, a hit and the per-stage timings of one lookup."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["CacheEntry", "CacheHit", "HitKind", "StageTimings", "make_entry_id"]

HitKind = Literal["template", "exact", "semantic"]


def make_entry_id(task: str, scope_key: str, key: str) -> str:
    """A deterministic id for the entry of `key` (a template or a normalised text) in `task`/`scope_key`.

    The same verified answer stored twice (or by two engines sharing one Chroma server) gets the same
    id, so Chroma upserts merge instead of duplicating.
    """
    digest = hashlib.blake2b(f"{task}\x1f{scope_key}\x1f{key}".encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
    return f"{task[:24]}-{digest}"


@dataclass(slots=True)
class CacheEntry:
    """One verified answer as the cache keeps it in memory and in Chroma.

    `key` is the Chroma document: the line (log parsing) or the normalised request text. `answer` is
    the template (log parsing) or the answer to serve. `last_used` and `created` are event sequence
    numbers (deterministic in replay). `valid` is False for a tombstone of an invalidated entry.
    """

    entry_id: str
    task: str
    dataset: str
    key: str
    answer: str
    model: str
    score: float
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)
    hits: int = 0
    last_used: int = 0
    created: int = 0
    verified: bool = True
    valid: bool = True

    def metadata(self) -> dict[str, Any]:
        """Chroma metadata (no None values: Chroma rejects them)."""
        return {
            "answer": self.answer,
            "task": self.task,
            "dataset": self.dataset,
            "model": self.model,
            "score": float(self.score),
            "hits": int(self.hits),
            "last_used": int(self.last_used),
            "created": int(self.created),
            "verified": bool(self.verified),
            "valid": bool(self.valid),
        }

    @classmethod
    def from_record(cls, entry_id: str, document: str | None, metadata: dict[str, Any] | None,
                    embedding: np.ndarray | None) -> CacheEntry:
        """Rebuild an entry from what Chroma returns (tolerates missing metadata keys)."""
        meta = metadata or {}
        return cls(
            entry_id=entry_id,
            task=str(meta.get("task", "")),
            dataset=str(meta.get("dataset", "default")),
            key=document or "",
            answer=str(meta.get("answer", "")),
            model=str(meta.get("model", "")),
            score=float(meta.get("score", 0.0)),
            embedding=None if embedding is None else np.asarray(embedding, dtype=np.float32),
            hits=int(meta.get("hits", 0)),
            last_used=int(meta.get("last_used", 0)),
            created=int(meta.get("created", 0)),
            verified=bool(meta.get("verified", True)),
            valid=bool(meta.get("valid", True)),
        )


@dataclass(frozen=True, slots=True)
class StageTimings:
    """Microseconds spent in each named stage of one lookup (0 for a skipped stage)."""

    normalize: float = 0.0
    embed: float = 0.0
    search: float = 0.0
    evaluate: float = 0.0

    @property
    def total(self) -> float:
        """The sum of the stages."""
        return self.normalize + self.embed + self.search + self.evaluate

    def as_dict(self) -> dict[str, float]:
        """The stages and the total as a plain dict (for event logs and the dashboard)."""
        return {"normalize": self.normalize, "embed": self.embed, "search": self.search,
                "evaluate": self.evaluate, "total": self.total}


@dataclass(frozen=True, slots=True)
class CacheHit:
    """An answer served from the cache.

    `similarity` is 1.0 for template and exact hits and the cosine similarity for semantic ones;
    `threshold` is the task threshold the semantic hit passed (None otherwise); `model` is the model
    that produced the cached answer.
    """

    entry_id: str
    answer: str
    similarity: float
    kind: HitKind
    model: str
    task: str
    dataset: str
    timings: StageTimings = field(default_factory=StageTimings)
    threshold: float | None = None
