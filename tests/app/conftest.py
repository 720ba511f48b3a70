"""AppTest fixtures: a tiny trace, and an environment pointing the dashboard at it (`SLS_TRACE`) with a
throw-away workspace (`SLS_WORKSPACE`) and no model key."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_helpers import write_tiny_trace


@pytest.fixture(scope="session")
def tiny_trace(tmp_path_factory) -> Path:
    return write_tiny_trace(tmp_path_factory.mktemp("traces") / "tiny")


@pytest.fixture
def app_env(monkeypatch, tiny_trace, tmp_path):
    monkeypatch.setenv("SLS_TRACE", str(tiny_trace))
    monkeypatch.setenv("SLS_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return tiny_trace
