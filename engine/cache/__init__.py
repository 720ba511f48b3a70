"""Adaptive cache manager: verified log templates, a semantic cache with learned thresholds, ChromaDB
as the store of record behind a write-behind buffer. Importing this package does not import chromadb.

Entry point: :meth:`CacheManager.open` (workspace or shared Chroma server) → ``lookup`` / ``store`` /
``feedback`` / ``invalidate`` / ``stats`` / ``flush`` / ``close``.
"""

from engine.cache.embedder import Embedder, HashNgramEmbedder
from engine.cache.entry import CacheEntry, CacheHit, StageTimings
from engine.cache.log_templates import TemplateIndex, TemplateMatch
from engine.cache.manager import CacheManager
from engine.cache.semantic import AdaptiveThreshold, SemanticCache, ThresholdPolicy
from engine.cache.store import ChromaStore

__all__ = [
    "AdaptiveThreshold",
    "CacheEntry",
    "CacheHit",
    "CacheManager",
    "ChromaStore",
    "Embedder",
    "HashNgramEmbedder",
    "SemanticCache",
    "StageTimings",
    "TemplateIndex",
    "TemplateMatch",
    "ThresholdPolicy",
]
