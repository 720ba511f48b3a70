"""Cache: hit rate over time per task, false hits, size, thresholds, and the entries themselves."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data
from dashboard import components as ui
from dashboard import formatting as fmt


def entries_table(ctx: ui.TraceContext, entries) -> None:
    st.subheader("Entries")
    if entries.empty:
        ui.empty_state("The cache holds no entries at the end of this run.")
        return
    c1, c2, c3 = st.columns([2, 1, 1])
    query = c1.text_input("Search", key="cache.search", placeholder="text in the key, answer, model or dataset",
                          icon=":material/search:")
    tasks = c2.multiselect("Task", sorted(entries["task"].astype(str).unique()), key="cache.tasks",
                           placeholder="all tasks")
    models = c3.multiselect("Producing model", sorted(entries["model"].astype(str).unique()), key="cache.models",
                            placeholder="all models")
    found = data.search_entries(entries, query, tasks, models)
    st.caption(f"{len(found):,} of {len(entries):,} entries, most used first")
    cols = [c for c in ("task", "dataset", "key", "answer", "model", "hits", "last_used", "created", "score",
                        "entry_id") if c in found.columns]
    st.dataframe(found[cols], hide_index=True, width="stretch", height=380, key="cache.entries", column_config={
        "key": st.column_config.TextColumn("key (line / request)", width="large"),
        "answer": st.column_config.TextColumn("answer", width="large"),
        "model": st.column_config.TextColumn("producing model"),
        "hits": st.column_config.NumberColumn("hits"),
        "last_used": st.column_config.NumberColumn("last used (job #)"),
        "created": st.column_config.NumberColumn("created (job #)"),
        "score": st.column_config.NumberColumn("score", format="%.2f"),
    })
    ui.download_csv(found[cols], "Download entries (CSV)", "cache_entries.csv", "cache.download")


def render() -> None:
    ui.page_header("Cache", "How often earlier work answered a job, how often that was wrong, and what the cache "
                            "holds.")
    if ui.source_is_workspace():
        ui.workspace_page("cache")
        return
    ctx = ui.require_context()
    ui.trace_source_caption(ctx)
    ui.simulated_notice(ctx)
    run = ui.current_run(ctx)
    if run is None:
        return
    jobs, frames = run.jobs, run.frames
    hits = int((jobs["source"] == "cache").sum())
    entries = frames["entries"]
    if hits == 0 and entries.empty:
        ui.empty_state(f"This run (policy **{run.policy}**) used no cache. Choose `sls` with the cache on in "
                       "Data & models → Engine settings, or try it in What-if budgets.", icon=":material/cached:")
        return
    m = run.metrics
    c = st.columns(5)
    with c[0]:
        ui.metric("Hit rate", fmt.pct(m.get("cache_hit_rate")), f"{fmt.count(hits)} hits", delta_color="off")
    with c[1]:
        ui.metric("False hits", fmt.count(m.get("false_hits", int(jobs["false_hit"].sum()))),
                  f"{fmt.pct(m.get('false_hit_rate'))} of hits", delta_color="off",
                  help="Cache answers that feedback proved wrong.")
    with c[2]:
        ui.metric("Entries", fmt.count(len(entries)))
    with c[3]:
        ui.metric("Hits served by entries", fmt.count(entries["hits"].sum() if not entries.empty else 0))
    with c[4]:
        ui.metric("LLM calls avoided", fmt.count(hits), help="Each cache hit is a job answered without a model call.")
    left, right = st.columns(2)
    with left:
        ui.show_figure(charts.fig_hit_rate(data.hit_rate_over_time(jobs), ctx.task_colors), "cache.hit_rate")
        ui.show_figure(charts.fig_cache_size(data.cache_size_over_time(entries), ctx.task_colors), "cache.size")
    with right:
        ui.show_figure(charts.fig_false_hits(data.false_hits_over_time(jobs), ctx.task_colors), "cache.false_hits")
        ui.show_figure(charts.fig_thresholds(frames["thresholds"], ctx.task_colors), "cache.thresholds")
    ui.show_figure(charts.fig_entries_by_model(entries, ctx.colors), "cache.by_model")
    entries_table(ctx, entries)
    if frames["cache_stats"]:
        with st.expander("Cache statistics (raw)"):
            st.json(frames["cache_stats"], expanded=False)


render()
