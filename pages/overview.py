"""Overview: the stakeholder headline — the current run against the best single model and the baselines."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, gateway
from dashboard import components as ui
from dashboard import formatting as fmt


def money_sentence(policy: str, story: dict) -> tuple[str, str | None]:
    """(the first line: what was saved against the most accurate model, at what quality; the second: against
    the cheapest model as accurate, and where the saving comes from)."""
    top, match, split = story.get("top"), story.get("match"), story.get("split")
    budget = story.get("budget_usd")
    scenario = f"With a budget of **{fmt.usd(budget)}**" if budget else "Without a budget"
    if not top:
        return (f"{scenario}, **{fmt.code(policy)}** reached **{fmt.pct(story.get('accuracy'))}** accuracy for "
                f"**{fmt.usd(story.get('cost_usd'))}**.", None)

    def saved(c: dict) -> str:
        amount, share = c["saving_usd"], c["saving_pct"]
        if amount >= 0:
            return f"**saved {fmt.usd(amount)}**" + (f" (**{fmt.pct(share, digits=0)}**)" if share is not None else "")
        return f"**spent {fmt.usd(-amount)} more**" + (f" ({fmt.pct(-share, digits=0)})" if share is not None else "")

    def quality(c: dict) -> str:
        gap = c["accuracy_delta"]
        if abs(gap) < 5e-4:
            return "at the same accuracy"
        return f"at **{fmt.pp(gap)}** accuracy ({fmt.pct(story['accuracy'])} vs {fmt.pct(c['accuracy'])})"

    first = (f"{scenario}, the scheduler {saved(top)} against always calling the most accurate model "
             f"{fmt.code(top['model'])} ({fmt.usd(top['cost_usd'])} for {fmt.count(story.get('queries'))} jobs), "
             f"{quality(top)}.")
    parts = []
    if match and match["model"] != top["model"]:
        parts.append(f"Against {fmt.code(match['model'])}, the cheapest model as accurate as the scheduler: "
                     f"{saved(match)}, {quality(match)}.")
    elif not match:
        parts.append("No single model is as accurate as the scheduler here.")
    if split:
        pacing = split["pacing_usd"]
        pieces = [f"cache **{fmt.usd(split['cache_usd'], signed=True)}** ({fmt.count(split['cache_hits'])} hits)",
                  f"routing **{fmt.usd(split['routing_usd'], signed=True)}**",
                  "pacing " + (f"**{fmt.usd(pacing, signed=True)}**" if pacing is not None else
                               ("— (no budget)" if not budget else "… (being replayed)"))]
        parts.append(f"Saving against {fmt.code(top['model'])} by source: " + " · ".join(pieces) + ".")
    return first, " ".join(parts) or None


def kpis(h: dict, run_metrics: dict, series) -> None:
    """Six cards in two rows; sparklines show how accuracy and spend developed over the run."""
    cols = [*st.columns(3), *st.columns(3)]
    best = h.get("best_single")
    spark = series.iloc[:: max(1, len(series) // 60)] if series is not None and len(series) else None
    with cols[0]:
        ui.metric("Accuracy", fmt.pct(h["accuracy"]),
                  f"{fmt.pp(h['accuracy_delta'])} vs the best single model" if best else None,
                  help="Mean score over graded jobs (a refused job scores 0). Sparkline: rolling accuracy.",
                  chart_data=None if spark is None else spark["rolling_accuracy"].round(4).tolist())
    with cols[1]:
        ui.metric("Cost", fmt.usd(h["cost_usd"]),
                  f"{fmt.usd(-h['saving_usd'], signed=True)} ({fmt.pct(-h['saving_pct'], digits=0, signed=True)}) "
                  "vs the best single model" if best else None, delta_color="inverse",
                  help="Total spend of the run in USD. Sparkline: cumulative spend.",
                  chart_data=None if spark is None else spark["cum_cost"].round(6).tolist(), chart_type="area")
    with cols[2]:
        ui.metric("Processing time", fmt.ms(h["processing_time_s"]),
                  f"{fmt.pct(-h['time_saving_pct'], digits=0, signed=True)} vs the best single model" if best else None,
                  delta_color="inverse",
                  help="API time (modelled from the catalog's latency model where the trace records none) "
                       "plus measured engine time.")
    with cols[3]:
        ui.metric("LLM calls", fmt.count(h["llm_calls"]),
                  f"{fmt.count(-h['calls_saved'])} vs the best single model" if best else None, delta_color="inverse",
                  help="Model calls including escalations; cache hits make none.")
    with cols[4]:
        ui.metric("Cache hit rate", fmt.pct(h["cache_hit_rate"]),
                  f"{fmt.pct(run_metrics.get('false_hit_rate'))} of hits were false", delta_color="off",
                  help="Jobs answered from the cache; false hits are cache answers feedback proved wrong.")
    with cols[5]:
        budget = h.get("budget_usd")
        if budget:
            ui.metric("Spend vs budget", fmt.pct(h["cost_usd"] / budget, digits=0),
                      f"of {fmt.usd(budget)}", delta_color="off", help="Share of the run's budget spent.")
        else:
            ui.metric("Spend vs budget", "no budget", "set one in Data & models → Engine settings",
                      delta_color="off")


def pacing_ablation(ctx: ui.TraceContext) -> tuple[dict | None, list[tuple[str, dict]]]:
    """The same run with pacing off (`sls-no-pacing`, same budget): (its metrics when done, its job for the
    status note). A kept result is read without loading the engine; otherwise it is queued."""
    gw = gateway.get_gateway()
    params = ui.run_params()
    key = gw.result_key(ctx.key, "sls-no-pacing", params, ctx.catalog_json)
    metrics = gw.cached_metrics(key)
    if metrics is None and gw.policy_missing("sls-no-pacing"):
        return None, []
    if metrics is None and gw.submit(ctx.key, "sls-no-pacing", params, ctx.catalog_json) == "done":
        metrics = gw.cached_metrics(key)
    return metrics, [("sls-no-pacing", params)]


def render() -> None:
    if ui.source_is_workspace():
        ui.page_header("Overview", "What the live scheduler did in its workspace: jobs, spend, latency, cache.")
        ui.workspace_page("overview")
        return
    ui.page_header("Overview", "What the scheduler saves on this trace, at what quality, against the most accurate "
                               "model and every baseline.")
    ctx = ui.require_context()
    ui.trace_source_caption(ctx)
    ui.simulated_notice(ctx, first_open=True)
    gw = gateway.get_gateway()
    raw = ui.baselines(ctx)
    run = ui.current_run(ctx)
    slow, slow_jobs = ui.slow_baselines(ctx)      # queued after the current run, so they never slow it down
    raw = raw + slow
    table = ui.metrics_table(raw)
    if table.empty and run is None:
        ui.empty_state("Nothing to show yet: the replay engine is not available in this installation.")
        return
    policy = ui.current_policy()
    current = run.metrics if run is not None else None
    head = st.container()       # the headline goes above the figures, but is drawn after the first one: the
    points = data.cost_accuracy_points(table, current=current)   # figure needs only the metrics, so it shows first
    left, right = st.columns([3, 2])
    with left:
        ui.show_figure(charts.fig_cost_accuracy(points, ctx.colors, title="Cost vs accuracy: this run and every "
                                                                          "baseline"), "overview.cost_accuracy")
    with head:
        if current:
            h = data.headline(current, table)
            no_pacing, jobs = pacing_ablation(ctx) if current.get("budget_usd") is not None and policy == "sls" \
                else (None, [])
            slow_jobs = [*slow_jobs, *jobs]
            priced = gw.trace_for_run(ctx.key, ctx.catalog_json)
            story = data.money_story(current, table, run.jobs, priced.costs, ctx.models, no_pacing)
            first, second = money_sentence(policy, story)
            edited = gateway.repriced_models(ctx.trace, gw.catalog(ctx.trace, ctx.catalog_json)) \
                if ctx.catalog_json else []
            if edited:
                second = (second or "") + (" **Re-priced**: charged costs use the edited catalog's prices for "
                                           + ", ".join(fmt.code(m) for m in edited) + ".")
            st.markdown("### " + first)
            if second:
                st.markdown(second)
            series = data.run_series(run.jobs, current.get("budget_usd"), ctx.trace.n_queries)
            kpis(h, current, series)
            time_from = "modelled from the catalog latency model" if current.get("latency_modelled") else "recorded"
            st.caption(f"Feedback mode **{current.get('feedback', 'n/a')}** · scoring "
                       f"**{current.get('scoring', 'n/a')}** · {ctx.trace.n_queries:,} jobs · time {time_from} · "
                       "baselines run without a budget.")
        ui.background_status(ctx, slow_jobs, "the published baselines (OptLLM, cascade) and the pacing ablation")
    with right:
        if run is not None:
            ui.show_figure(charts.fig_spend_vs_budget(series, current.get("budget_usd")), "overview.spend")
        else:
            ui.show_figure(charts.fig_policy_bars(table, "cost_usd", highlight=policy, colors=ctx.colors),
                           "overview.cost_bars")

    st.subheader("Against every baseline")
    if current:
        ui.table(data.comparison(current, table), "overview.table", hide=("calls_saved",))
    else:
        ui.table(table[["policy", "kind", "accuracy", "cost_usd", "processing_time_s", "llm_calls"]], "overview.table")
    st.caption("Savings are the baseline's cost minus this run's; accuracy Δ is this run's accuracy minus the "
               "baseline's, in percentage points. `best-single` and `oracle` look at every outcome in hindsight: "
               "they are bounds, not policies one could run.")
    c1, c2 = st.columns(2)
    bars = ui.metrics_table(([current] if current else []) + raw)
    with c1:
        ui.show_figure(charts.fig_policy_bars(bars, "accuracy", highlight=policy, colors=ctx.colors),
                       "overview.acc_bars")
    with c2:
        ui.show_figure(charts.fig_policy_bars(bars, "cost_usd", highlight=policy, colors=ctx.colors),
                       "overview.cost_bars2")
    if current and current.get("per_dataset"):
        best = data.best_single(table)
        runs = {policy: current}
        if best is not None:
            runs[f"best single ({str(best['policy']).split(':', 1)[1]})"] = data.metrics_by_policy(raw, best["policy"])
        ui.show_figure(charts.fig_dataset_accuracy(data.per_dataset_frame(runs)), "overview.datasets")


render()
