"""Fixtures of the fleet suite: a real redis-server, the fake Anthropic API, an isolated environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))   # the fault suite's helpers

from fault_helpers import FOREIGN_ENV, respond  # noqa: E402

from tests.fakes.anthropic_server import FakeAnthropicServer  # noqa: E402
from tests.fakes.processes import warm_up  # noqa: E402
from tests.fakes.redis_server import RedisServer  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _fork_server():
    warm_up()


@pytest.fixture
def redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture
def api():
    with FakeAnthropicServer(responder=respond) as server:
        yield server


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    for name in [n for n in os.environ if n.startswith(FOREIGN_ENV)]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return tmp_path
