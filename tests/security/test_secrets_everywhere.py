"""Secrets nowhere (issue 14, finding 10): a model (the fake API) that echoes the key in its answer, in a
malformed body or in headers leaves it in no event log, cache, trace, warning or DEBUG log line."""

from __future__ import annotations

import gzip
import io
import logging
import os
import warnings
from pathlib import Path

import pytest

from engine import secrets as engine_secrets
from engine.catalog import Catalog
from engine.clients.factory import build_resilient_client
from engine.clients.settings import ClientSettings, RetryPolicy
from tests.fakes.anthropic_server import FakeAnthropicServer, Malformed, last_user_text
from tests.fakes.processes import run_cli

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-ant-api03-ECHOED-KEY-0123456789abcdef"
LINES = [f"write a function f that returns secret number {i}" for i in range(3)]
FOREIGN = ("ANTHROPIC_", "SLS_", "LANGSMITH_", "LANGCHAIN_", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
           "https_proxy")


def echo_key(body: dict) -> str:
    """A model that answers with code holding the key it was called with."""
    return f"```python\ndef f():\n    return '{KEY}'  # {last_user_text(body)[:20]}\n```"


def env_for(api: FakeAnthropicServer, workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    env.update({"SLS_WORKSPACE": str(workspace), "SLS_RETRY_BASE_DELAY_S": "0.01", "SLS_CLIENT_TIMEOUT_S": "10",
                "NO_PROXY": "127.0.0.1,localhost", "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(ROOT),
                "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url, "PYTHONWARNINGS": "always"})
    return env


def every_byte(folder: Path) -> bytes:
    """All bytes under `folder`, gzip files decompressed."""
    out = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            out.append(gzip.decompress(data) if path.suffix == ".gz" else data)
    return b"\n".join(out)


@pytest.mark.integration
def test_an_echoed_key_is_stored_and_printed_nowhere(tmp_path):
    workspace, traces = tmp_path / "ws", tmp_path / "trace-out"
    jobs = tmp_path / "jobs.txt"
    jobs.write_text("\n".join(LINES) + "\n")
    with FakeAnthropicServer(responder=echo_key) as api:
        api.enqueue(Malformed(f'{{"type": "message", "content": "{KEY}", "usage": {{"input_tokens": "{KEY}"}}}}'))
        child = run_cli(["-v", "run", str(jobs), "--task", "code_generation", "--concurrency", "1", "--json",
                         "--trace-out", str(traces)], env_for(api, workspace), tmp_path / "out")
        assert api.request_count >= len(LINES)
    assert child.exitcode == 0, child.stderr
    assert "[REDACTED]" in child.stdout                   # the answers were there, without the key
    assert KEY not in child.stdout and KEY not in child.stderr
    assert KEY.encode() not in every_byte(workspace)      # event log (and its WAL), Chroma cache, state
    assert KEY.encode() not in every_byte(traces)


def test_client_debug_logs_and_warnings_never_show_the_key(monkeypatch):
    for name in [n for n in os.environ if n.startswith(FOREIGN)]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with FakeAnthropicServer(responder=echo_key) as api:
            api.enqueue(Malformed(f'{{"type": "error", "error": {{"type": "x", "message": "{KEY}"}}}}', status=400))
            catalog = Catalog.default()
            client = build_resilient_client(catalog, ClientSettings(
                backend="live", anthropic_api_key=KEY, anthropic_base_url=api.base_url, timeout_s=5,
                retry=RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02)))
            name = catalog.names[0]
            messages = [("user", "write f")]
            with pytest.raises(Exception):       # noqa: B017 - the malformed error body: any failure will do
                client.call(name, messages)
            completion = client.call(name, messages)
            assert KEY not in completion.text and "[REDACTED]" in completion.text
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                logging.captureWarnings(False)    # pytest swaps `showwarning` per test: route this test's too
                logging.captureWarnings(True)
                warnings.warn(f"serializer saw {KEY}", UserWarning, stacklevel=1)
            logging.getLogger("anthropic").debug("headers: {'x-api-key': '%s'}", KEY)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        logging.captureWarnings(False)
    text = sink.getvalue()
    assert KEY not in text, [line for line in text.splitlines() if KEY in line][:3]
    assert "serializer saw [REDACTED]" in text


def test_scrub_replaces_registered_and_environment_keys(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-the-environment")
    engine_secrets.register("sk-registered-by-a-client", None, "short")
    text = "a sk-from-the-environment b sk-registered-by-a-client c short"
    assert engine_secrets.scrub(text) == "a [REDACTED] b [REDACTED] c short"
    assert engine_secrets.scrub_mapping({"answer": text, "hits": 3})["hits"] == 3
