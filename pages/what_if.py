"""What-if budgets: move the budget and the weights, re-run the scheduler, and see what you get for the money."""

from __future__ import annotations

import logging
import math
import time

import pandas as pd
import streamlit as st

from dashboard import charts, data, gateway
from dashboard import components as ui
from dashboard import formatting as fmt

log = logging.getLogger(__name__)


def from_url(options: list[float], default: float) -> None:
    """A shared scenario (`?budget=2.5&cost_weight=0.2&latency_weight=0&cache=1`) seeds the controls once."""
    ss, q = st.session_state, st.query_params
    if ss.get("whatif.from_url"):
        return
    ss["whatif.from_url"] = True
    try:
        if "budget" in q:
            if q["budget"] in ("none", "None", ""):
                ss["whatif.unlimited"] = True
            else:
                want = float(q["budget"])
                ss["whatif.budget"] = min(options, key=lambda o: abs(o - want)) if options else default
        for name in ("cost_weight", "latency_weight"):
            if name in q:
                ss[f"whatif.{name}"] = min(1.0, max(0.0, float(q[name])))
        if "cache" in q:
            ss["whatif.cache"] = q["cache"] not in ("0", "false", "off")
    except ValueError:
        st.caption(":material/warning: The scenario in the address could not be read; showing the defaults.")


def controls(ctx: ui.TraceContext, table) -> dict:
    settings = ui.engine_settings()
    options, default = data.budget_options(table)
    st.session_state["whatif.budget_options"] = options
    from_url(options, default)
    with st.container(border=True):
        st.markdown("**Scenario**")
        ss = st.session_state
        budget = st.select_slider("Budget for the whole trace (USD)", options=options,
                                  **({} if "whatif.budget" in ss else {"value": default}),
                                  format_func=fmt.usd, key="whatif.budget",
                                  disabled=bool(st.session_state.get("whatif.unlimited")),
                                  help="Total spend allowed for the replay (round numbers on a log scale, up to "
                                       "what the dearest model costs alone); the scheduler paces itself to it.")
        unlimited = st.toggle("No budget", key="whatif.unlimited", help="Let the scheduler spend what it wants.")
        cost_w = st.slider("Cost weight λ", 0.0, 1.0, None if "whatif.cost_weight" in ss else
                           float(min(1.0, settings.get("cost_weight", gateway.default_cost_weight()))), 0.01,
                           key="whatif.cost_weight", help="Success probability one median-priced call is worth (its "
                                                          "starting value when there is a budget: then it is paced).")
        lat_w = st.slider("Latency weight μ", 0.0, 1.0, None if "whatif.latency_weight" in ss else
                          float(min(1.0, settings.get("latency_weight", 0.0))), 0.01,
                          key="whatif.latency_weight")
        models = st.multiselect("Models to include", ctx.models, default=ctx.models, key="whatif.models",
                                help="The scheduler only chooses among these.")
        cache = st.toggle("Cache on", **({} if "whatif.cache" in ss else {"value": bool(settings.get("cache", True))}),
                          key="whatif.cache")
    pp = {"cost_weight": round(cost_w, 4), "latency_weight": round(lat_w, 4), "cache": bool(cache),
          "max_attempts": int(settings.get("max_attempts", 3))}
    if set(models) != set(ctx.models):
        pp["models"] = sorted(models)
    return {**ui.baseline_params(settings), "budget_usd": None if unlimited else round(float(budget), 6),
            "policy_params": pp}


def rerun(ctx: ui.TraceContext, params: dict, options: list[float]):
    """The what-if replay for `params`: (bundle, provisional) where provisional is None when the exact replay
    is done. Otherwise the exact replay runs ahead of the queue and, meanwhile, the page shows the best run
    already computed at a budget within this one (a budget is a ceiling: what fit there fits here), labelled
    as such; the page reruns by itself when the exact one lands."""
    gw = gateway.get_gateway()
    key = gateway.params_key(params)
    bundle = gateway.cached_run(ctx.key, "sls", key, ctx.catalog_json)
    if bundle is not None:
        return bundle, None
    budget = params["budget_usd"]
    gw.submit(ctx.key, "sls", params, ctx.catalog_json, urgent=True)
    best = None
    for b in [o for o in options if budget is None or o <= budget]:
        m = gw.cached_metrics(gw.result_key(ctx.key, "sls", {**params, "budget_usd": b}, ctx.catalog_json))
        if m is not None and (best is None or (m.get("accuracy") or 0) > (best[1].get("accuracy") or 0)):
            best = (b, m)
    lower = None if best is None else gateway.cached_run(ctx.key, "sls", gateway.params_key(
        {**params, "budget_usd": best[0]}), ctx.catalog_json)
    if lower is None:     # nothing to show yet: wait for the exact replay (the first one on a fresh server)
        bundle = ui.replay(ctx, "sls", params, f"Re-running the scheduler on {ctx.trace.n_queries:,} jobs")
        return bundle, None
    return lower, best[0]


def run_figures(ctx: ui.TraceContext, budget: float | None) -> dict:
    """The figures drawn from one replay's jobs alone, as {name: build(bundle)}: with `gateway.derived` they
    are built once per replay (and budget line), by the page or ahead of it by the prefetch."""
    n = ctx.trace.n_queries
    return {f"whatif.spend@{budget}": lambda b: charts.fig_spend_vs_budget(
                data.run_series(b.jobs, budget, n), budget, title="What-if: spend against budget"),
            f"whatif.share@{budget}": lambda b: charts.fig_traffic_share(
                data.traffic_share(b.jobs), ctx.colors, title="What-if: traffic share per model")}


def precompute(ctx: ui.TraceContext, params: dict, options: list[float]) -> list[tuple[str, dict]]:
    """Queue the slider budgets nearest the current one (`AHEAD` of them, nearest first) with the current
    weights on the background worker, so the next slider steps find their replay done, loaded and its
    figures drawn."""
    gw = gateway.get_gateway()
    here = params["budget_usd"] or options[-1]
    jobs = []
    for b in sorted(options, key=lambda o: (abs(math.log(o / here)) if here > 0 and o > 0 else o, o))[:AHEAD]:
        p = {**params, "budget_usd": b}
        gw.submit(ctx.key, "sls", p, ctx.catalog_json)
        if b != params["budget_usd"]:          # the page draws its own
            gw.prefetch(ctx.key, "sls", p, ctx.catalog_json, run_figures(ctx, b))
        jobs.append(("sls", p))
    return jobs


FRONTIER_SEEDS = (0, 1, 2)
AHEAD = 7     # the current budget and three steps either way


def frontier(ctx: ui.TraceContext, table) -> tuple[pd.DataFrame, list[tuple[str, dict]], pd.DataFrame]:
    """The sls frontier: sls at a few budgets and three seeds with the engine settings' weights, replayed on
    the background worker (each remembered on its own) and drawn as they land: the mean of the seeds with
    their range, and the frontier (the best at any budget within each one)."""
    budgets = data.frontier_budgets(table)
    gw = gateway.get_gateway()
    base = ui.run_params()
    runs, jobs = [], []
    for seed in FRONTIER_SEEDS:          # every budget's first seed first: the curve appears early
        for budget in budgets:
            params = {**base, "budget_usd": budget, "seed": seed}
            jobs.append(("sls", params))
            if gw.submit(ctx.key, "sls", params, ctx.catalog_json) == "done":
                bundle = gateway.cached_run(ctx.key, "sls", gateway.params_key(params), ctx.catalog_json)
                runs.append({**bundle.metrics, "budget_usd": budget, "seed": seed})
    front = data.frontier_frame(runs)
    return front, jobs, front


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


def side_by_side(params: dict, whatif: dict, provisional) -> None:
    """Scenario A (pinned) against the scenario on screen (B): settings and figures side by side."""
    ss = st.session_state
    c1, c2 = st.columns([1, 3])
    if c1.button("Pin this scenario as A", key="whatif.pin", icon=":material/push_pin:",
                 disabled=provisional is not None, help="Keep it, then move the controls to compare B with it."):
        ss["whatif.pinned"] = {"params": params, "metrics": dict(whatif)}
    pinned = ss.get("whatif.pinned")
    if not pinned:
        c2.caption("Pin a scenario to compare another one with it side by side.")
        return
    if c2.button("Unpin A", key="whatif.unpin"):
        ss.pop("whatif.pinned", None)
        return
    st.dataframe(data.scenario_table(pinned["params"], pinned["metrics"], params, whatif), hide_index=True,
                 width="stretch", key="whatif.ab")


def render() -> None:
    ui.page_header("What-if budgets", "Move the budget and the weights: the scheduler replays the trace with them "
                                      "and shows what you would get for the money.")
    ctx = ui.require_context()
    ui.simulated_notice(ctx)
    ui.default_budget(ctx)         # the current run to compare with is the default scenario's, as on Overview
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
        options = st.session_state.get("whatif.budget_options") or []
        t0 = time.perf_counter()
        bundle, provisional = rerun(ctx, params, options)
        elapsed = time.perf_counter() - t0
        whatif = bundle.metrics
        policy, current_params = ui.current_policy(), ui.run_params()
        current_job = [] if gw.policy_missing(policy) else [(policy, current_params)]
        if current_job:
            gw.submit(ctx.key, policy, current_params, ctx.catalog_json)   # at once when it ran before
        current_bundle = gateway.cached_run(ctx.key, policy, gateway.params_key(current_params), ctx.catalog_json) \
            if current_job else None
        current = current_bundle.metrics if current_bundle else None
        budget = params["budget_usd"]
        # a workspace's own jobs: accuracy is over the graded jobs only, and some outcomes may be missing
        graded = (f" on the {fmt.count(whatif.get('graded'))} graded jobs ({fmt.count(whatif.get('missing', 0))} "
                  "missing)") if "missing_outcomes" in whatif else ""
        if provisional is None:
            st.markdown(f"**With {'no budget' if budget is None else fmt.usd(budget)}** the scheduler reaches "
                        f"**{fmt.pct(whatif.get('accuracy'))}** accuracy{graded} for "
                        f"**{fmt.usd(whatif.get('cost_usd'))}**.")
            st.caption(f"Replay of {ctx.trace.n_queries:,} jobs with these settings (seed {params.get('seed', 0)})"
                       f" · shown in {fmt.ms(elapsed)} · feedback {whatif.get('feedback')} · baselines without a "
                       "budget")
        else:
            st.markdown(f"**With {fmt.usd(budget)}** the scheduler reaches **at least "
                        f"{fmt.pct(whatif.get('accuracy'))}** accuracy{graded} (for {fmt.usd(whatif.get('cost_usd'))}): "
                        f"that is what it did with {fmt.usd(provisional)}, which fits within {fmt.usd(budget)}.")
            ui.background_status(ctx, [("sls", params)], f"the exact replay at {fmt.usd(budget)}", every=1)
        ui.share_link({"budget": budget, "cost_weight": params["policy_params"]["cost_weight"],
                       "latency_weight": params["policy_params"]["latency_weight"],
                       "cache": int(params["policy_params"]["cache"])})
        beside(current, whatif)
        side_by_side(params, whatif, provisional)
        slow, slow_jobs = ui.slow_baselines(ctx)
        ahead = precompute(ctx, params, options) if budget is not None else []    # the next steps first
        front, front_jobs, front_table = frontier(ctx, table)
        ui.background_status(ctx, current_job + front_jobs + slow_jobs,
                             "the current run, the sls frontier (3 seeds per budget) and the published baselines")
        everything = ui.metrics_table(quick + slow)
        points = data.cost_accuracy_points(everything, front, current, whatif)
        ui.show_figure(charts.fig_cost_accuracy(points, ctx.colors, title="Cost vs accuracy: sls frontier, every "
                                                                          "single model and the baselines"),
                       "whatif.chart")
        if not front_table.empty:
            st.caption("Frontier: the best accuracy reached at any budget up to each one (a budget is a ceiling, so "
                       "what fit a lower budget fits a higher one; same rule as `sls sweep`). Open circles: each "
                       "budget's own replays, mean of the seeds run so far with their min–max.")
        done_ahead = sum(gw.status(ctx.key, p, pr, ctx.catalog_json) == "done" for p, pr in ahead)
        if ahead:
            st.caption(f"{done_ahead} of the {len(ahead)} slider budgets around this one replayed ahead with these "
                       "weights; a step to another budget shows the best run within it at once, then the exact "
                       "replay.")
        ui.download_csv(points, "Download these results (CSV)", "what_if_results.csv", "whatif.download",
                        settings={**params, "shown": "provisional (lower budget)" if provisional else "exact",
                                  "shown_budget_usd": provisional if provisional else budget})
    c1, c2 = st.columns(2)
    shown = gw.result_key(ctx.key, "sls", {**params, "budget_usd": budget if provisional is None else provisional},
                          ctx.catalog_json)
    spend, share = (gw.derived(shown, name, lambda build=build: build(bundle))
                    for name, build in run_figures(ctx, budget).items())
    with c1:
        ui.show_figure(spend, "whatif.spend")
    with c2:
        ui.show_figure(share, "whatif.share")


render()
