"""Helpers of the fault suite: a model that answers log lines, the environment of a live `sls`, checks."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

from engine.tasks.templates import mask_variables
from tests.fakes.anthropic_server import FakeAnthropicServer, last_user_text

ROOT = Path(__file__).resolve().parents[2]

# Variables that would send a client elsewhere, leak to a tracing service or change the engine's settings.
FOREIGN_ENV = ("ANTHROPIC_", "SLS_", "LANGSMITH_", "LANGCHAIN_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
               "http_proxy", "https_proxy", "all_proxy")


def respond(body: dict) -> str:
    """What a decent model answers to a log line: its template."""
    match = re.search(r"Log line:\n(.*)\n\nReply", last_user_text(body), re.S)
    return mask_variables(match.group(1) if match else last_user_text(body))


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
