"""Replay results kept on disk: a restarted dashboard finds them, a changed trace or code does not."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from test_gateway import tiny

from dashboard import gateway, store


@pytest.fixture
def env(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("SLS_WORKSPACE", str(tmp_path / "ws"))
    return tiny(tmp_path / "trace")


def test_a_new_server_finds_the_replay_on_disk(env):
    gw = gateway.Gateway()
    if gw.policy_missing("sls"):
        pytest.skip("sls not available")
    key = gateway.trace_signature(env)
    params = {"budget_usd": None, "seed": 0, "feedback": "reference", "exhausted": "cheapest"}
    first = gw.run_cached(key, "sls", params)
    again = gateway.Gateway()                       # a restarted server: nothing in memory
    result_key = again.result_key(key, "sls", params, None)
    kept = again.cached_result(result_key)
    assert kept is not None
    assert kept.metrics == first.metrics
    pd.testing.assert_frame_equal(kept.jobs, first.jobs, check_dtype=False)
    assert set(kept.frames) == set(first.frames)
    assert again.status(key, "sls", params) == "done"


def test_an_edited_trace_or_code_is_not_served_from_disk(env, monkeypatch):
    gw = gateway.Gateway()
    key = gateway.trace_signature(env)
    params = {"budget_usd": None, "seed": 0, "feedback": "reference", "exhausted": "cheapest"}
    gw.run_cached(key, "single:a", params)
    outcomes = next(p for p in env.iterdir() if p.name.startswith("outcomes"))
    st = outcomes.stat()
    os.utime(outcomes, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    new_key = gateway.trace_signature(env)
    assert new_key != key
    assert gateway.Gateway().cached_result(gateway.Gateway.result_key(new_key, "single:a", params, None)) is None
    monkeypatch.setattr(store, "code_version", lambda ttl_s=5.0: "other-code")
    assert gateway.Gateway().cached_result(gateway.Gateway.result_key(key, "single:a", params, None)) is None


def test_a_damaged_entry_is_recomputed_not_raised(tmp_path):
    disk = store.DiskStore(tmp_path / "c")
    disk.put_frames("abc", {"x": 1}, {"jobs": pd.DataFrame({"a": [1, 2]})})
    (tmp_path / "c" / "abc" / "jobs.parquet").write_bytes(b"not parquet")
    assert disk.get_frames("abc") is None
    assert not (tmp_path / "c" / "abc").exists()
    with pytest.raises(ValueError):
        disk.get_json("../escape")


def test_an_edited_price_re_prices_charged_costs_and_the_baselines(env):
    import json

    gw = gateway.Gateway()
    key = gateway.trace_signature(env)
    trace = gw.load_trace(env)
    catalog = json.loads(gw.catalog(trace).to_json())
    items = catalog if isinstance(catalog, list) else catalog.get("models", catalog)
    for item in items:
        if item.get("name", item.get("model")) == "b":
            item["input_usd_per_mtok"] *= 2
            item["output_usd_per_mtok"] *= 2
    edited = json.dumps(catalog)
    priced = gw.trace_for_run(key, edited)
    j = trace.model_index("b")
    assert gateway.repriced_models(trace, gw.catalog(trace, edited)) == ["b"]
    assert priced.costs[:, j].sum() == pytest.approx(
        (trace.input_tokens[:, j] * 10.0 + trace.output_tokens[:, j] * 20.0).sum() / 1e6)
    assert (priced.costs[:, 1 - j] == trace.costs[:, 1 - j]).all()       # the other model is as recorded
    params = gateway.params_key({"budget_usd": None, "seed": 0, "feedback": "reference", "exhausted": "cheapest"})
    before = {m["policy"]: m["cost_usd"] for m in gateway.baseline_metrics(key, params, None)}
    after = {m["policy"]: m["cost_usd"] for m in gateway.baseline_metrics(key, params, edited)}
    assert after["single:b"] == pytest.approx(priced.costs[:, j].sum(), rel=1e-6)
    assert after["single:b"] != pytest.approx(before["single:b"])
    assert after["single:a"] == pytest.approx(before["single:a"])
