"""Fixtures of the fault suite: the fake Anthropic API, an isolated environment."""

from __future__ import annotations

import os

import pytest
from fault_helpers import FOREIGN_ENV, respond

from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.processes import warm_up


@pytest.fixture(scope="session", autouse=True)
def _fork_server():
    """The crash and workspace tests fork `sls` children from a pre-warmed server: start it early."""
    warm_up()


@pytest.fixture
def api():
    """The fake Anthropic API on 127.0.0.1, answering log lines with their templates."""
    with FakeAnthropicServer(responder=respond) as server:
        yield server


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """This process's environment without foreign API, tracing or engine settings."""
    for name in [n for n in os.environ if n.startswith(FOREIGN_ENV)]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return tmp_path
