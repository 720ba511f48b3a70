"""Warm start: a replay (or the live engine) starting from an earlier workspace's learned state — predictors,
cache, thresholds, drift, judges — but not its budget, counters or event log; the source is never written."""

import hashlib
import math
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.simulation.policy import ReplayOptions
from engine.simulation.replay import ReplaySession, replay, replay_through_engine
from engine.traces import load_trace, write_trace_frames
from engine.traces.writer import trace_frames
from engine.warmstart import WarmStartError, read_warm_state

ROOT = Path(__file__).resolve().parents[2]
N = 160   # jobs per half


def _half(models, queries, outcomes, rows: slice, folder: Path) -> Path:
    part = queries.iloc[rows]
    write_trace_frames(folder, models, part, pd.DataFrame(outcomes[outcomes["query_id"].isin(set(part["query_id"]))]))
    return folder


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    """The first 2×N jobs of the sample as two traces (first half, second half)."""
    models, queries, outcomes = trace_frames(load_trace(ROOT / "sample_data" / "demo"))
    models = models.assign(available_from="")   # no newcomer model in this short slice
    base = tmp_path_factory.mktemp("warm")
    return (_half(models, queries, outcomes, slice(0, N), base / "first"),
            _half(models, queries, outcomes, slice(N, 2 * N), base / "second"))


@pytest.fixture(scope="module")
def learned(halves, tmp_path_factory):
    """A replay of the first half with a workspace: (workspace, its finished session)."""
    workspace = tmp_path_factory.mktemp("ws") / "first"
    session = ReplaySession(load_trace(halves[0]), "sls", ReplayOptions(workspace=str(workspace)))
    session.step(N)
    session.runner.core.cache.close()
    session.events.close()
    return workspace, session


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_predictors_start_from_the_saved_state(halves, learned):
    workspace, first = learned
    second = load_trace(halves[1])
    warm = ReplaySession(second, "sls", ReplayOptions(warm_start=str(workspace)))
    cold = ReplaySession(second, "sls", ReplayOptions())
    job = warm.env.job(0)
    specs = [warm.env.catalog.get(m) for m in second.model_names]
    saved = first.runner.core.predictors.predict(job, specs, 100)
    for name, p in warm.runner.core.predictors.predict(job, specs, 100).items():
        assert p.p_success == pytest.approx(saved[name].p_success)
    cold_p = cold.runner.core.predictors.predict(job, specs, 100)
    assert any(not math.isclose(cold_p[m].p_success, saved[m].p_success, abs_tol=1e-3) for m in saved)


def test_cache_serves_what_the_earlier_run_verified_on_first_sighting(halves, learned):
    workspace, first = learned
    second = load_trace(halves[1])
    warm = replay(second, "sls", ReplayOptions(warm_start=str(workspace)))
    cold = replay(second, "sls", ReplayOptions())
    verified = {e["answer"] for e in first.extras()["cache_entries"] if e["task"] == "log_parsing"}
    assert verified
    # The second half's first log line: the cold run has never seen a log line, so it must call a model.
    i = next(k for k, r in enumerate(warm.records) if second.jobs()[k].task == "log_parsing")
    assert cold.records[i].source == "model"
    assert warm.records[i].source == "cache" and warm.records[i].answer in verified
    assert warm.metrics["cache_hit_rate"] > cold.metrics["cache_hit_rate"]
    assert warm.metrics["cost_usd"] < cold.metrics["cost_usd"]


def test_budget_counters_and_sequence_do_not_carry_over(halves, learned):
    workspace, first = learned
    assert first.ledger.spent_usd > 0.01 and first.runner.core.updates.last_seq == N - 1
    budget = 0.05
    session = ReplaySession(load_trace(halves[1]), "sls", ReplayOptions(warm_start=str(workspace),
                                                                         budget_usd=budget))
    core = session.runner.core
    assert session.ledger.spent_usd == 0.0 and session.ledger.jobs_seen == 0
    assert core.jobs_done == 0 and core.jobs_called == 0 and core.updates.last_seq == -1
    assert core.pacer.lam == pytest.approx(core.config.cost_weight)
    assert core.updates.observations == [] and core.updates.drift.events == []
    session.step(N)
    assert len(session.records) == N
    assert 0 < session.metrics()["cost_usd"] <= budget + 1e-12


def test_source_workspace_is_never_written(halves, learned, tmp_path):
    workspace, _ = learned
    before = _digest(workspace)
    run_ws = tmp_path / "run"
    result = replay(load_trace(halves[1]), "sls", ReplayOptions(warm_start=str(workspace), workspace=str(run_ws)))
    assert result.metrics["queries"] == N
    assert _digest(workspace) == before
    # the run's own workspace carries the seeded state on: it is itself a warm-start source
    assert read_warm_state(run_ws).entries


def test_live_engine_and_live_workspace_as_source(halves, learned, tmp_path):
    """SLS_WARM_START seeds the live engine (through the same pipeline as the replay: same figures), and a
    live workspace (snapshot table, scheduler_state.pkl, Chroma store) is a warm-start source itself."""
    workspace, _ = learned
    second = load_trace(halves[1])
    options = ReplayOptions(warm_start=str(workspace))
    engine_run = replay_through_engine(second, options)
    replayed = replay(second, "sls", options)
    for key in ("accuracy", "cost_usd", "llm_calls", "cache_hit_rate"):
        assert engine_run.metrics[key] == pytest.approx(replayed.metrics[key]), key
    live_ws = tmp_path / "live"
    _live_run(load_trace(halves[0]), live_ws)
    before = _digest(live_ws)
    state = read_warm_state(live_ws)
    assert state.origin.startswith("live snapshot") and state.entries and state.known
    from_live = replay(second, "sls", ReplayOptions(warm_start=str(live_ws)))
    assert from_live.metrics["cache_hit_rate"] > replay(second, "sls", ReplayOptions()).metrics["cache_hit_rate"]
    assert _digest(live_ws) == before


def _live_run(trace, workspace: Path) -> None:
    """A live engine (its Chroma cache on disk) over `trace` with the recorded-trace backend."""
    from engine.catalog import Catalog
    from engine.service import build_engine
    from engine.settings import load_settings
    from engine.simulation.backend import ReplayBackend
    from engine.simulation.env import ReplayEnv
    catalog = Catalog(list(Catalog.from_trace_models(trace.models)))
    engine = build_engine(load_settings(workspace=workspace), catalog=catalog,
                          backend=ReplayBackend(ReplayEnv(trace, catalog, scoring="parsed")))
    try:
        engine.run_outcomes(trace.jobs(), concurrency=1)
    finally:
        engine.close()


def test_cli_refuses_what_is_not_a_workspace(halves, learned, tmp_path, capsys):
    workspace, _ = learned
    trace = str(halves[1])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a workspace")
    cases = [
        (["--warm-start", str(empty)], "not a workspace"),
        (["--warm-start", str(tmp_path / "missing")], "not a directory"),
        (["--warm-start", str(workspace), "--workspace", str(workspace)], "never written"),
    ]
    baseline_ws = tmp_path / "baseline"
    assert main(["replay", trace, "--policy", "cheapest", "--workspace", str(baseline_ws), "--no-progress"]) == 0
    capsys.readouterr()
    cases.append((["--warm-start", str(baseline_ws)], "holds no learned state"))
    for extra, message in cases:
        assert main(["replay", trace, "--policy", "sls", "--no-progress", *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
        assert extra[1] in err
    assert main(["replay", trace, "--policy", "random", "--warm-start", str(workspace), "--no-progress"]) == 2
    assert "learns nothing" in capsys.readouterr().err
    with pytest.raises(WarmStartError, match="holds no learned state"):
        read_warm_state(baseline_ws)


def test_cli_warm_start_json(halves, learned, capsys):
    workspace, _ = learned
    assert main(["replay", str(halves[1]), "--policy", "sls", "--warm-start", str(workspace), "--json",
                 "--no-progress"]) == 0
    import json
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["queries"] == N and metrics["cache_hit_rate"] > 0
    # the What-if sweep starts every budget's replay from the same workspace
    assert main(["sweep", str(halves[1]), "--policy", "sls", "--budgets", "none", "--workers", "1", "--seeds", "1",
                 "--warm-start", str(workspace), "--json"]) == 0
    swept = json.loads(capsys.readouterr().out)
    assert (swept["accuracy"], swept["cost_usd"]) == (metrics["accuracy"], metrics["cost_usd"])
    assert main(["sweep", str(halves[1]), "--policy", "sls", "--budgets", "none", "--warm-start",
                 str(halves[1])]) == 2
    assert "not a workspace" in capsys.readouterr().err


def test_sls_warm_start_seeds_only_a_workspace_without_state(halves, learned, tmp_path, monkeypatch):
    from engine.catalog import Catalog
    from engine.service import build_engine
    from engine.settings import load_settings
    workspace, first = learned
    second = load_trace(halves[1])
    catalog = Catalog(list(Catalog.from_trace_models(second.models)))
    job = second.jobs()[0]
    specs = [catalog.get(m) for m in second.model_names]
    saved = first.runner.core.predictors.predict(job, specs, 100)
    monkeypatch.setenv("SLS_WARM_START", str(workspace))
    fresh = build_engine(load_settings(workspace=tmp_path / "fresh"), catalog=catalog)
    try:
        assert fresh.scheduler.updates.last_seq == -1 and fresh.scheduler.cache.size() > 0
        got = fresh.scheduler.predictors.predict(job, specs, 100)
        assert all(got[m].p_success == pytest.approx(saved[m].p_success) for m in saved)
    finally:
        fresh.close()
    own = tmp_path / "own"
    _live_run(load_trace(halves[0]), own)     # SLS_WARM_START is set: the first start was seeded, then learned on
    monkeypatch.setenv("SLS_WARM_START", str(tmp_path / "missing"))
    restarted = build_engine(load_settings(workspace=own), catalog=catalog)   # own state: the setting is not read
    try:
        assert restarted.scheduler.updates.last_seq >= N - 1
    finally:
        restarted.close()
    with pytest.raises(WarmStartError, match="not a directory"):
        build_engine(load_settings(workspace=tmp_path / "fresh2"), catalog=catalog)
