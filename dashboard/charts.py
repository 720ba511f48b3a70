"""Pure Plotly figure builders: `fig_<what>(df, ...) -> go.Figure` (no streamlit here).

Rules every builder follows: deterministic output for the same input (categories sorted, no randomness),
one fixed colour per model shared by every page (`model_colors`), a title and axis titles on every
figure, and an annotated empty figure (`fig_empty`) instead of a blank one when there is no data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard import formatting as fmt
from dashboard.data import routes

PRIMARY = "#4F46E5"      # the theme's primary colour (.streamlit/config.toml): our policy
WHATIF = "#DB2777"
MODEL_PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#EECA3B", "#9D755D",
                 "#FF9DA6", "#17BECF", "#8C6D31", "#393B79", "#BCBD22", "#637939")
USD_TICKS = ",.3~r"   # money axes: $0.0008 and $1,250, never SI prefixes ($800µ)
# rule: no model, the task's rule; missing: a workspace replay's job with no recorded outcome to use
ROUTE_COLORS = {"cache": "#A0AEC0", "refused": "#1F2937", "rule": "#CBD5E0", "missing": "#FDE68A"}
POLICY_COLORS = {"sls": PRIMARY, "current run": PRIMARY, "what-if": WHATIF, "oracle": "#111827",
                 "best-single": "#374151", "cheapest": "#6B7280", "random": "#9CA3AF", "optllm": "#0EA5E9",
                 "cascade": "#14B8A6", "sls-no-cache": "#818CF8", "sls-frozen": "#A5B4FC",
                 "sls-no-pacing": "#6366F1"}
TASK_PALETTE = ("#0F766E", "#B45309", "#7C3AED", "#BE123C", "#1D4ED8", "#4D7C0F")
TEMPLATE = "plotly_white"
HEIGHT = 380


# -- colours -------------------------------------------------------------------------------------------
def model_colors(models: Iterable[str]) -> dict[str, str]:
    """A fixed colour per model: the palette in sorted-name order, plus the cache / refused routes.

    Pages pass the full model list of the trace, so a chart showing a subset keeps the same colours."""
    names = sorted({str(m) for m in models if m is not None and str(m) not in ROUTE_COLORS})
    colors = {name: MODEL_PALETTE[i % len(MODEL_PALETTE)] for i, name in enumerate(names)}
    colors.update(ROUTE_COLORS)
    return colors


def task_colors(tasks: Iterable[str]) -> dict[str, str]:
    names = sorted({str(t) for t in tasks})
    return {name: TASK_PALETTE[i % len(TASK_PALETTE)] for i, name in enumerate(names)}


def _color(colors: Mapping[str, str] | None, name: str, fallback_from: Sequence[str]) -> str:
    if colors and name in colors:
        return colors[name]
    return model_colors(fallback_from).get(name, "#6B7280")


def route_order(names: Iterable[str]) -> list[str]:
    """Models sorted by name, then the cache, then refused jobs."""
    names = set(names)
    return sorted(n for n in names if n not in ROUTE_COLORS) + [r for r in ROUTE_COLORS if r in names]


# -- layout --------------------------------------------------------------------------------------------
def _template(fig: go.Figure) -> None:
    """Set the theme's template the way plotly sets its default one: the registered template is valid, so it
    is not validated again on the way in (that costs several times what the rest of a figure does)."""
    import plotly.io as pio
    layout = fig.layout
    layout._validate = False
    try:
        layout.template = pio.templates[TEMPLATE]
    finally:
        layout._validate = fig._validate


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, *, height: int = HEIGHT,
            legend_title: str | None = None, **extra) -> go.Figure:
    _template(fig)
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 16}},
        height=height, margin={"l": 60, "r": 20, "t": 50, "b": 40},
        # below the plot: a legend above it collides with the title in half-width columns
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0.0,
                "title": {"text": legend_title or ""}},
        hovermode="closest", **extra)
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def fig_empty(title: str, message: str, x_title: str = "", y_title: str = "") -> go.Figure:
    """An empty chart with a centred note saying why it is empty and what to do."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 14, "color": "#6B7280"}, align="center")
    _layout(fig, title, x_title, y_title, height=260)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    return fig


def _is_empty(df: pd.DataFrame | None) -> bool:
    return df is None or len(df) == 0


def _vlines(fig: go.Figure, events: pd.DataFrame | None, colors: Mapping[str, str] | None,
            *, row: int | None = None, col: int | None = None, y: float = 1.0) -> None:
    """Mark drift events: a dotted vertical line per event and a hoverable marker on it."""
    if _is_empty(events):
        return
    events = events.sort_values(["seq", "model"], kind="stable")
    for ev in events.itertuples(index=False):
        color = (colors or {}).get(ev.model, "#DC2626")
        kwargs = {"row": row, "col": col} if row is not None else {}
        fig.add_vline(x=float(ev.seq), line={"color": color, "dash": "dot", "width": 1.5}, **kwargs)
    fig.add_trace(go.Scatter(
        x=events["seq"].astype(float), y=[y] * len(events), mode="markers", name="drift event",
        marker={"symbol": "triangle-down", "size": 12, "color": "#DC2626"},
        text=events["detail"].astype(str), hovertemplate="job %{x}<br>%{text}<extra>drift</extra>"),
        **({"row": row, "col": col} if row is not None else {}))


# -- overview & what-if --------------------------------------------------------------------------------
def fig_policy_bars(table: pd.DataFrame, metric: str = "accuracy", *, highlight: str = "sls",
                    colors: Mapping[str, str] | None = None) -> go.Figure:
    """One bar per policy for `metric` ("accuracy", "cost_usd", "processing_time_s", "llm_calls"); the
    highlighted policy in the primary colour, single models in their model colour."""
    labels = {"accuracy": ("Accuracy by policy", "accuracy"), "cost_usd": ("Cost by policy", "cost (USD)"),
              "processing_time_s": ("Processing time by policy", "time (s)"),
              "llm_calls": ("LLM calls by policy", "LLM calls")}
    title, y_title = labels.get(metric, (f"{metric} by policy", metric))
    if _is_empty(table) or metric not in table:
        return fig_empty(title, "No runs to compare yet.", "policy", y_title)
    df = table[["policy", metric]].dropna()
    names = [str(p) for p in df["policy"]]
    models = [n.split(":", 1)[1] for n in names if n.startswith("single:")]
    bar_colors = []
    for n in names:
        if n == highlight:
            bar_colors.append(PRIMARY)
        elif n.startswith("single:"):
            bar_colors.append(_color(colors, n.split(":", 1)[1], models))
        else:
            bar_colors.append(POLICY_COLORS.get(n, "#9CA3AF"))
    values = df[metric].astype(float).to_numpy()
    text = [_fmt_metric(metric, v) for v in values]
    fig = go.Figure(go.Bar(x=[n.replace("single:", "") for n in names], y=values, marker_color=bar_colors,
                           text=text, textposition="outside", cliponaxis=False, name=metric,
                           hovertemplate="%{x}: %{text}<extra></extra>"))
    _layout(fig, title, "policy", y_title, showlegend=False)
    if metric == "accuracy":
        fig.update_yaxes(tickformat=".0%", range=[0, max(1.0, float(np.nanmax(values)) * 1.1)])
    fig.update_xaxes(tickangle=-30)
    return fig


def _fmt_metric(metric: str, value: float) -> str:
    if metric == "accuracy" or metric.endswith("_rate"):
        return fmt.pct(value)
    if metric.endswith("usd"):
        return fmt.usd(value)
    if metric.endswith("_s"):
        return fmt.ms(value)
    return fmt.count(value)


_POINT_STYLE = {
    # group: (symbol, size, default colour, text position)
    "baseline": ("diamond", 12, "#6B7280", "bottom center"),
    "sls variant": ("x", 11, "#818CF8", "bottom center"),
    "oracle": ("star", 16, "#111827", "top center"),
    "sls measured": ("circle-open", 9, "#818CF8", None),
    "sls frontier": ("circle", 8, PRIMARY, None),
    "current run": ("circle-open", 20, PRIMARY, "middle right"),
    "what-if": ("diamond-wide", 18, WHATIF, "top center"),
}
_GROUP_ORDER = ("baseline", "sls variant", "oracle", "sls measured", "sls frontier", "current run", "what-if")
_GROUP_NAMES = {"sls measured": "sls at each budget (mean of seeds, bar = min–max)",
                "sls frontier": "sls frontier (best at ≤ budget)"}
_HIDDEN_POLICIES = ("best-single",)   # identical to one of the single models: drawn once, as that model


def _hover(part) -> list[str]:
    """Hover texts of points: a frame, or a list of point records."""
    rows = part.to_dict("records") if isinstance(part, pd.DataFrame) else part
    return [f"<b>{r['label']}</b><br>accuracy {fmt.pct(r['accuracy'])}<br>cost {fmt.usd(r['cost_usd'])}"
            + (f"<br>budget {fmt.usd(b)}" if (b := r["budget_usd"]) is not None and not math.isnan(b) else "")
            for r in rows]


def _num(value) -> float:
    return math.nan if value is None else float(value)


def fig_cost_accuracy(points: pd.DataFrame, colors: Mapping[str, str] | None = None, *,
                      title: str = "Cost vs accuracy") -> go.Figure:
    """The cost–accuracy plane: every single model (one legend entry each, in its model colour), the
    baselines, the oracle, the `sls` frontier (a line over budgets), the current run and the what-if run.
    Up and to the left is better."""
    if _is_empty(points):
        return fig_empty(title, "No runs yet: load a trace in Data & models.", "total cost (USD)", "accuracy")
    df = points.dropna(subset=["cost_usd", "accuracy"])
    df = df[~((df["group"] == "baseline") & df["label"].isin(_HIDDEN_POLICIES))]
    # a few dozen points: grouped and sorted as plain records (pandas per group costs more than the figure)
    rows = df.to_dict("records")
    for r in rows:
        r["cost_usd"], r["accuracy"], r["budget_usd"] = _num(r["cost_usd"]), _num(r["accuracy"]), \
            _num(r.get("budget_usd"))
    fig = go.Figure()
    singles = sorted((r for r in rows if r["group"] == "single model"), key=lambda r: r["label"])
    names = [str(r["label"]) for r in singles]
    for r in singles:
        color = _color(colors, r["label"], names)
        fig.add_trace(go.Scatter(x=[r["cost_usd"]], y=[r["accuracy"]], mode="markers", name=r["label"],
                                 legendgroup="single models", legendgrouptitle_text="single models",
                                 marker={"symbol": "circle", "size": 12, "color": color,
                                         "line": {"width": 1, "color": "white"}},
                                 hovertext=_hover([r]), hoverinfo="text"))
    for group in _GROUP_ORDER:
        part = sorted((r for r in rows if r["group"] == group), key=lambda r: (r["cost_usd"], r["label"]))
        if not part:
            continue
        symbol, size, color, textpos = _POINT_STYLE[group]
        error_y = None
        if group == "sls measured" and {"accuracy_lo", "accuracy_hi"} <= set(df.columns):
            def spread(value) -> float:
                return 0.0 if value is None or math.isnan(value) else max(0.0, value)
            error_y = {"type": "data", "symmetric": False, "color": color, "thickness": 1.2, "width": 4,
                       "array": [spread(_num(r["accuracy_hi"]) - r["accuracy"]) for r in part],
                       "arrayminus": [spread(r["accuracy"] - _num(r["accuracy_lo"])) for r in part]}
        if group == "sls frontier":     # drawn in budget order: a staircase in money
            part = sorted(part, key=lambda r: math.inf if math.isnan(r["budget_usd"]) else r["budget_usd"])
        labels = [r["label"] for r in part]
        marker_color = [POLICY_COLORS.get(label, color) for label in labels] if group == "baseline" else color
        fig.add_trace(go.Scatter(
            x=[r["cost_usd"] for r in part], y=[r["accuracy"] for r in part], name=_GROUP_NAMES.get(group, group),
            error_y=error_y,
            mode="lines+markers" if group == "sls frontier" else ("markers" if textpos is None else "markers+text"),
            text=None if textpos is None else labels, textposition=textpos,
            textfont={"size": 11, "color": "#374151"}, hovertext=_hover(part), hoverinfo="text",
            marker={"symbol": symbol, "size": size, "color": marker_color,
                    "line": {"width": 2.5 if group in ("current run", "what-if") else 0.5,
                             "color": marker_color if group == "current run" else "white"}},
            line={"color": PRIMARY, "width": 2} if group == "sls frontier" else None))
    costs = df["cost_usd"].astype(float)
    positive = costs[costs > 0]
    log_x = len(positive) >= 2 and positive.max() / positive.min() > 30
    _layout(fig, title, "total cost (USD" + (", log scale)" if log_x else ")"), "accuracy", height=460)
    fig.update_layout(legend={"orientation": "v", "yanchor": "top", "y": 1.0, "xanchor": "left", "x": 1.02,
                              "groupclick": "toggleitem"}, margin={"r": 170})
    fig.update_yaxes(tickformat=".0%")
    fig.update_xaxes(type="log" if log_x else "linear", tickprefix="$", tickformat=USD_TICKS)
    return fig


def fig_spend_vs_budget(series: pd.DataFrame, budget_usd: float | None = None, *,
                        title: str = "Spend against budget") -> go.Figure:
    """Cumulative spend over the jobs of a run, with the budget line (where there is a budget)."""
    if _is_empty(series):
        return fig_empty(title, "No jobs processed yet.", "jobs processed", "spend (USD)")
    fig = go.Figure(go.Scatter(x=series["done"], y=series["cum_cost"], mode="lines", name="spend",
                               line={"color": PRIMARY, "width": 2.5},
                               hovertemplate="after %{x} jobs: $%{y:.4f}<extra>spend</extra>"))
    if budget_usd is not None and "budget_line" in series and series["budget_line"].notna().any():
        fig.add_trace(go.Scatter(x=series["done"], y=series["budget_line"], mode="lines", name="budget line",
                                 line={"color": "#9CA3AF", "dash": "dash"},
                                 hovertemplate="after %{x} jobs: $%{y:.4f}<extra>budget line</extra>"))
        fig.add_hline(y=budget_usd, line={"color": "#DC2626", "dash": "dot"},
                      annotation_text=f"budget {fmt.usd(budget_usd)}", annotation_position="top left")
    _layout(fig, title, "jobs processed", "cumulative spend (USD)")
    fig.update_yaxes(tickprefix="$", tickformat=USD_TICKS, rangemode="tozero")
    return fig


def fig_quality_over_time(series: pd.DataFrame, *, title: str = "Quality over time") -> go.Figure:
    """Rolling accuracy of the answers served vs the rolling predicted success of the chosen models."""
    if _is_empty(series):
        return fig_empty(title, "No jobs processed yet.", "jobs processed", "success")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=series["done"], y=series["rolling_accuracy"], mode="lines", name="observed, all jobs (rolling)",
                             line={"color": PRIMARY, "width": 2.5}))
    if series["rolling_predicted"].notna().any():      # predicted and actual over the same (model-answered) jobs
        fig.add_trace(go.Scatter(x=series["done"], y=series["rolling_predicted"], mode="lines",
                                 name="predicted, model-answered jobs", line={"color": WHATIF, "dash": "dash"}))
        if "rolling_called_accuracy" in series:
            fig.add_trace(go.Scatter(x=series["done"], y=series["rolling_called_accuracy"], mode="lines",
                                     name="actual, same jobs", line={"color": WHATIF, "width": 2}))
    fig.add_trace(go.Scatter(x=series["done"], y=series["cum_accuracy"], mode="lines", name="cumulative accuracy",
                             line={"color": "#9CA3AF", "width": 1.5}))
    _layout(fig, title, "jobs processed", "success rate")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return fig


def fig_dataset_accuracy(per_dataset: pd.DataFrame, *, title: str = "Accuracy per dataset") -> go.Figure:
    """Grouped bars: accuracy per dataset for each run (columns: dataset, run, accuracy)."""
    if _is_empty(per_dataset):
        return fig_empty(title, "No per-dataset figures yet.", "dataset", "accuracy")
    fig = go.Figure()
    datasets = sorted(per_dataset["dataset"].astype(str).unique())
    runs = list(dict.fromkeys(per_dataset["run"].astype(str)))
    for k, run in enumerate(runs):
        part = per_dataset[per_dataset["run"] == run].set_index("dataset").reindex(datasets)
        color = PRIMARY if k == 0 else ("#9CA3AF" if k == 1 else MODEL_PALETTE[k % len(MODEL_PALETTE)])
        fig.add_trace(go.Bar(x=datasets, y=part["accuracy"], name=run, marker_color=color,
                             hovertemplate="%{x}: %{y:.1%}<extra>" + run + "</extra>"))
    _layout(fig, title, "dataset", "accuracy", barmode="group")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_xaxes(categoryorder="array", categoryarray=datasets)
    return fig


# -- traffic & decisions -------------------------------------------------------------------------------
def fig_traffic_share(share: pd.DataFrame, colors: Mapping[str, str] | None = None, *,
                      title: str = "Traffic share per model over time") -> go.Figure:
    """Stacked areas: the share of jobs answered by each model, the cache, or refused, per window of jobs."""
    if _is_empty(share):
        return fig_empty(title, "No jobs yet: start a run.", "job sequence number", "share of jobs")
    fig = go.Figure()
    names = route_order(share["route"].astype(str).unique())
    for route in names:
        part = share[share["route"] == route].sort_values("start")
        fig.add_trace(go.Scatter(
            x=part["start"], y=part["share"], mode="lines", stackgroup="share", name=route,
            line={"width": 0.5, "color": _color(colors, route, names)},
            customdata=part["jobs"], hovertemplate="jobs %{x}+: %{y:.0%} (%{customdata} jobs)<extra>"
                                                   + route + "</extra>"))
    _layout(fig, title, "job sequence number (window start)", "share of jobs", legend_title="")
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    return fig


def fig_decision(rows: pd.DataFrame, colors: Mapping[str, str] | None = None, *, chosen: str | None = None,
                 title: str = "Why this model") -> go.Figure:
    """The decision table as four aligned bar panels per candidate model: predicted quality, cost, latency
    and utility. The chosen model's bars are outlined and its name starred."""
    if _is_empty(rows):
        return fig_empty(title, "No decision for this job (answered from the cache or refused).",
                         "value", "model")
    df = rows.sort_values(["utility", "model"], ascending=[True, False], kind="stable")
    models = df["model"].astype(str).tolist()
    ticks = [f"★ {m}" if m == chosen else m for m in models]
    fig = make_subplots(rows=1, cols=4, shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=("P(success)", "cost (USD)", "latency (s)", "utility"))
    bar_colors = [_color(colors, m, models) for m in models]
    outline = [2.5 if m == chosen else 0 for m in models]
    panels = (("p_success", lambda v: fmt.pct(v)), ("cost_usd", lambda v: fmt.usd(v)),
              ("latency_s", lambda v: fmt.ms(v)), ("utility", lambda v: f"{v:.3f}"))
    for c, (col, f) in enumerate(panels, start=1):
        values = df[col].astype(float).to_numpy()
        error = None
        if col == "p_success" and "p_std" in df and df["p_std"].notna().any():
            error = {"type": "data", "array": df["p_std"].astype(float).fillna(0).to_numpy(), "thickness": 1,
                     "color": "#6B7280"}
        fig.add_trace(go.Bar(x=values, y=ticks, orientation="h", marker_color=bar_colors, error_x=error,
                             marker_line={"width": outline, "color": "#111827"}, showlegend=False, name=col,
                             text=[f(v) for v in values], cliponaxis=False,
                             # P(success) text sits at the bar's start, clear of its ± error bar (which would
                             # strike it through); the other panels write their value just past the bar
                             textposition="inside" if col == "p_success" else "outside",
                             insidetextanchor="start", textfont={"size": 11},
                             hovertemplate="%{y}: %{text}<extra>" + col + "</extra>"), row=1, col=c)
    _layout(fig, title, "", "", height=max(260, 90 + 40 * len(models)), showlegend=False)
    fig.update_layout(margin={"l": 60, "r": 60, "t": 50, "b": 40})
    for c, col in enumerate(("cost_usd", "latency_s", "utility"), start=2):     # room for the outside labels
        v = df[col].astype(float)
        lo, hi = float(min(0.0, v.min())), float(max(0.0, v.max()))
        pad = (hi - lo) * 0.35 or 1e-9
        fig.update_xaxes(range=[lo - (pad if lo < 0 else 0), hi + (pad if hi > 0 else 0)], row=1, col=c)
    fig.update_yaxes(title_text="candidate model", automargin=True, row=1, col=1)
    fig.update_xaxes(title_text="probability", tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title_text="USD", tickprefix="$", tickformat=USD_TICKS, row=1, col=2)
    fig.update_xaxes(title_text="seconds", row=1, col=3)
    fig.update_xaxes(title_text="p − λ·cost − μ·latency", row=1, col=4)
    return fig


def fig_route_counts(jobs: pd.DataFrame, colors: Mapping[str, str] | None = None, *,
                     title: str = "Jobs per model") -> go.Figure:
    """Horizontal bars: how many jobs each model (or the cache) answered."""
    if _is_empty(jobs):
        return fig_empty(title, "No jobs match the filters.", "jobs", "answered by")
    counts = routes(jobs).value_counts()
    names = route_order(counts.index)[::-1]
    fig = go.Figure(go.Bar(x=[int(counts[n]) for n in names], y=names, orientation="h",
                           marker_color=[_color(colors, n, names) for n in names], showlegend=False,
                           hovertemplate="%{y}: %{x} jobs<extra></extra>"))
    _layout(fig, title, "jobs", "answered by", height=max(240, 60 + 30 * len(names)))
    return fig


# -- cache ---------------------------------------------------------------------------------------------
def _lines_per_task(df: pd.DataFrame, y: str, title: str, x_title: str, y_title: str, empty: str, *,
                    shape: str = "linear", percent: bool = False, integer: bool = False,
                    colors: Mapping[str, str] | None = None) -> go.Figure:
    if _is_empty(df):
        return fig_empty(title, empty, x_title, y_title)
    fig = go.Figure()
    tasks = sorted(df["task"].astype(str).unique())
    colors = {**task_colors(tasks), **(colors or {})}
    for task in tasks:
        part = df[df["task"] == task].sort_values("seq", kind="stable")
        fig.add_trace(go.Scatter(x=part["seq"], y=part[y], mode="lines", name=task,
                                 line={"color": colors[task], "width": 2, "shape": shape}))
    _layout(fig, title, x_title, y_title, legend_title="task")
    if percent:
        fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    else:
        fig.update_yaxes(rangemode="tozero")
    if integer:           # counts: whole-number ticks only (",d" alone labels 0.5 steps "0, 1, 1, 2, 2")
        fig.update_yaxes(tickformat=",d", rangemode="tozero", tick0=0, dtick=integer_dtick(df[y].max()))
    return fig


def integer_dtick(top) -> int:
    """A whole tick step (1, 2, 5 × 10^k) giving at most about six ticks up to `top`."""
    top = float(top) if top is not None and math.isfinite(float(top)) else 1.0
    raw = max(1.0, top / 6)
    k = 10 ** math.floor(math.log10(raw))
    return int(next(m * k for m in (1, 2, 5, 10) if m * k >= raw))


# -- a live workspace ------------------------------------------------------------------------------------
def fig_spend_over_time(spend: pd.DataFrame, colors: Mapping[str, str] | None = None, *, by: str = "model",
                        title: str | None = None) -> go.Figure:
    """Cumulative spend per model (or task) over wall-clock time, or over jobs when no time is recorded."""
    title = title or f"Spend over time by {by}"
    if _is_empty(spend):
        return fig_empty(title, "No jobs in this workspace yet.", "time", "spend (USD)")
    timed = pd.api.types.is_datetime64_any_dtype(spend["x"])
    groups = route_order(spend["group"].unique()) if by == "model" else sorted(spend["group"].unique())
    palette = {**(task_colors(groups) if by == "task" else {}), **(colors or {})}
    fig = go.Figure()
    for g in groups:
        part = spend[spend["group"] == g]
        fig.add_trace(go.Scatter(x=part["x"], y=part["cum_cost"], mode="lines", name=str(g), line_shape="hv",
                                 line={"color": _color(palette, g, groups), "width": 2},
                                 hovertemplate=f"{g}: $%{{y:.4f}} after %{{customdata}} jobs<extra></extra>",
                                 customdata=part["jobs"]))
    _layout(fig, title, "time (UTC)" if timed else "job number (the log records no times)",
            "cumulative spend (USD)", legend_title=by)
    fig.update_yaxes(tickprefix="$", tickformat=USD_TICKS, rangemode="tozero")
    if not timed:
        fig.update_xaxes(tickformat=",d")
    return fig


def fig_predicted_vs_verified(cal: pd.DataFrame, *, title: str = "Predicted success vs verified, per model "
                                                                  "(same jobs)") -> go.Figure:
    """Per model: mean predicted success and the verifier's pass rate over the same model-answered jobs."""
    if _is_empty(cal):
        return fig_empty(title, "No model-answered job with both a prediction and a verdict yet.", "model", "rate")
    fig = go.Figure([go.Bar(x=cal["model"], y=cal["predicted"], name="predicted", marker_color="#A5B4FC"),
                     go.Bar(x=cal["model"], y=cal["verified"], name="verified", marker_color=PRIMARY,
                            customdata=cal["jobs"], hovertemplate="%{x}: %{y:.0%} over %{customdata} jobs"
                                                                  "<extra>verified</extra>")])
    _layout(fig, title, "model", "success", barmode="group")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    return fig


def fig_hit_rate(hits: pd.DataFrame, colors: Mapping[str, str] | None = None, *,
                 title: str = "Cache hit rate over time (rolling, per task)") -> go.Figure:
    return _lines_per_task(hits, "hit_rate", title, "job sequence number", "hit rate",
                           "No cache activity: this run used no cache.", percent=True, colors=colors)


def fig_false_hits(false_hits: pd.DataFrame, colors: Mapping[str, str] | None = None, *,
                   title: str = "False cache hits (cumulative, per task)") -> go.Figure:
    return _lines_per_task(false_hits, "false_hits", title, "job sequence number", "false hits",
                           "No cache hits yet.", shape="hv", integer=True, colors=colors)


def fig_cache_size(sizes: pd.DataFrame, colors: Mapping[str, str] | None = None, *,
                   title: str = "Cache size over time (entries, per task)") -> go.Figure:
    return _lines_per_task(sizes, "size", title, "job sequence number (entry created)", "entries",
                           "No cache entries.", shape="hv", integer=True, colors=colors)


def fig_thresholds(thresholds: pd.DataFrame, colors: Mapping[str, str] | None = None, *,
                   title: str = "Similarity threshold per task over time") -> go.Figure:
    if _is_empty(thresholds):
        return fig_empty(title, "No threshold changes: the thresholds only move after feedback on a\n"
                                "semantic hit (log templates match exactly and need none).",
                         "job sequence number", "threshold")
    fig = _lines_per_task(thresholds.assign(threshold=thresholds["threshold"].astype(float)), "threshold", title,
                          "job sequence number", "cosine similarity threshold", "", shape="hv", colors=colors)
    fig.update_traces(mode="lines+markers")
    return fig


def fig_entries_by_model(entries: pd.DataFrame, colors: Mapping[str, str] | None = None, *,
                         title: str = "Cache entries and hits by producing model") -> go.Figure:
    if _is_empty(entries):
        return fig_empty(title, "The cache is empty.", "model", "count")
    g = entries.groupby("model").agg(entries=("entry_id", "size"), hits=("hits", "sum")).reset_index()
    g = g.sort_values("model", kind="stable")
    models = g["model"].astype(str).tolist()
    fig = go.Figure()
    fig.add_trace(go.Bar(x=models, y=g["entries"], name="entries",
                         marker_color=[_color(colors, m, models) for m in models]))
    fig.add_trace(go.Bar(x=models, y=g["hits"], name="hits served",
                         marker_color=[_color(colors, m, models) for m in models], marker_pattern_shape="/",
                         opacity=0.6))
    _layout(fig, title, "producing model", "count", barmode="group")
    return fig


# -- predictors & drift --------------------------------------------------------------------------------
def fig_predicted_vs_observed(rolling: pd.DataFrame, drift: pd.DataFrame | None = None,
                              colors: Mapping[str, str] | None = None, *, planted: pd.DataFrame | None = None,
                              title: str = "Predicted vs observed success (rolling)") -> go.Figure:
    """Small multiples, one row per model: rolling observed success (solid) and the predictor's rolling
    predicted success (dashed). Detected drift events are red dotted lines in their model's row; events the
    trace says were planted (EVENTS.json) are grey dashed lines, so a missed or late detection shows."""
    if _is_empty(rolling):
        return fig_empty(title, "No graded model calls yet.", "job sequence number", "success rate")
    models = sorted(rolling["model"].astype(str).unique())
    fig = make_subplots(rows=len(models), cols=1, shared_xaxes=True, vertical_spacing=0.04 if len(models) < 8
                        else 0.02, subplot_titles=models)
    for r, m in enumerate(models, start=1):
        part = rolling[rolling["model"] == m].sort_values("seq", kind="stable")
        color = _color(colors, m, models)
        fig.add_trace(go.Scatter(x=part["seq"], y=part["observed"], mode="lines", name="observed", legendgroup="o",
                                 showlegend=r == 1, line={"color": color, "width": 2},
                                 hovertemplate="job %{x}: observed %{y:.0%}<extra>" + m + "</extra>"), row=r, col=1)
        fig.add_trace(go.Scatter(x=part["seq"], y=part["predicted"], mode="lines", name="predicted",
                                 legendgroup="p", showlegend=r == 1,
                                 line={"color": color, "width": 1.5, "dash": "dash"},
                                 hovertemplate="job %{x}: predicted %{y:.0%}<extra>" + m + "</extra>"), row=r, col=1)
        for events, style, label in ((planted, {"color": "#6B7280", "dash": "dash", "width": 1.5}, "planted"),
                                     (drift, {"color": "#DC2626", "dash": "dot", "width": 2}, "detected")):
            if _is_empty(events):
                continue
            for ev in events[events["model"] == m].sort_values("seq", kind="stable").itertuples(index=False):
                fig.add_vline(x=float(ev.seq), line=style, row=r, col=1,
                              annotation_text=f"{label} drift", annotation_position="top left",
                              annotation_font={"size": 10, "color": style["color"]})
    _layout(fig, title, "", "", height=max(320, 60 + 130 * len(models)))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05], nticks=3)
    fig.update_xaxes(title_text="job sequence number", row=len(models), col=1)
    fig.update_yaxes(title_text="success rate", row=(len(models) + 1) // 2, col=1)
    fig.update_layout(legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
                      margin={"t": 80})
    return fig


def fig_rolling_error(rolling: pd.DataFrame, drift: pd.DataFrame | None = None,
                      colors: Mapping[str, str] | None = None, *, metric: str = "abs_error",
                      title: str = "Rolling prediction error") -> go.Figure:
    """Per model: rolling mean absolute error (or Brier score) of the quality predictor, drift marked."""
    y_title = "mean |observed − predicted|" if metric == "abs_error" else "Brier score"
    if _is_empty(rolling):
        return fig_empty(title, "No graded model calls yet.", "job sequence number", y_title)
    fig = go.Figure()
    models = sorted(rolling["model"].astype(str).unique())
    for m in models:
        part = rolling[rolling["model"] == m].sort_values("seq", kind="stable")
        fig.add_trace(go.Scatter(x=part["seq"], y=part[metric], mode="lines", name=m,
                                 line={"color": _color(colors, m, models), "width": 2}))
    top = float(np.nanmax(rolling[metric].astype(float))) if len(rolling) else 1.0
    _vlines(fig, _only(drift, models), colors, y=top * 1.05 if math.isfinite(top) and top > 0 else 1.0)
    _layout(fig, title, "job sequence number", y_title)
    fig.update_yaxes(rangemode="tozero")
    return fig


def fig_calibration(cal: pd.DataFrame, colors: Mapping[str, str] | None = None, *,
                    title: str = "Calibration: predicted vs observed success") -> go.Figure:
    """Reliability diagram per model; marker size grows with the number of observations in the bin."""
    if _is_empty(cal):
        return fig_empty(title, "No graded model calls yet.", "predicted success", "observed success")
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                               line={"color": "#9CA3AF", "dash": "dash"}, hoverinfo="skip"))
    models = sorted(cal["model"].astype(str).unique())
    n_max = max(1.0, float(cal["n"].max()))
    for m in models:
        part = cal[cal["model"] == m].sort_values("bin", kind="stable")
        sizes = (6 + 16 * np.sqrt(part["n"].astype(float) / n_max)).to_numpy()
        fig.add_trace(go.Scatter(x=part["predicted"], y=part["observed"], mode="lines+markers", name=m,
                                 marker={"size": sizes, "color": _color(colors, m, models)},
                                 line={"color": _color(colors, m, models), "width": 1.5},
                                 customdata=part["n"], hovertemplate="predicted %{x:.0%} → observed %{y:.0%}"
                                                                      " (%{customdata} calls)<extra>" + m + "</extra>"))
    _layout(fig, title, "predicted success (bin mean)", "observed success rate", height=420)
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    return fig


def fig_drift_aftermath(after: pd.DataFrame, *, title: str = "Around each drift event") -> go.Figure:
    """Per drift event: the model's observed success and traffic share on the event's task, before vs after."""
    if _is_empty(after):
        return fig_empty(title, "No drift detected in this run.", "drift event", "rate")
    tasks = after["task"] if "task" in after.columns else [None] * len(after)
    labels = [f"job {int(s)} · {m}" + (f" · {t}" if t else "")
              for s, m, t in zip(after["seq"], after["model"], tasks, strict=True)]
    fig = go.Figure()
    for col, name, color, pattern in (("observed_before", "success before", "#9CA3AF", ""),
                                      ("observed_after", "success after", PRIMARY, ""),
                                      ("share_before", "traffic share before", "#D1D5DB", "/"),
                                      ("share_after", "traffic share after", WHATIF, "/")):
        fig.add_trace(go.Bar(x=labels, y=after[col], name=name, marker_color=color, marker_pattern_shape=pattern,
                             hovertemplate="%{x}: %{y:.1%}<extra>" + name + "</extra>"))
    _layout(fig, title, "drift event", "rate", barmode="group")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return fig


def _only(drift: pd.DataFrame | None, models: Sequence[str]) -> pd.DataFrame | None:
    if _is_empty(drift):
        return None
    return drift[drift["model"].isin(models)]
