"""The dashboard's fast paths: the Overview is drawn from kept results without loading the engine, the
settings are known without pydantic when no engine variable is set, `dashboard.prepare` keeps what the
Overview asks for first, and the What-if prefetch draws the same figures as the page does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import plotly.io as pio
import pytest
from test_gateway import tiny

from dashboard import charts, data, gateway

REPO = Path(__file__).resolve().parents[2]
ENGINE_MODULES = ("engine.simulation", "engine.simulation.replay", "engine.service", "river", "scipy")

# Runs the app once in a new process (AppTest: the same script run as a browser's), without the warm-up
# thread that loads the engine after the page, and says what it drew and which engine modules it loaded.
OVERVIEW = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {repo!r})
    from dashboard import gateway
    gateway.Gateway.warm_up = lambda self, *a, **k: None
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file({app!r}, default_timeout=240)
    at.run()
    print(json.dumps({{"exceptions": [e.value for e in at.exception], "errors": [e.value for e in at.error],
                       "figures": len(at.get("plotly_chart")),
                       "headline": [m.value for m in at.markdown if m.value.startswith("### ")],
                       "loaded": [m for m in {modules!r} if m in sys.modules]}}))
""")


def _env(trace: Path, workspace: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLS_")}
    return {**env, "SLS_TRACE": str(trace), "SLS_WORKSPACE": str(workspace), "OMP_NUM_THREADS": "1"}


def _overview(trace: Path, workspace: Path) -> dict:
    code = OVERVIEW.format(repo=str(REPO), app=str(REPO / "dashboard" / "app.py"), modules=ENGINE_MODULES)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(trace, workspace), capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_overview_is_drawn_from_kept_results_without_loading_the_engine(tmp_path):
    trace, workspace = tiny(tmp_path / "trace", n=40), tmp_path / "ws"
    cold = _overview(trace, workspace)                  # nothing kept: the page replays, so the engine loads
    assert not cold["exceptions"] and cold["figures"] >= 3
    assert "engine.simulation.replay" in cold["loaded"]
    warm = _overview(trace, workspace)                  # a restarted server: the same page from kept results
    assert not warm["exceptions"] and not warm["errors"]
    assert warm["figures"] == cold["figures"] and warm["headline"] == cold["headline"]
    assert warm["loaded"] == [], f"the Overview loaded {warm['loaded']} although its results were kept"


def test_prepare_keeps_what_the_overview_asks_for_first(tmp_path):
    trace, workspace = tiny(tmp_path / "trace", n=40), tmp_path / "ws"
    run = [sys.executable, "-m", "dashboard.prepare"]
    first = subprocess.run(run, cwd=REPO, env=_env(trace, workspace), capture_output=True, text=True, timeout=600)
    assert first.returncode == 0 and "replaying sls" in first.stderr, first.stderr[-2000:]
    again = subprocess.run(run, cwd=REPO, env=_env(trace, workspace), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "replaying" not in again.stderr          # all kept: nothing replayed
    warm = _overview(trace, workspace)                  # the first visit after `./dev up`: a warm one
    assert not warm["exceptions"] and warm["figures"] >= 3 and warm["headline"]
    assert warm["loaded"] == []


def test_settings_known_without_the_engine_are_the_engines_defaults(monkeypatch, tmp_path):
    for name in [k for k in os.environ if k.startswith("SLS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SLS_WORKSPACE", str(tmp_path / "ws"))
    assert gateway.fallback_settings() == gateway.engine_settings_defaults()
    assert gateway.settings_defaults() == gateway.engine_settings_defaults()


def test_an_engine_variable_is_read_through_the_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("SLS_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("SLS_MAX_ATTEMPTS", "5")
    assert gateway.settings_defaults()["max_attempts"] == 5
    monkeypatch.setenv("SLS_MAX_ATTEMPTS", "4")          # a changed environment is read again
    assert gateway.settings_defaults()["max_attempts"] == 4
    monkeypatch.setenv("SLS_MAX_ATTEMPTS", "not a number")    # invalid: the defaults, as before
    assert gateway.settings_defaults()["max_attempts"] == 3


def test_policy_kinds_are_kept_with_the_code_version(monkeypatch, tmp_path):
    from dashboard import store
    monkeypatch.setenv("SLS_WORKSPACE", str(tmp_path / "ws"))
    kinds = gateway.Gateway().policy_kinds()
    assert kinds and kinds == {n: k for n, (k, _) in gateway.Gateway().registered_policies().items()}
    monkeypatch.setattr(gateway.Gateway, "registered_policies", lambda self: pytest.fail("registry imported"))
    assert gateway.Gateway().policy_kinds() == kinds                     # kept: the registry is not needed
    monkeypatch.setattr(store, "code_version", lambda ttl_s=5.0: "other-code")
    with pytest.raises(pytest.fail.Exception):                            # other code: asked again
        gateway.Gateway().policy_kinds()


def test_the_prefetch_draws_the_figures_the_page_would(workspace_env, tmp_path):
    folder = tiny(tmp_path / "t", n=30)
    key = gateway.trace_signature(folder)
    params = {"budget_usd": 0.01, "seed": 0, "feedback": "reference", "exhausted": "cheapest"}
    colors = charts.model_colors(["a", "b"])
    derive = {"spend": lambda b: charts.fig_spend_vs_budget(data.run_series(b.jobs, 0.01, 30), 0.01),
              "share": lambda b: charts.fig_traffic_share(data.traffic_share(b.jobs), colors)}
    gw = gateway.Gateway()
    gw.submit(key, "sls", params)
    gw.prefetch(key, "sls", params, None, derive)
    gw.wait_queued(timeout=300)
    rkey = gw.result_key(key, "sls", params, None)
    direct = gateway.Gateway().run(gw.load_trace(folder), "sls", params)      # a replay of its own, not kept
    for name, build in derive.items():
        ahead = gw.derived(rkey, name, lambda name=name: pytest.fail(f"{name} was not prefetched"))
        assert pio.to_json(ahead) == pio.to_json(build(direct))


@pytest.fixture
def workspace_env(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("SLS_WORKSPACE", str(tmp_path / "ws"))
    return tmp_path / "ws"


def test_the_server_preload_reads_the_kept_first_results_into_memory(workspace_env, monkeypatch, tmp_path):
    from dashboard import prepare, store
    trace = tiny(tmp_path / "trace", n=30)
    monkeypatch.setenv("SLS_TRACE", str(trace))
    assert prepare.prepare(say=lambda text: None) > 0          # kept on disk, as `./dev up` does
    gateway.get_gateway.clear()
    gateway.preload()
    monkeypatch.setattr(store.DiskStore, "get_frames", lambda self, key: pytest.fail("read from disk"))
    gw, ref = gateway.get_gateway(), gateway.default_trace_ref()
    key = gateway.trace_signature(ref.path)
    for policy, params in prepare.default_jobs(gw, ref):         # what the Overview asks for: in memory
        assert gw.cached_result(gw.result_key(key, policy, params, None)) is not None, policy
