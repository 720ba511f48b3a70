"""Predictors & drift: how well each model's quality predictor tracks reality, and what drift did."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, gateway
from dashboard import components as ui

ALL_TASKS = "all tasks"

def planted_events(ctx: ui.TraceContext) -> None:
    events = gateway.trace_events(ctx.ref.path)
    if events:
        with st.expander("What the trace says happened (EVENTS.json)", icon=":material/flag:"):
            st.caption("Events the trace's author planted or recorded — compare them with what the engine detected.")
            st.json(events, expanded=True)


def render() -> None:
    ui.page_header("Predictors & drift", "Per model: predicted vs observed success over time, calibration, rolling "
                                         "error, and the drift events the engine detected.")
    if ui.source_is_workspace():
        ui.workspace_page("predictors")
        return
    ctx = ui.require_context()
    ui.trace_source_caption(ctx)
    ui.simulated_notice(ctx)
    run = ui.current_run(ctx)
    if run is None:
        return
    obs, drift = run.frames["observations"], run.frames["drift"]
    if obs.empty:
        ui.empty_state(f"The policy **{run.policy}** records no predictions (only the `sls` scheduler does), or the "
                       "feedback mode `none` graded nothing. Choose `sls` in Data & models → Engine settings.",
                       icon=":material/monitoring:")
        planted_events(ctx)
        return
    obs = data.with_task(obs, run.jobs)
    models = sorted(obs["model"].astype(str).unique())
    tasks = sorted(obs["task"].dropna().astype(str).unique())
    c0, c1, c2 = st.columns([1, 2, 1])
    task = c0.selectbox("Task", [ALL_TASKS, *tasks], key="predictors.task",
                        help="Drift often hits one task: look at a model's calls on that task alone.")
    task = None if task == ALL_TASKS else task
    obs, drift = data.only_task(obs, task), data.only_task(drift, task)
    picked = c1.multiselect("Models", models, default=models, key="predictors.models")
    per_model = len(obs) // max(1, len(models))
    default = int(min(200, max(30, round(per_model / 6, -1))))
    window = c2.slider("Rolling window (calls)", 10, 500, default, step=10, key="predictors.window",
                       help="Each point averages this many of the model's most recent graded calls.")
    sel = obs[obs["model"].isin(picked or models)]
    rolling = data.rolling_predictions(sel, window)
    st.caption(f"{len(sel):,} graded model calls · feedback **{run.metrics.get('feedback', 'n/a')}** · "
               f"{len(drift)} drift event(s) detected")
    planted = data.only_task(data.planted_drift(gateway.trace_events(ctx.ref.path)), task)
    ui.show_figure(charts.fig_predicted_vs_observed(rolling, drift, ctx.colors, planted=planted), "predictors.pvo")
    if not planted.empty:
        st.caption("Grey dashed lines: drift the trace says was planted (EVENTS.json); red dotted lines: drift the "
                   "engine detected.")
    left, right = st.columns(2)
    with left:
        ui.show_figure(charts.fig_calibration(data.calibration(sel), ctx.colors), "predictors.calibration")
    with right:
        ui.show_figure(charts.fig_rolling_error(rolling, drift, ctx.colors), "predictors.error")
    st.subheader("Calibration summary")
    summary = data.calibration_summary(sel)
    st.dataframe(summary, hide_index=True, width="stretch", key="predictors.summary", column_config={
        "n": st.column_config.NumberColumn("graded calls"),
        "predicted": st.column_config.NumberColumn("mean predicted", format="percent"),
        "observed": st.column_config.NumberColumn("mean observed", format="percent"),
        "brier": st.column_config.NumberColumn("Brier score", format="%.3f"),
        "abs_error": st.column_config.NumberColumn("mean |error|", format="%.3f"),
    })
    st.subheader("Drift events and what happened next")
    if drift.empty:
        ui.empty_state("No drift detected in this run: each model's prediction errors stayed stable.")
    else:
        after = data.drift_aftermath(drift, obs, run.jobs, window=window)
        ui.show_figure(charts.fig_drift_aftermath(after), "predictors.aftermath")
        st.dataframe(after, hide_index=True, width="stretch", key="predictors.drift", column_config={
            "seq": st.column_config.NumberColumn("job #"),
            "detail": st.column_config.TextColumn("detail", width="large"),
            **{c: st.column_config.NumberColumn(c.replace("_", " "), format="percent")
               for c in after.columns if c.startswith(("observed_", "predicted_", "share_"))},
            **{c: st.column_config.NumberColumn(c.replace("_", " "), format="%.3f")
               for c in after.columns if c.startswith("error_")},
        })
        st.caption(f"Before/after, on the event's task: the {window} graded calls of that model on that task (and "
                   f"the task's {window} jobs, for its traffic share) on each side of the event. On drift the engine "
                   "re-weights that model's predictor, so its error should fall again and traffic should follow the "
                   "new success rate.")
    planted_events(ctx)


render()
