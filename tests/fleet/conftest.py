"""Fixtures of the fleet suite: a real redis-server, the fake Anthropic API, an isolated environment."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))   # the fault suite's helpers

from fault_helpers import _fork_server, api, isolated  # noqa: E402, F401 - the fault suite's fixtures

from tests.fakes.redis_server import RedisServer  # noqa: E402


@pytest.fixture
def redis_server():
    with RedisServer() as server:
        yield server
