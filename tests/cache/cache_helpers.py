"""Helpers of the cache tests: job builders and a spy around a real Chroma client."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from engine.jobs import Job

WRITES = ("add", "upsert", "update", "delete")


def log_job(line: str, dataset: str = "HDFS", job_id: str = "j") -> Job:
    """A log-parsing job for `line`."""
    return Job(job_id, "log_parsing", line, dataset=dataset)


def qa_job(text: str, task: str = "text_classification", labels: tuple[str, ...] = (), dataset: str = "default") -> Job:
    """A semantic-cache job."""
    return Job("q", task, text, dataset=dataset, labels=labels)


class SpyCollection:
    """Forwards to a real collection and counts write calls (and the items they carry)."""

    def __init__(self, collection: Any, calls: Counter):
        self._collection = collection
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if name not in WRITES:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls[name] += 1
            self._calls[f"{name}_items"] += len(kwargs.get("ids") or args[0])
            return attr(*args, **kwargs)

        return counted


class SpyClient:
    """A real PersistentClient whose collections are wrapped in :class:`SpyCollection`."""

    def __init__(self, path: Path, calls: Counter):
        import chromadb

        self.client = chromadb.PersistentClient(path=str(path))
        self.calls = calls

    def get_or_create_collection(self, *args: Any, **kwargs: Any) -> SpyCollection:
        return SpyCollection(self.client.get_or_create_collection(*args, **kwargs), self.calls)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)
