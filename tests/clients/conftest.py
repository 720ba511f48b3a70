"""Fixtures for the client tests: an isolated environment, a tiny trace, a catalog and the fake server."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# `tests.fakes` must be importable however pytest is started (`.venv/bin/pytest` does not put the repo
# root on sys.path). Harmless once pyproject sets `pythonpath = ["."]`.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from engine.catalog import Catalog, ModelSpec  # noqa: E402
from engine.traces.model import ModelRow, Trace  # noqa: E402

SECRET_KEY = "sk-ant-test-Zq8vN3xK7pL2mR9tY4wB"

# Environment variables that would change where a live client goes or leak to a tracing service.
_ISOLATED_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_URL", "ANTHROPIC_PROXY",
                 "LANGSMITH_TRACING", "LANGSMITH_API_KEY", "LANGSMITH_GATEWAY", "LANGSMITH_GATEWAY_API_KEY",
                 "LANGCHAIN_TRACING_V2", "LANGCHAIN_API_KEY")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    for name in _ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tiny_trace() -> Trace:
    """3 jobs x 2 models. `tok` records tokens (and one latency); `notok` records only costs, like RouterBench."""
    queries = pd.DataFrame({
        "query_id": ["q1", "q2", "q3"],
        "task": ["log_parsing"] * 3,
        "dataset": ["Apache"] * 3,
        "text": ["line one", "line two", "line three"],
        "reference": ["t1", "t2", None],
    })
    nan = np.nan
    return Trace(
        name="tiny",
        path="<memory>",
        models=[ModelRow("tok", "together", 1.0, 2.0, 7.0), ModelRow("notok", "routerbench", None, None, None)],
        queries=queries,
        scores=np.array([[1.0, 0.0], [0.0, 1.0], [1.0, nan]]),
        costs=np.array([[1.2e-5, 0.0004], [2.4e-5, 0.0005], [3.0e-6, 0.0006]]),
        input_tokens=np.array([[10.0, nan], [20.0, nan], [1.0, nan]]),
        output_tokens=np.array([[1.0, nan], [2.0, nan], [1.0, nan]]),
        latency_s=np.array([[0.75, nan], [nan, nan], [nan, nan]]),
        outputs=np.array([["T1", "x"], ["T2", "y"], ["T3", "z"]], dtype=object),
        raw_outputs=np.array([["raw T1", "answer x"], ["raw T2", "answer y"], ["raw T3", nan]], dtype=object),
    )


@pytest.fixture
def live_catalog() -> Catalog:
    """Two priced Anthropic-provider models whose API ids are neutral (the SDK warns about real
    deprecated ids)."""
    return Catalog([
        ModelSpec("cheap", "anthropic", 1.0, 5.0, None, 0.3, 0.01, "fake-cheap", "cheap"),
        ModelSpec("strong", "anthropic", 5.0, 25.0, None, 0.9, 0.02, "fake-strong", "top"),
    ])
