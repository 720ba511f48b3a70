"""Chart builders: pure, deterministic, titled, with fixed model colours and annotated empty figures."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest
from dashboard_samples import BASELINES, CURRENT

from dashboard import charts, data

MODELS = ["sim-large", "sim-medium", "sim-small"]
COLORS = charts.model_colors(MODELS + ["sim-extra"])


@pytest.fixture
def frames(run_data):
    records, extras = run_data
    jobs = data.records_frame(records)
    return jobs, data.extras_frames(extras)


def _title(fig: go.Figure) -> str:
    return fig.layout.title.text or ""


def _axis_titles(fig: go.Figure, letter: str) -> list[str]:
    """Titles of every x (or y) axis of the figure, subplots included."""
    axes = [fig.layout[k] for k in fig.layout if k.startswith(f"{letter}axis")]
    return [a.title.text for a in axes if a.title.text]


def _builders(jobs, frames):
    """Every builder with realistic input, for the checks that apply to all of them."""
    obs = frames["observations"]
    rolling = data.rolling_predictions(obs, 10)
    table = data.metrics_table(BASELINES)
    series = data.run_series(jobs, 0.5, len(jobs))
    rows, head = data.job_decision(frames["table"], frames["decisions"], int(frames["decisions"]["seq"].iloc[0]))
    return {
        "policy_bars": charts.fig_policy_bars(table, "accuracy", colors=COLORS),
        "cost_accuracy": charts.fig_cost_accuracy(data.cost_accuracy_points(table, current=CURRENT), COLORS),
        "spend": charts.fig_spend_vs_budget(series, 0.5),
        "quality": charts.fig_quality_over_time(series),
        "datasets": charts.fig_dataset_accuracy(data.per_dataset_frame(
            {"sls": {"per_dataset": {"a": {"accuracy": 0.5}}}})),
        "share": charts.fig_traffic_share(data.traffic_share(jobs), COLORS),
        "decision": charts.fig_decision(rows, COLORS, chosen=head["chosen"]),
        "route_counts": charts.fig_route_counts(jobs, COLORS),
        "hit_rate": charts.fig_hit_rate(data.hit_rate_over_time(jobs)),
        "false_hits": charts.fig_false_hits(data.false_hits_over_time(jobs)),
        "cache_size": charts.fig_cache_size(data.cache_size_over_time(frames["entries"])),
        "thresholds": charts.fig_thresholds(frames["thresholds"]),
        "entries": charts.fig_entries_by_model(frames["entries"], COLORS),
        "pvo": charts.fig_predicted_vs_observed(rolling, frames["drift"], COLORS),
        "error": charts.fig_rolling_error(rolling, frames["drift"], COLORS),
        "calibration": charts.fig_calibration(data.calibration(obs), COLORS),
        "aftermath": charts.fig_drift_aftermath(data.drift_aftermath(frames["drift"], obs, jobs)),
    }


def _empty_builders():
    e = pd.DataFrame()
    return {
        "policy_bars": charts.fig_policy_bars(data.metrics_table([])),
        "cost_accuracy": charts.fig_cost_accuracy(data.cost_accuracy_points(data.metrics_table([]))),
        "spend": charts.fig_spend_vs_budget(data.run_series(None)),
        "quality": charts.fig_quality_over_time(data.run_series(None)),
        "datasets": charts.fig_dataset_accuracy(data.per_dataset_frame({})),
        "share": charts.fig_traffic_share(data.traffic_share(None)),
        "decision": charts.fig_decision(data.decision_table([], None)),
        "route_counts": charts.fig_route_counts(data.job_frame(None)),
        "hit_rate": charts.fig_hit_rate(data.hit_rate_over_time(None)),
        "false_hits": charts.fig_false_hits(data.false_hits_over_time(None)),
        "cache_size": charts.fig_cache_size(data.cache_size_over_time(None)),
        "thresholds": charts.fig_thresholds(data.extras_frames({})["thresholds"]),
        "entries": charts.fig_entries_by_model(e),
        "pvo": charts.fig_predicted_vs_observed(data.rolling_predictions(None)),
        "error": charts.fig_rolling_error(data.rolling_predictions(None)),
        "calibration": charts.fig_calibration(data.calibration(None)),
        "aftermath": charts.fig_drift_aftermath(data.drift_aftermath(None, None, None)),
    }


def test_every_figure_has_a_title_and_axis_labels(frames):
    for name, fig in _builders(*frames).items():
        assert _title(fig), name
        assert _axis_titles(fig, "x"), name
        assert _axis_titles(fig, "y"), name
        assert len(fig.data) > 0, name


def test_every_builder_returns_an_annotated_empty_figure_for_empty_data():
    for name, fig in _empty_builders().items():
        assert isinstance(fig, go.Figure), name
        assert len(fig.data) == 0, name
        assert _title(fig), name
        notes = [a.text for a in fig.layout.annotations]
        assert notes and notes[0].strip(), name


def test_builders_are_deterministic(run_data):
    records, extras = run_data
    first = {k: f.to_json() for k, f in _builders(data.records_frame(records), data.extras_frames(extras)).items()}
    second = {k: f.to_json() for k, f in _builders(data.records_frame(records), data.extras_frames(extras)).items()}
    assert first == second


# -- colours -------------------------------------------------------------------------------------------
def test_model_colors_are_fixed_by_sorted_name():
    a = charts.model_colors(["b", "a", "c"])
    b = charts.model_colors(["c", "b", "a", "a"])
    assert a == b
    assert a["a"] == charts.MODEL_PALETTE[0] and a["b"] == charts.MODEL_PALETTE[1]
    assert a["cache"] == charts.ROUTE_COLORS["cache"] and a["refused"] == charts.ROUTE_COLORS["refused"]
    assert len({a[m] for m in "abc"}) == 3


def test_a_subset_chart_keeps_the_trace_colours(frames):
    jobs, _ = frames
    only_small = jobs[(jobs["model"] == "sim-small") & (jobs["source"] == "model")]
    fig = charts.fig_traffic_share(data.traffic_share(only_small), COLORS)
    assert [t.name for t in fig.data] == ["sim-small"]
    assert fig.data[0].line.color == COLORS["sim-small"]


# -- specific figures ----------------------------------------------------------------------------------
def test_traffic_share_stacks_routes_in_order(frames):
    jobs, _ = frames
    fig = charts.fig_traffic_share(data.traffic_share(jobs, 40), COLORS)
    assert [t.name for t in fig.data] == MODELS + ["cache"]
    assert {t.stackgroup for t in fig.data} == {"share"}
    assert [t.line.color for t in fig.data] == [COLORS[m] for m in MODELS] + [charts.ROUTE_COLORS["cache"]]
    assert fig.layout.yaxis.tickformat == ".0%"


def test_cost_accuracy_has_every_group_and_a_sorted_frontier():
    frontier = data.metrics_table([{**CURRENT, "cost_usd": 0.9, "accuracy": 0.85, "budget_usd": 1.0},
                                   {**CURRENT, "cost_usd": 0.1, "accuracy": 0.6, "budget_usd": 0.1}])
    baselines = data.metrics_table(BASELINES + [{**BASELINES[0], "policy": "best-single"}])
    pts = data.cost_accuracy_points(baselines, frontier, CURRENT, {**CURRENT, "cost_usd": 0.3})
    fig = charts.fig_cost_accuracy(pts, COLORS)
    names = [t.name for t in fig.data]
    # one legend entry per single model (sorted, in its colour), then the groups; best-single is not drawn
    # twice (it is one of the single models)
    assert names == ["big", "small", "twin", "baseline", "oracle", "sls frontier (best at ≤ budget)", "current run",
                     "what-if"]
    assert fig.data[0].marker.color == charts.model_colors(["big", "small", "twin"])["big"]
    assert list(fig.data[names.index("baseline")].text) == ["random"]
    front = fig.data[names.index("sls frontier (best at ≤ budget)")]
    assert list(front.x) == [0.1, 0.9] and front.mode == "lines+markers"
    assert fig.layout.xaxis.type == "linear" and fig.layout.yaxis.tickformat == ".0%"
    assert fig.layout.xaxis.title.text.startswith("total cost")


def test_cost_accuracy_switches_to_log_cost_for_wide_ranges():
    rows = [{"policy": "single:a", "accuracy": 0.5, "cost_usd": 0.01}, {"policy": "single:b", "accuracy": 0.9,
                                                                         "cost_usd": 10.0}]
    fig = charts.fig_cost_accuracy(data.cost_accuracy_points(data.metrics_table(rows)))
    assert fig.layout.xaxis.type == "log" and "log scale" in fig.layout.xaxis.title.text


def test_policy_bars_highlight_our_policy():
    table = data.metrics_table(BASELINES + [CURRENT])
    fig = charts.fig_policy_bars(table, "cost_usd", highlight="sls", colors=COLORS)
    bar = fig.data[0]
    assert list(bar.x)[0] == "sls" and bar.marker.color[0] == charts.PRIMARY
    assert bar.text[0] == "$0.500"


def test_spend_vs_budget_draws_the_budget(frames):
    jobs, _ = frames
    fig = charts.fig_spend_vs_budget(data.run_series(jobs, 0.5, len(jobs)), 0.5)
    assert [t.name for t in fig.data] == ["spend", "budget line"]
    assert any(s.y0 == 0.5 for s in fig.layout.shapes)
    no_budget = charts.fig_spend_vs_budget(data.run_series(jobs))
    assert [t.name for t in no_budget.data] == ["spend"] and not no_budget.layout.shapes


def test_money_axes_show_dollars_without_si_prefixes(frames):
    """Plotly's default ticks say '$800µ' for $0.0008: money axes use plain significant digits."""
    jobs, _ = frames
    fig = charts.fig_spend_vs_budget(data.run_series(jobs, 0.5, len(jobs)), 0.5)
    assert fig.layout.yaxis.tickprefix == "$" and fig.layout.yaxis.tickformat == charts.USD_TICKS
    assert "~" in charts.USD_TICKS and "s" not in charts.USD_TICKS      # d3-format: no SI suffix


def test_a_money_loss_reads_as_signed_money():
    from dashboard.components import signed_savings
    shown = signed_savings(pd.DataFrame({"saving_usd": [3.3589, -0.635, 0.0]}))
    assert shown["saving_usd"].tolist() == ["+$3.36", "−$0.635", "$0.00"]
    gains = pd.DataFrame({"saving_usd": [3.3589, 0.2]})
    assert signed_savings(gains) is gains          # no loss: stays numeric, formatted by the column


def test_a_negative_saving_reads_as_how_many_times_as_much():
    from dashboard.components import saving_text
    assert saving_text(-2.187) == "costs 3.2× as much"
    assert saving_text(float("nan")) == "—"
    assert saving_text(0.86).startswith("+86")


def test_decision_has_four_panels_and_stars_the_choice(frames):
    _, f = frames
    seq = int(f["decisions"]["seq"].iloc[0])
    rows, head = data.job_decision(f["table"], f["decisions"], seq)
    fig = charts.fig_decision(rows, COLORS, chosen=head["chosen"])
    assert len(fig.data) == 4 and all(t.type == "bar" and t.orientation == "h" for t in fig.data)
    ticks = list(fig.data[0].y)
    assert f"★ {head['chosen']}" in ticks and len(ticks) == 3
    widths = dict(zip(ticks, fig.data[0].marker.line.width, strict=True))
    assert widths[f"★ {head['chosen']}"] > 0 and sum(w > 0 for w in widths.values()) == 1
    assert [a.text for a in fig.layout.annotations] == ["P(success)", "cost (USD)", "latency (s)", "utility"]


def test_predicted_vs_observed_is_one_row_per_model_with_drift_marked(frames):
    _, f = frames
    rolling = data.rolling_predictions(f["observations"], 10)
    planted = data.planted_drift({"drift": [{"model": "sim-medium", "from_index": 120, "before": 0.7,
                                             "after": 0.3}]})
    fig = charts.fig_predicted_vs_observed(rolling, f["drift"], COLORS, planted=planted)
    assert [a.text for a in fig.layout.annotations][:3] == MODELS            # one subplot per model, sorted
    assert [t.name for t in fig.data] == ["observed", "predicted"] * 3
    assert [t.showlegend for t in fig.data][:4] == [True, True, False, False]
    assert fig.data[1].line.dash == "dash" and fig.data[2].line.color == COLORS["sim-medium"]
    lines = sorted((s.x0, s.line.color, s.yref) for s in fig.layout.shapes)
    assert lines == [(120.0, "#6B7280", "y2 domain"), (130.0, "#DC2626", "y2 domain")]   # both in sim-medium's row
    assert "job sequence number" in _axis_titles(fig, "x") and "success rate" in _axis_titles(fig, "y")
    only_small = charts.fig_predicted_vs_observed(rolling[rolling["model"] == "sim-small"], f["drift"], COLORS)
    assert not only_small.layout.shapes                          # the event belongs to another model


def test_rolling_error_marks_drift(frames):
    _, f = frames
    rolling = data.rolling_predictions(f["observations"], 10)
    fig = charts.fig_rolling_error(rolling, f["drift"], COLORS)
    assert [t.name for t in fig.data] == MODELS + ["drift event"]
    assert [s.x0 for s in fig.layout.shapes] == [130.0]


def test_calibration_has_the_diagonal(frames):
    _, f = frames
    fig = charts.fig_calibration(data.calibration(f["observations"]), COLORS)
    assert fig.data[0].name == "perfectly calibrated" and list(fig.data[0].x) == [0, 1]
    assert [t.name for t in fig.data[1:]] == MODELS


def test_cache_figures_have_one_line_per_task(frames):
    jobs, f = frames
    fig = charts.fig_hit_rate(data.hit_rate_over_time(jobs))
    assert [t.name for t in fig.data] == ["log_parsing", "text_classification"]
    assert fig.layout.yaxis.tickformat == ".0%"
    size = charts.fig_cache_size(data.cache_size_over_time(f["entries"]))
    assert all(t.line.shape == "hv" for t in size.data)
    entries = charts.fig_entries_by_model(f["entries"], COLORS)
    assert [t.name for t in entries.data] == ["entries", "hits served"]
    assert list(entries.data[0].x) == sorted(f["entries"]["model"].unique())


def test_frontier_never_shows_less_accuracy_for_more_budget_and_draws_the_seed_spread():
    runs = [{"budget_usd": b, "seed": s, "accuracy": a, "cost_usd": c}
            for b, s, a, c in [(0.1, 0, 0.60, 0.1), (0.1, 1, 0.64, 0.1), (1.0, 0, 0.72, 0.6), (1.0, 1, 0.70, 0.6),
                               (2.0, 0, 0.69, 0.5), (2.0, 1, 0.71, 0.55), (None, 0, 0.74, 0.9)]]
    front = data.frontier_frame(runs)
    assert front["budget_usd"].tolist()[:3] == [0.1, 1.0, 2.0] and pd.isna(front["budget_usd"].iloc[3])
    assert front["accuracy"].is_monotonic_increasing
    at2 = front.iloc[2]
    assert at2["measured_accuracy"] == pytest.approx(0.70) and at2["accuracy"] == pytest.approx(0.71)
    assert at2["from_budget_usd"] == 1.0 and at2["cost_usd"] == pytest.approx(0.6)
    assert (front.iloc[0]["accuracy_lo"], front.iloc[0]["accuracy_hi"]) == (0.60, 0.64)
    fig = charts.fig_cost_accuracy(data.cost_accuracy_points(None, front), COLORS)
    measured = next(t for t in fig.data if t.name.startswith("sls at each budget"))
    assert measured.error_y.array is not None and max(measured.error_y.array) > 0


def test_money_columns_show_small_per_job_costs():
    from dashboard.components import usd_format
    assert usd_format(pd.Series([0.00004, 0.0001, 0.0])) == "$%.6f"      # live jobs: "$0.000040", not "$0.0000"
    assert usd_format(pd.Series([4.28, 0.29, 10.3])) == "$%.4f"
