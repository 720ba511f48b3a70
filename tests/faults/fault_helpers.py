"""Helpers of the fault suite: a model that answers log lines, the environment of a live `sls`, checks."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest

from engine.catalog import Catalog
from engine.clients.fake import FakeChatModel
from engine.clients.resilience import ResilientClient
from engine.tasks.templates import mask_variables
from tests.fakes.anthropic_server import FakeAnthropicServer, last_user_text
from tests.fakes.processes import warm_up

ROOT = Path(__file__).resolve().parents[2]

# Variables that would send a client elsewhere, leak to a tracing service or change the engine's settings.
FOREIGN_ENV = ("ANTHROPIC_", "SLS_", "LANGSMITH_", "LANGCHAIN_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
               "http_proxy", "https_proxy", "all_proxy")


def respond(body: dict) -> str:
    """What a decent model answers to a log line: its template."""
    match = re.search(r"Log line:\n(.*)\n\nReply", last_user_text(body), re.S)
    return mask_variables(match.group(1) if match else last_user_text(body))


def fake_client(catalog: Catalog) -> ResilientClient:
    """Every catalog model as a deterministic fake (no network) that answers a log line with its template."""
    def template_of(messages) -> str:
        text = str(messages[-1].content)
        return mask_variables(text.split("Log line:\n", 1)[-1].split("\n\nReply", 1)[0])
    return ResilientClient({spec.name: FakeChatModel(model_name=spec.name, responder=template_of, spec=spec)
                            for spec in catalog}, catalog)


# -- fixtures shared by the fault and fleet suites (imported by their conftest.py) ----------------------------
@pytest.fixture(scope="session", autouse=True)
def _fork_server():
    """Crash, workspace and fleet tests fork `sls` children from a pre-warmed server: start it early."""
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


def live_env(api: FakeAnthropicServer | None, workspace: Path, **extra: str) -> dict[str, str]:
    """A complete environment for an `sls` child: the fake API, this workspace, fast retries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    env.update({"SLS_WORKSPACE": str(workspace), "SLS_RETRY_BASE_DELAY_S": "0.01", "SLS_CLIENT_TIMEOUT_S": "10",
                "NO_PROXY": "127.0.0.1,localhost", "ANONYMIZED_TELEMETRY": "False",
                "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    if api is not None:
        env.update({"ANTHROPIC_API_KEY": "sk-test-fault-suite-key", "ANTHROPIC_BASE_URL": api.base_url})
    env.update(extra)
    return env


def integrity(db: Path) -> str:
    """`PRAGMA integrity_check` of an SQLite file ("ok" when sound)."""
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
