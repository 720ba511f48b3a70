"""Decisions: where the traffic went over time, and for any job, each model's prediction and the reason."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data
from dashboard import components as ui
from dashboard import formatting as fmt


def filters(jobs) -> tuple[list[str], list[str], list[str]]:
    c1, c2, c3 = st.columns(3)
    tasks = c1.multiselect("Task", sorted(jobs["task"].unique()), key="decisions.tasks", placeholder="all tasks")
    datasets = c2.multiselect("Dataset", sorted(jobs["dataset"].unique()), key="decisions.datasets",
                              placeholder="all datasets")
    routes = charts.route_order(data.routes(jobs).unique())
    models = c3.multiselect("Answered by", routes, key="decisions.models", placeholder="every model and the cache")
    return tasks, datasets, models


def job_explorer(ctx: ui.TraceContext, run, filtered) -> None:
    st.subheader("Why this model?")
    frames = run.frames
    decided = filtered[filtered["seq"].isin(frames["decisions"]["seq"])]
    if decided.empty:
        ui.empty_state("No decided job matches the filters (cache hits and refusals have no decision table).")
        return
    labels = {int(r.seq): f"#{r.seq} · {r.job_id} · {r.task}/{r.dataset} → {r.model}"
              for r in decided.itertuples(index=False)}
    seqs = list(labels)
    c1, c2 = st.columns([3, 1])
    default = data.typical_decision(decided, frames["decisions"])
    pick = c1.selectbox(f"Job ({len(seqs):,} decided jobs match)", seqs, format_func=labels.get,
                        index=seqs.index(default) if default in seqs else 0, key="decisions.job",
                        help="Opens on a typical decision: late in the run, not an exploration, answered "
                             "correctly by the model first chosen.")
    c2.caption("Tip: type in the box to search by job id, task, dataset or model.")
    rows, head = data.job_decision(frames["table"], frames["decisions"], int(pick))
    job = ctx.trace.queries.iloc[int(pick)] if int(pick) < ctx.trace.n_queries else None
    outcome = decided[decided["seq"] == pick].iloc[0]
    if job is not None:
        with st.container(border=True):
            st.markdown(f"**Job** {fmt.code(job['query_id'])} · task {fmt.code(job['task'])} · dataset "
                        f"{fmt.code(job['dataset'])}")
            st.code(str(job["text"])[:2000], language=None, wrap_lines=True)
    chosen = head.get("chosen")
    reason = head.get("reason") or "—"
    st.success(f"**Chose** {fmt.code(chosen)} — {fmt.md(reason)}", icon=":material/alt_route:")
    final = outcome["model"]
    st.caption(f"Answered by {fmt.code(final)} after {int(outcome['attempts'])} call(s) · score "
               f"{fmt.number(outcome['score'], 2)} · cost {fmt.usd(outcome['cost_usd'])} · predicted "
               f"{fmt.pct(outcome['predicted_p'])}" + (f" · λ = {head['lambda']}" if head.get("lambda") is not None
                                                       else ""))
    ui.show_figure(charts.fig_decision(rows, ctx.colors, chosen=chosen, title=f"Candidates for job #{pick}"),
                   "decisions.fig")
    shown = rows[["model", "p_success", "p_std", "cost_usd", "latency_s", "utility"]]
    st.dataframe(shown, hide_index=True, width="stretch", key="decisions.table", column_config={
        "p_success": st.column_config.NumberColumn("P(success)", format="percent"),
        "p_std": st.column_config.NumberColumn("± std", format="%.3f"),
        "cost_usd": st.column_config.NumberColumn("predicted cost", format="$%.6f"),
        "latency_s": st.column_config.NumberColumn("predicted latency (s)", format="%.2f"),
        "utility": st.column_config.NumberColumn("utility", format="%.4f"),
    })
    st.caption("utility = P(success) − λ·cost/c_ref − μ·latency/l_ref, with c_ref the median candidate's predicted "
               "cost and l_ref the slowest candidate's latency (★ = chosen). Exploration samples P(success) from "
               "its uncertainty, so the top-utility model is not always the one chosen.")


def render() -> None:
    ui.page_header("Decisions", "Where every job went, and why: traffic per model over time, and each model's "
                                "predicted quality, cost, latency and utility for any job.")
    if ui.source_is_workspace():
        ui.workspace_page("decisions")
        return
    ctx = ui.require_context()
    ui.trace_source_caption(ctx)
    ui.simulated_notice(ctx)
    run = ui.current_run(ctx)
    if run is None:
        return
    jobs = run.jobs
    tasks, datasets, models = filters(jobs)
    filtered = data.filter_jobs(jobs, tasks, datasets, models)
    st.caption(f"{len(filtered):,} of {len(jobs):,} jobs · policy {fmt.code(run.policy)}")
    c1, c2 = st.columns([3, 1])
    with c1:
        ui.show_figure(charts.fig_traffic_share(data.traffic_share(filtered), ctx.colors), "decisions.share")
    with c2:
        ui.show_figure(charts.fig_route_counts(filtered, ctx.colors), "decisions.counts")
    if not run.insights:
        ui.empty_state(f"The policy {fmt.code(run.policy)} records no decision tables (only the `sls` scheduler explains "
                       "its choices). Pick `sls` in Data & models → Engine settings.")
        return
    job_explorer(ctx, run, filtered)


render()
