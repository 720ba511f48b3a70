"""The API key never shows: not on stdout or stderr, not in logs, exception messages, tracebacks or reprs, not
in the dashboard gateway's answers and not in the workspace — even when the server echoes it back.

`ANTHROPIC_API_KEY` is set to a recognisable fake key and every error path is driven against the fake
Anthropic server on 127.0.0.1 (no other network): a 401 and a 500 storm whose error bodies quote the key
(a misbehaving proxy), the `sls` CLI's error exits, the client's exceptions and reprs, the settings'
reprs, DEBUG logging of every library, and the dashboard gateway's status and Playground calls.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import traceback
from pathlib import Path

import pytest

from engine.catalog import Catalog, ModelSpec
from engine.cli import main
from engine.clients import ClientSettings, ModelCallError, RetryPolicy, build_resilient_client
from engine.errors import EngineError
from engine.settings import load_settings
from tests.fakes.anthropic_server import ApiError, FakeAnthropicServer, storm, use_fake_server

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")]

SECRET = "sk-ant-test-SECRET-4f9c2a7e1b3d5a6c8e0f"
LINE = "Failed password for root from 10.0.0.1 port 22 ssh2"
ECHO_401 = ApiError(401, "invalid x-api-key: {key}")            # `{key}`: the server quotes the key it got
ECHO_500 = ApiError(500, "upstream rejected credentials {key}")


@pytest.fixture
def server():
    with FakeAnthropicServer(responder=lambda body: "Failed password for <*> from <*> port <*> ssh2") as srv:
        yield srv


@pytest.fixture
def env(server, tmp_path, monkeypatch):
    """A live environment on the fake server: the key, its URL, a fresh workspace, fast retries."""
    use_fake_server(monkeypatch, server, tmp_path / "ws", key=SECRET, timeout_s=5)
    return tmp_path / "ws"


def no_secret(**texts: str) -> None:
    leaks = {where: text[max(0, text.find(SECRET) - 60):text.find(SECRET) + 60]
             for where, text in texts.items() if SECRET in text}
    assert not leaks, f"the key leaked: {leaks}"


def log_text(caplog) -> str:
    return caplog.text + "\n".join(f"{r.msg} {r.args}" for r in caplog.records)


def sls(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- the command line -----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ("ask", LINE, "--task", "nope"),
    ("ask", LINE, "--task", "log_parsing", "--budget", "nan"),
    ("ask", LINE, "--task", "log_parsing", "--model", "no-such-model"),
    ("ask", "", "--task", "log_parsing"),
    ("feedback", "no-such-job", "--score", "2"),
    ("feedback", "no-such-job", "--score", "1"),
    ("run", "/no/such/file.txt", "--task", "log_parsing"),
    ("replay", "/no/such/trace", "--policy", "sls"),
])
def test_cli_user_errors_exit_2_without_the_key(env, server, capsys, caplog, argv):
    caplog.set_level(logging.DEBUG)
    code, out, err = sls(capsys, "-v", *argv)
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    no_secret(stdout=out, stderr=err, logs=log_text(caplog))


def test_cli_models_lists_the_catalog_without_the_key(env, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    code, out, err = sls(capsys, "-v", "models", "--json")
    assert code == 0 and "key configured" in out
    no_secret(stdout=out, stderr=err, logs=log_text(caplog))


@pytest.mark.parametrize("script", [[ECHO_401] * 3, storm(500, 3) + [ECHO_500] * 6, [ECHO_401, *[ECHO_500] * 8]])
def test_cli_ask_when_every_model_fails_exits_2_without_the_key(env, server, capsys, caplog, script):
    caplog.set_level(logging.DEBUG)           # the SDK's, httpx's and the engine's debug logging included
    server.enqueue(*script)
    code, out, err = sls(capsys, "-v", "ask", LINE, "--task", "log_parsing", "--json")
    assert server.requests and all(r.api_key == SECRET for r in server.requests)   # it travelled: it could leak
    assert code == 2 and err.startswith("error: no model answered job"), err
    assert "[REDACTED]" in err
    no_secret(stdout=out, stderr=err, logs=log_text(caplog))
    for path in [p for p in env.rglob("*") if p.is_file()]:
        assert SECRET.encode() not in path.read_bytes(), path


def test_cli_run_with_failing_models_reports_errors_without_the_key(env, server, capsys, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    server.enqueue([ECHO_500] * 30)
    jobs = tmp_path / "lines.txt"
    jobs.write_text(f"{LINE}\nsession 7 opened for user bob\n")
    code, out, err = sls(capsys, "-v", "run", str(jobs), "--task", "log_parsing", "--json", "--no-progress")
    assert code == 0, err
    no_secret(stdout=out, stderr=err, logs=log_text(caplog))


# -- the client and the settings ------------------------------------------------------------------------
@pytest.fixture
def client_settings(server) -> ClientSettings:
    return ClientSettings(anthropic_api_key=SECRET, anthropic_base_url=server.base_url, timeout_s=5.0,
                          max_tokens=64, retry=RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02))


CATALOG = Catalog([ModelSpec("cheap", "anthropic", 1.0, 5.0, None, 0.3, 0.01, "fake-cheap", "cheap"),
                   ModelSpec("strong", "anthropic", 5.0, 25.0, None, 0.9, 0.02, "fake-strong", "top")])


def test_client_errors_tracebacks_and_reprs_never_show_the_key(env, server, client_settings, caplog):
    caplog.set_level(logging.DEBUG)
    server.enqueue(ECHO_401, ECHO_500, ECHO_500)
    client = build_resilient_client(CATALOG, client_settings)
    with pytest.raises(ModelCallError) as info:
        client.call_with_fallback(["cheap", "strong"], "hi")
    error = info.value
    assert server.requests[0].api_key == SECRET
    no_secret(message=str(error), repr=repr(error), args=repr(error.args),
              traceback="".join(traceback.format_exception(error)),
              failures=repr(error.failures), client=repr(client), model=repr(client.model("cheap")),
              logs=log_text(caplog))
    # Not asserted: `vars(client.model("cheap"))` — langchain-anthropic caches the plain key in the model's
    # `_client_params`; the engine never dumps or pickles a client (the workspace scans above find no key).
    assert "[REDACTED]" in error.failures[0].message


def test_settings_reprs_and_dumps_never_show_the_key(env, client_settings):
    texts = {"client repr": repr(client_settings), "client str": str(client_settings),
             "client dump": json.dumps(dataclasses.asdict(client_settings), default=str),
             "engine settings": repr(load_settings()), "engine dump": load_settings().model_dump_json()}
    no_secret(**texts)
    assert client_settings.anthropic_api_key.get_secret_value() == SECRET   # it is there, just never shown


def test_engine_errors_and_results_never_show_the_key(env, server, client_settings, caplog):
    from engine.service import build_engine
    caplog.set_level(logging.DEBUG)
    server.enqueue([ECHO_500] * 10)
    engine = build_engine(load_settings(), catalog=CATALOG, client_settings=client_settings)
    try:
        result = engine.ask(LINE, "log_parsing")
        with pytest.raises(EngineError) as info:
            engine.ask(LINE, "log_parsing", model="nope")
        texts = {"result": json.dumps(result, default=str), "error": str(info.value), "engine": repr(engine),
                 "client": repr(engine.client), "settings": repr(engine.settings)}
    finally:
        engine.close()
    assert result["failures"] and all("[REDACTED]" in f for f in result["failures"])
    no_secret(**texts, logs=log_text(caplog))


# -- the dashboard --------------------------------------------------------------------------------------
def test_dashboard_gateway_status_and_playground_never_show_the_key(env, server, caplog):
    from dashboard import gateway
    caplog.set_level(logging.DEBUG)
    server.enqueue([ECHO_401] * 3, [ECHO_500] * 10)
    assert gateway.live_key_configured() is True
    gw = gateway.Gateway()
    playground = gw.engine("live", {"max_attempts": 2})
    answered = playground.ask(LINE, "log_parsing")
    planned = playground.plan("session 7 opened for user bob", "log_parsing")
    texts = {"defaults": json.dumps(gateway.settings_defaults(), default=str), "answer": json.dumps(answered, default=str),
             "plan": json.dumps(planned, default=str), "playground": repr(playground), "gateway": repr(gw),
             "models": repr(playground.models), "feature": str(gw.feature("service")),
             "status": gw.status("t", "sls", {}), "logs": log_text(caplog)}
    no_secret(**texts)
    assert answered["failures"], "expected the failing calls to be reported"


def test_secrets_toml_is_ignored_by_git():
    """The dashboard may read the key from `.streamlit/secrets.toml`, and the README promises that file is never
    committed: git must ignore it."""
    root = Path(__file__).resolve().parents[2]
    ignored = [line.strip() for line in (root / ".gitignore").read_text(encoding="utf-8").splitlines()]
    assert {".streamlit/secrets.toml", "secrets.toml", "**/secrets.toml", ".streamlit/"} & set(ignored)
