"""Data shaping: pure pandas over the engine's records and extras (synthetic runs in the engine's shapes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from dashboard_samples import BASELINES, CURRENT

from dashboard import data
from dashboard import formatting as fmt


def jobs_of(records):
    return data.records_frame(records)


# -- generic -------------------------------------------------------------------------------------------
def test_frame_of_fills_missing_columns_and_keeps_extras():
    df = data.frame_of([{"a": 1, "z": 9}], ["a", "b"])
    assert list(df.columns) == ["a", "b", "z"]
    assert math.isnan(df.loc[0, "b"])
    empty = data.frame_of([], ["a", "b"])
    assert list(empty.columns) == ["a", "b"] and empty.empty


@dataclass
class _Record:          # like engine.simulation.records.StepRecord
    seq: int
    job_id: str
    task: str
    dataset: str
    source: str
    model: str | None
    attempts: int = 0
    score: float = math.nan
    cost_usd: float = 0.0
    models_tried: tuple = ()


def test_records_frame_from_dataclasses_sorts_and_types():
    recs = [_Record(1, "b", "t", "d", "cache", "m1", 0, 1.0, 0.0),
            _Record(0, "a", "t", "d", "model", "m2", 2, 0.0, 0.5, ("m1", "m2"))]
    df = data.records_frame(recs)
    assert list(df["seq"]) == [0, 1]
    assert df.loc[0, "models_tried"] == "m1,m2"
    assert df["cost_usd"].dtype == float and df["attempts"].dtype.kind == "i"
    assert set(data.JOB_COLUMNS) <= set(df.columns)


def test_records_frame_empty_has_every_column():
    df = data.records_frame([])
    assert df.empty and list(df.columns)[: len(data.JOB_COLUMNS)] == data.JOB_COLUMNS


def test_routes_names_cache_and_refused():
    df = jobs_of([{"seq": 0, "source": "cache", "model": "m"}, {"seq": 1, "source": "refused", "model": None},
                  {"seq": 2, "source": "model", "model": "m2"}])
    assert list(data.routes(df)) == ["cache", "refused", "m2"]


# -- extras --------------------------------------------------------------------------------------------
def test_decision_frames_flatten_tables_and_flag_the_choice(run_data):
    _, extras = run_data
    head, table = data.decision_frames(extras["decisions"])
    assert len(head) == len(extras["decisions"])
    assert len(table) == 3 * len(head)
    chosen = table[table["chosen"]]
    assert len(chosen) == len(head)                       # exactly one chosen row per decision
    merged = chosen.merge(head, on="seq")
    assert (merged["model"] == merged["chosen_y"]).all()
    assert list(table.columns[: len(data.TABLE_COLUMNS)]) == data.TABLE_COLUMNS


def test_extras_frames_without_extras_are_empty_with_columns():
    frames = data.extras_frames({})
    for name, cols in (("decisions", data.DECISION_COLUMNS), ("table", data.TABLE_COLUMNS),
                       ("drift", data.DRIFT_COLUMNS), ("thresholds", data.THRESHOLD_COLUMNS),
                       ("entries", data.ENTRY_COLUMNS), ("observations", data.OBSERVATION_COLUMNS)):
        assert frames[name].empty and list(frames[name].columns)[: len(cols)] == cols
    assert frames["cache_stats"] == {}
    assert not data.has_insights({}) and not data.has_insights(None)


def test_extras_frames_of_a_run(run_data):
    _, extras = run_data
    frames = data.extras_frames(extras)
    assert data.has_insights(extras)
    assert frames["observations"]["seq"].is_monotonic_increasing
    assert len(frames["drift"]) == 1 and frames["drift"].loc[0, "model"] == "sim-medium"
    assert frames["cache_stats"] == {"entries": len(extras["cache_entries"])}


# -- time series ---------------------------------------------------------------------------------------
def test_traffic_share_sums_to_one_per_window(run_data):
    jobs = jobs_of(run_data[0])
    share = data.traffic_share(jobs, window=40)
    sums = share.groupby("start")["share"].sum()
    assert np.allclose(sums, 1.0)
    assert set(share["route"]) == {"cache", "sim-large", "sim-medium", "sim-small"}
    assert share.groupby("start").size().nunique() == 1            # every route in every window
    assert share["jobs"].sum() == len(jobs)
    assert data.traffic_share(jobs.iloc[0:0]).empty


def test_run_series_cumulates_cost_and_draws_the_budget_line(run_data):
    jobs = jobs_of(run_data[0])
    s = data.run_series(jobs, budget_usd=0.5, total_jobs=len(jobs), window=20)
    assert s["cum_cost"].iloc[-1] == pytest.approx(jobs["cost_usd"].sum())
    assert s["budget_line"].iloc[-1] == pytest.approx(0.5)
    assert s["done"].tolist() == list(range(1, len(jobs) + 1))
    assert s["rolling_accuracy"].between(0, 1).all()
    graded = jobs["score"].dropna()
    assert s["cum_accuracy"].iloc[-1] == pytest.approx(graded.mean())
    no_budget = data.run_series(jobs)
    assert no_budget["budget_line"].isna().all()


def test_decision_feed_is_newest_first(run_data):
    jobs = jobs_of(run_data[0])
    feed = data.decision_feed(jobs, 5)
    assert len(feed) == 5 and feed["seq"].tolist() == sorted(jobs["seq"].tail(5), reverse=True)
    cache_rows = feed[jobs.set_index("seq").loc[feed["seq"], "source"].to_numpy() == "cache"]
    assert all(d.startswith("cache hit (") for d in cache_rows["decision"])


def test_hit_rate_and_false_hits_per_task(run_data):
    jobs = jobs_of(run_data[0])
    hits = data.hit_rate_over_time(jobs, window=10)
    assert sorted(hits["task"].unique()) == ["log_parsing", "text_classification"]
    assert hits["hit_rate"].between(0, 1).all()
    fh = data.false_hits_over_time(jobs)
    last = fh.groupby("task").tail(1).set_index("task")
    for task, part in jobs.groupby("task"):
        assert last.loc[task, "hits"] == (part["source"] == "cache").sum()
        assert last.loc[task, "false_hits"] == part["false_hit"].sum()


def test_cache_size_counts_entries_by_creation(run_data):
    frames = data.extras_frames(run_data[1])
    size = data.cache_size_over_time(frames["entries"])
    final = size.groupby("task")["size"].max()
    assert final.sum() == len(frames["entries"])
    assert size.groupby("task")["size"].apply(lambda s: s.is_monotonic_increasing).all()
    assert data.cache_size_over_time(frames["entries"].drop(columns="created")).empty


def test_search_entries_filters_and_sorts_by_hits(run_data):
    entries = data.extras_frames(run_data[1])["entries"]
    found = data.search_entries(entries, "ALICE")
    assert len(found) == len(entries)                                   # every key mentions alice
    assert found["hits"].is_monotonic_decreasing
    assert data.search_entries(entries, "no such text").empty
    only = data.search_entries(entries, "", tasks=["log_parsing"])
    assert set(only["task"]) == {"log_parsing"}


# -- predictors ----------------------------------------------------------------------------------------
def test_rolling_predictions_and_calibration(run_data):
    obs = data.extras_frames(run_data[1])["observations"]
    roll = data.rolling_predictions(obs, window=10)
    assert set(roll["model"]) == set(obs["model"])
    assert (roll["abs_error"] >= 0).all() and (roll["brier"] <= roll["abs_error"] + 1e-12).all()
    cal = data.calibration(obs, bins=10)
    assert cal["bin"].between(0, 9).all()
    assert cal.groupby("model")["n"].sum().to_dict() == obs.groupby("model").size().to_dict()
    summary = data.calibration_summary(obs)
    assert summary["model"].tolist() == sorted(obs["model"].unique())


def test_calibration_puts_p_equal_one_in_the_top_bin():
    obs = pd.DataFrame({"seq": [0, 1], "model": ["m", "m"], "predicted": [1.0, 0.0], "observed": [1.0, 0.0]})
    assert data.calibration(obs, bins=5)["bin"].tolist() == [0, 4]


def test_drift_aftermath_compares_before_and_after(run_data):
    records, extras = run_data
    frames = data.extras_frames(extras)
    after = data.drift_aftermath(frames["drift"], frames["observations"], jobs_of(records), window=50)
    assert len(after) == 1
    row = after.iloc[0]
    assert row["model"] == "sim-medium"
    assert row["predicted_before"] > row["predicted_after"]           # the synthetic model got worse at job 120
    assert 0 <= row["share_before"] <= 1 and 0 <= row["share_after"] <= 1
    assert data.drift_aftermath(frames["drift"].iloc[0:0], frames["observations"], jobs_of(records)).empty


def test_drift_aftermath_is_measured_on_the_events_task():
    """A model that drifts on task a keeps serving task b: its share and success on a move, b is left out."""
    jobs = pd.DataFrame({"seq": range(8), "task": ["a", "b"] * 4, "source": "model",
                         "model": ["m", "m", "m", "m", "x", "m", "x", "m"]})
    obs = pd.DataFrame({"seq": range(8), "model": jobs["model"], "predicted": 0.5,
                        "observed": [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0]})
    obs = obs[obs["model"] == "m"]
    drift = pd.DataFrame({"seq": [3], "model": ["m"], "task": ["a"], "detail": ["m on a: down"]})
    row = data.drift_aftermath(drift, obs, jobs, window=10).iloc[0]
    assert row["task"] == "a"
    assert row["share_before"] == 1.0 and row["share_after"] == 0.0      # task a's jobs 0, 2 | 4, 6 (not b's)
    assert row["observed_before"] == 1.0 and np.isnan(row["observed_after"])   # m made no call on a after it


# -- decisions -----------------------------------------------------------------------------------------
def test_filter_jobs_by_task_dataset_and_route(run_data):
    jobs = jobs_of(run_data[0])
    f = data.filter_jobs(jobs, tasks=["log_parsing"], datasets=["ds1"], models=["cache"])
    assert set(f["task"]) == {"log_parsing"} and set(f["dataset"]) == {"ds1"} and set(f["source"]) == {"cache"}
    assert len(data.filter_jobs(jobs)) == len(jobs)


def test_job_decision_orders_by_utility(run_data):
    frames = data.extras_frames(run_data[1])
    seq = int(frames["decisions"]["seq"].iloc[0])
    rows, head = data.job_decision(frames["table"], frames["decisions"], seq)
    assert rows["utility"].is_monotonic_decreasing
    assert head["seq"] == seq and head["chosen"] in rows["model"].tolist()
    rows, head = data.job_decision(frames["table"], frames["decisions"], -5)
    assert rows.empty and head == {}


def test_decision_table_from_a_playground_answer():
    rows = [{"model": "a", "p_success": 0.5, "cost_usd": 0.1, "latency_s": 1, "utility": 0.2},
            {"model": "b", "p_success": 0.9, "cost_usd": 0.2, "latency_s": 2, "utility": 0.6}]
    df = data.decision_table(rows, "b")
    assert df["model"].tolist() == ["b", "a"] and df["chosen"].tolist() == [True, False]
    assert data.decision_table([], None).empty


# -- comparisons ---------------------------------------------------------------------------------------
def test_metrics_table_orders_policies():
    t = data.metrics_table(BASELINES + [CURRENT])
    assert t["policy"].tolist() == ["sls", "oracle", "random", "single:big", "single:small", "single:twin"]
    assert t.loc[t["policy"] == "single:big", "kind"].item() == "single"


def test_best_single_breaks_ties_by_cost():
    assert data.best_single(data.metrics_table(BASELINES))["policy"] == "single:big"
    assert data.best_single(data.metrics_table([BASELINES[3]])) is None


def test_headline_against_the_best_single_model():
    h = data.headline(CURRENT, data.metrics_table(BASELINES))
    assert h["best_single"] == "big"
    assert h["saving_usd"] == pytest.approx(1.5) and h["saving_pct"] == pytest.approx(0.75)
    assert h["accuracy_delta"] == pytest.approx(0.02)
    assert h["time_saving_pct"] == pytest.approx(0.7) and h["calls_saved"] == 60
    assert data.headline({}, data.metrics_table(BASELINES)) == {}


def test_comparison_with_every_baseline():
    cmp = data.comparison(CURRENT, data.metrics_table(BASELINES))
    row = cmp.set_index("policy").loc["random"]
    assert row["saving_usd"] == pytest.approx(0.5) and row["saving_pct"] == pytest.approx(0.5)
    assert data.comparison(CURRENT, data.metrics_table([])).empty


def test_cost_accuracy_points_groups():
    frontier = data.metrics_table([{**CURRENT, "budget_usd": 0.25}, {**CURRENT, "budget_usd": None}])
    pts = data.cost_accuracy_points(data.metrics_table(BASELINES), frontier, CURRENT, {**CURRENT, "cost_usd": 0.3})
    groups = pts.groupby("group")["label"].apply(list).to_dict()
    assert groups["single model"] == ["big", "small", "twin"]
    assert groups["oracle"] == ["oracle"] and groups["baseline"] == ["random"]
    assert groups["sls frontier"] == ["sls @ budget 0.25", "sls (no budget)"]
    assert groups["current run"] == ["current run"] and groups["what-if"] == ["what-if"]
    assert list(pts.columns) == data.POINT_COLUMNS


def test_pareto_mask():
    keep = data.pareto_mask([1, 2, 3, 2], [0.5, 0.7, 0.6, 0.4])
    assert keep.tolist() == [True, True, False, False]


def test_whatif_delta():
    d = data.whatif_delta(CURRENT, {**CURRENT, "accuracy": 0.72, "cost_usd": 0.2}).set_index("metric")
    assert d.loc["accuracy", "delta"] == pytest.approx(-0.1) and d.loc["cost_usd", "delta"] == pytest.approx(-0.3)
    assert data.whatif_delta(None, CURRENT)["delta"].isna().all()


def test_budget_helpers():
    assert data.nice_ceiling(0.37) == 0.5 and data.nice_ceiling(1.2) == 2.0 and data.nice_ceiling(2.2) == 2.5
    assert data.nice_ceiling(0) == 1.0
    steps = data.budget_steps(0.1, 1.0, 4)
    assert steps == sorted(steps) and steps[0] == pytest.approx(0.1) and steps[-1] == pytest.approx(1.0)
    hi, step, default, cheapest = data.budget_range(data.metrics_table(BASELINES))
    assert hi == 5.0 and step > 0 and default == pytest.approx(1.0) and cheapest == 0.2
    assert data.budget_range(data.metrics_table([])) == (1.0, 0.01, 0.5, 0.0)


def test_budget_options_are_round_numbers_on_a_log_scale():
    options, default = data.budget_options(data.metrics_table(BASELINES))
    assert options == sorted(options) and len(options) == len(set(options))
    assert options[0] >= 0.05 and options[-1] <= 5.0 and options[-1] == 5.0
    assert {0.1, 0.25, 1.0, 2.5} <= set(options)
    assert default == 1.0                              # half the best single model's $2.00
    ratios = [b / a for a, b in zip(options, options[1:], strict=False)]
    assert max(ratios) <= 1.34                         # fine steps everywhere on the scale


def test_planted_drift_from_events_json():
    events = {"simulated": True, "drift": [{"model": "m", "task": "log_parsing", "from_index": 1500, "before": 0.759,
                                            "after": 0.279}, {"no": "model"}, {"model": "x", "from_index": "?"}]}
    df = data.planted_drift(events)
    assert df.to_dict("records") == [{"seq": 1500, "model": "m", "task": "log_parsing",
                                      "detail": "planted: m on log_parsing (success 0.76 → 0.28)"}]
    assert data.planted_drift(None).empty and data.planted_drift([1, 2]).empty


def test_observations_get_their_task_and_filter_by_it(run_data):
    records, extras = run_data
    frames = data.extras_frames(extras)
    obs = data.with_task(frames["observations"], data.records_frame(records))
    assert obs["task"].notna().all() and set(obs["task"]) == {"log_parsing", "text_classification"}
    only = data.only_task(obs, "log_parsing")
    assert set(only["task"]) == {"log_parsing"} and len(only) < len(obs)
    drift = pd.DataFrame([{"seq": 1, "model": "m", "task": "a"}, {"seq": 2, "model": "m", "task": ""}])
    assert data.only_task(drift, "b")["seq"].tolist() == [2]          # an all-task event stays
    assert data.only_task(drift, None) is drift
    assert "task" in data.with_task(frames["observations"], data.job_frame(None)).columns


def test_per_dataset_frame():
    runs = {"sls": {"per_dataset": {"b": {"accuracy": 0.5}, "a": {"accuracy": 0.9}}}, "other": None}
    df = data.per_dataset_frame(runs)
    assert df["dataset"].tolist() == ["a", "b"] and set(df["run"]) == {"sls"}


# -- formatting ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "text"), [(1.4712, "$1.47"), (1234.5, "$1,234"), (0.0123, "$0.012"),
                                              (0.000041, "$0.000041"), (0, "$0.00"), (None, "—"),
                                              (float("nan"), "—")])
def test_usd(value, text):
    assert fmt.usd(value) == text


def test_formatting_helpers():
    assert fmt.usd(-0.5, signed=True) == "−$0.500" and fmt.usd(2, signed=True) == "+$2.00"
    assert fmt.pct(0.8321) == "83.2%" and fmt.pct(-0.1, signed=True) == "−10.0%"
    assert fmt.pp(0.031) == "+3.1 pp" and fmt.pp(0) == "±0.0 pp"
    assert fmt.ms(0.42) == "420 ms" and fmt.ms(2.5) == "2.50 s" and fmt.ms(120) == "2.0 min"
    assert fmt.us(38) == "38 µs" and fmt.us(1500) == "1.50 ms"
    assert fmt.count(12345.4) == "12,345" and fmt.count(None) == "—"


def test_money_story_splits_the_saving_exactly_and_never_shows_a_percentage_of_a_tiny_base():
    import numpy as np
    table = data.metrics_table([
        {"policy": "single:big", "accuracy": 0.80, "cost_usd": 10.0},
        {"policy": "single:mid", "accuracy": 0.75, "cost_usd": 2.0},
        {"policy": "single:tiny", "accuracy": 0.40, "cost_usd": 0.001}])
    jobs = data.records_frame([{"seq": i, "job_id": f"q{i}", "task": "t", "dataset": "d",
                                "source": "cache" if i < 2 else "model", "model": "mid", "cost_usd": 0.1}
                               for i in range(4)])
    costs = np.array([[2.5, 0.5, 0.0], [2.5, 0.5, 0.0], [2.5, 0.5, 0.0], [2.5, 0.5, 0.0]])
    current = {"accuracy": 0.76, "cost_usd": 1.0, "budget_usd": 1.5, "queries": 4}
    story = data.money_story(current, table, jobs, costs, ["big", "mid", "tiny"], {"cost_usd": 1.4})
    top, match, split = story["top"], story["match"], story["split"]
    assert top["model"] == "big" and top["saving_usd"] == pytest.approx(9.0) and top["saving_pct"] == pytest.approx(0.9)
    assert match["model"] == "big"               # mid (0.75) is below the scheduler's 0.76: not as accurate
    assert split["cache_usd"] == pytest.approx(5.0) and split["pacing_usd"] == pytest.approx(0.4)
    assert split["cache_usd"] + split["routing_usd"] + split["pacing_usd"] == pytest.approx(top["saving_usd"])
    cmp = data.comparison(current, table)
    tiny = cmp[cmp["policy"] == "single:tiny"].iloc[0]
    assert np.isnan(tiny["saving_pct"])          # $0.001 against $1.00: no −99,900%
    assert data.saving_pct(0.001, -0.999, 1.0) is None


def test_predicted_and_actual_are_over_the_same_jobs():
    # cache hits score 1 and carry no prediction; model calls score 0 and were predicted at 0.1
    jobs = data.records_frame([{"seq": i, "job_id": f"q{i}", "task": "t", "dataset": "d",
                                "source": "cache" if i % 2 else "model", "model": "m",
                                "score": 1.0 if i % 2 else 0.0, "predicted_p": None if i % 2 else 0.1,
                                "cost_usd": 0.0} for i in range(40)])
    series = data.run_series(jobs)
    assert series["rolling_accuracy"].iloc[-1] == pytest.approx(0.5, abs=0.1)     # every job
    assert series["rolling_predicted"].iloc[-1] == pytest.approx(0.1)             # model calls only …
    assert series["rolling_called_accuracy"].iloc[-1] == pytest.approx(0.0)       # … against their own scores


def test_why_this_model_opens_on_a_typical_decision_not_a_failed_exploration():
    jobs = data.records_frame([{"seq": i, "job_id": f"q{i}", "task": "t", "dataset": "d", "source": "model",
                                "model": m, "score": sc, "cost_usd": 0.0}
                               for i, m, sc in [(0, "a", 1.0), (1, "b", 0.0), (2, "a", 1.0), (3, "b", 0.0)]])
    heads, _ = data.decision_frames([
        {"seq": 0, "chosen": "a", "reason": "highest utility", "table": []},
        {"seq": 1, "chosen": "b", "reason": "exploring: sampled utility of b beat a", "table": []},
        {"seq": 2, "chosen": "a", "reason": "highest utility", "table": []},
        {"seq": 3, "chosen": "b", "reason": "exploring: sampled utility of b beat a", "table": []}])
    assert data.typical_decision(jobs, heads) == 2
    assert data.typical_decision(jobs.iloc[[1, 3]], heads) == 3        # none answered right: the latest
