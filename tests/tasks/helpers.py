"""Helpers shared by the task plug-in tests: a job builder and the location of the real traces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.jobs import Job

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("SLS_DATA_DIR", REPO.parent / "shared" / "data"))


def job(task: str, text: str, reference: str | None = None, labels: tuple[str, ...] = (), **meta) -> Job:
    """A job for `task` with `text` (and optional reference, labels, meta)."""
    return Job(job_id="t1", task=task, text=text, reference=reference, labels=labels, meta=meta)


def real_trace(name: str) -> Path:
    """The folder of a real development trace, or skip the test when it is not present."""
    folder = DATA_DIR / name
    if not (folder / "queries.csv.gz").exists() and not (folder / "queries.csv").exists():
        pytest.skip(f"real trace {folder} not present (set SLS_DATA_DIR)")
    return folder
