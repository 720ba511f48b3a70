"""What-if budgets: move the budget and the weights, re-run the scheduler, and see what you get for the money."""

from __future__ import annotations

import logging
import time

import pandas as pd
import streamlit as st

from dashboard import charts, data, gateway
from dashboard import components as ui
from dashboard import formatting as fmt

log = logging.getLogger(__name__)


def controls(ctx: ui.TraceContext, table) -> dict:
    settings = ui.engine_settings()
    options, default = data.budget_options(table)
    st.session_state["whatif.budget_options"] = options
    with st.container(border=True):
        st.markdown("**Scenario**")
        budget = st.select_slider("Budget for the whole trace (USD)", options=options, value=default,
                                  format_func=fmt.usd, key="whatif.budget",
                                  disabled=bool(st.session_state.get("whatif.unlimited")),
                                  help="Total spend allowed for the replay (round numbers on a log scale, up to "
                                       "what the dearest model costs alone); the scheduler paces itself to it.")
        unlimited = st.toggle("No budget", key="whatif.unlimited", help="Let the scheduler spend what it wants.")
        cost_w = st.slider("Cost weight λ", 0.0, 1.0, float(min(1.0, settings.get("cost_weight", 0.15))), 0.01,
                           key="whatif.cost_weight", help="Success probability one median-priced call is worth (its "
                                                          "starting value when there is a budget: then it is paced).")
        lat_w = st.slider("Latency weight μ", 0.0, 1.0, float(min(1.0, settings.get("latency_weight", 0.0))), 0.01,
                          key="whatif.latency_weight")
        models = st.multiselect("Models to include", ctx.models, default=ctx.models, key="whatif.models",
                                help="The scheduler only chooses among these.")
        cache = st.toggle("Cache on", value=bool(settings.get("cache", True)), key="whatif.cache")
    pp = {"cost_weight": round(cost_w, 4), "latency_weight": round(lat_w, 4), "cache": bool(cache),
          "max_attempts": int(settings.get("max_attempts", 3))}
    if set(models) != set(ctx.models):
        pp["models"] = sorted(models)
    return {**ui.baseline_params(settings), "budget_usd": None if unlimited else round(float(budget), 6),
            "policy_params": pp}


def rerun(ctx: ui.TraceContext, params: dict):
    """The what-if replay (remembered per parameters); returns (bundle, seconds, whether it ran now)."""
    fresh = gateway.cached_run(ctx.key, "sls", gateway.params_key(params), ctx.catalog_json) is None
    t0 = time.perf_counter()
    bundle = ui.replay(ctx, "sls", params, f"Re-running the scheduler on {ctx.trace.n_queries:,} jobs")
    elapsed = time.perf_counter() - t0
    if fresh:
        log.info("what-if re-run took %.3f s (%s)", elapsed, gateway.params_key(params))
        st.session_state.setdefault("whatif.timings", []).append(round(elapsed, 3))
    return bundle, elapsed, fresh


def frontier(ctx: ui.TraceContext, table) -> tuple[pd.DataFrame, list[tuple[str, dict]]]:
    """The sls frontier: sls at a few budgets with the engine settings' weights. Points are replayed on the
    background worker (each remembered on its own) and drawn as they land."""
    budgets = data.frontier_budgets(table)
    gw = gateway.get_gateway()
    base = ui.run_params()
    metrics, jobs = [], []
    for budget in budgets:
        params = {**base, "budget_usd": budget}
        jobs.append(("sls", params))
        if gw.submit(ctx.key, "sls", params, ctx.catalog_json) == "done":
            bundle = gateway.cached_run(ctx.key, "sls", gateway.params_key(params), ctx.catalog_json)
            metrics.append({**bundle.metrics, "budget_usd": budget})
    return data.metrics_table(metrics), jobs


def beside(current: dict | None, whatif: dict) -> None:
    delta = data.whatif_delta(current, whatif)
    cols = [*st.columns(3), *st.columns(3)]
    for col, row in zip(cols, delta.itertuples(index=False), strict=True):
        value, change = row.what_if, row.delta
        if row.metric == "accuracy":
            shown, d = fmt.pct(value), fmt.pp(change) if change is not None else None
        elif row.metric == "cost_usd":
            shown, d = fmt.usd(value), fmt.usd(change, signed=True) if change is not None else None
        elif row.metric == "processing_time_s":
            shown, d = fmt.ms(value), (("+" if change > 0 else "−") + fmt.ms(abs(change))) if change else None
        elif row.metric == "cache_hit_rate":
            shown, d = fmt.pct(value), fmt.pp(change) if change is not None else None
        else:
            shown, d = fmt.count(value), (f"{change:+,.0f}" if change is not None else None)
        if change is None or abs(change) < 1e-12:
            d = None            # no change: no arrow
        inverse = row.metric in ("cost_usd", "processing_time_s", "llm_calls", "refused")
        with col:
            ui.metric(row.label, shown, d, delta_color="inverse" if inverse else "normal",
                      help=f"current run: {row.current}" if row.current is not None else None)
    st.caption("Deltas are against the current run (engine settings on the whole trace)." if current else
               "No current run to compare with yet.")


def render() -> None:
    ui.page_header("What-if budgets", "Move the budget and the weights: the scheduler replays the trace with them "
                                      "and shows what you would get for the money.")
    ctx = ui.require_context()
    ui.simulated_notice(ctx)
    gw = gateway.get_gateway()
    quick = ui.baselines(ctx)
    table = ui.metrics_table(quick)
    if table.empty:
        ui.not_available(gw.feature("replay") or "No baselines could be computed for this trace.")
        return
    left, right = st.columns([1, 3])
    with left:
        params = controls(ctx, table)
    missing = gw.policy_missing("sls")
    with right:
        if missing:
            ui.not_available(missing, "The what-if replay needs it; meanwhile, the baselines:")
            ui.show_figure(charts.fig_cost_accuracy(data.cost_accuracy_points(table), ctx.colors), "whatif.chart")
            return
        if "models" in params["policy_params"] and not params["policy_params"]["models"]:
            ui.empty_state("Pick at least one model.")
            return
        bundle, elapsed, fresh = rerun(ctx, params)
        whatif = bundle.metrics
        policy, current_params = ui.current_policy(), ui.run_params()
        current_job = [] if gw.policy_missing(policy) else [(policy, current_params)]
        if current_job:
            gw.submit(ctx.key, policy, current_params, ctx.catalog_json)   # at once when it ran before
        current_bundle = gateway.cached_run(ctx.key, policy, gateway.params_key(current_params), ctx.catalog_json) \
            if current_job else None
        current = current_bundle.metrics if current_bundle else None
        budget = params["budget_usd"]
        st.markdown(f"**With {'no budget' if budget is None else fmt.usd(budget)}** the scheduler reaches "
                    f"**{fmt.pct(whatif.get('accuracy'))}** accuracy for **{fmt.usd(whatif.get('cost_usd'))}**.")
        st.caption((f"Re-ran {ctx.trace.n_queries:,} jobs in {fmt.ms(elapsed)}" if fresh else
                    "Result remembered from an earlier run with these settings") +
                   f" · feedback {whatif.get('feedback')} · baselines without a budget")
        beside(current, whatif)
        slow, slow_jobs = ui.slow_baselines(ctx)
        front, front_jobs = frontier(ctx, table)
        ui.background_status(ctx, current_job + front_jobs + slow_jobs,
                             "the current run, the sls frontier and the published baselines")
        everything = ui.metrics_table(quick + slow)
        points = data.cost_accuracy_points(everything, front, current, whatif)
        ui.show_figure(charts.fig_cost_accuracy(points, ctx.colors, title="Cost vs accuracy: sls frontier, every "
                                                                          "single model and the baselines"),
                       "whatif.chart")
        ui.download_csv(points, "Download these results (CSV)", "what_if_results.csv", "whatif.download")
    c1, c2 = st.columns(2)
    series = data.run_series(bundle.jobs, budget, ctx.trace.n_queries)
    with c1:
        ui.show_figure(charts.fig_spend_vs_budget(series, budget, title="What-if: spend against budget"),
                       "whatif.spend")
    with c2:
        ui.show_figure(charts.fig_traffic_share(data.traffic_share(bundle.jobs), ctx.colors,
                                                title="What-if: traffic share per model"), "whatif.share")


render()
