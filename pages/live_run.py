"""Live run: start, pause, step and reset a replay and watch every decision as it happens."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, gateway
from dashboard import components as ui
from dashboard import formatting as fmt

SPEEDS = {"slow (10 jobs / tick)": 10, "normal (50 jobs / tick)": 50, "fast (200 jobs / tick)": 200,
          "fastest (1,000 jobs / tick)": 1000}
TICK_S = 0.6
LIVE_WINDOW = 50         # jobs per rolling point: fixed, so the curve does not change shape as the run grows
FEEDBACK = ("reference", "verifier", "none")


def state():
    return st.session_state


def config_from_widgets() -> dict:
    ss = state()
    budget = float(ss.get("live.budget") or 0.0)
    return {"policy": ss.get("live.policy"), "budget_usd": budget if budget > 0 else None,
            "feedback": ss.get("live.feedback", "reference")}


def _new_session(ctx: ui.TraceContext, cfg: dict):
    settings = {**ui.engine_settings(), "policy": cfg["policy"], "feedback": cfg["feedback"]}
    params = ui.run_params(settings, budget=cfg["budget_usd"])
    session = gateway.get_gateway().session(ctx.trace, cfg["policy"], params, ctx.catalog_json)
    state()["live.session"] = session
    state()["live.config"] = cfg
    return session


def _ensure_session(ctx: ui.TraceContext):
    ss = state()
    cfg = config_from_widgets()
    session = ss.get("live.session")
    if session is None or (not session.records and ss.get("live.config") != cfg):
        session = _new_session(ctx, cfg)
    return session


def on_start(ctx: ui.TraceContext) -> None:
    try:
        session = _ensure_session(ctx)
    except Exception as exc:   # Unavailable, SettingsError: shown by the page, not raised
        state()["live.error"] = str(exc)
        return
    state().pop("live.error", None)
    state()["live.running"] = not session.done


def on_pause() -> None:
    state()["live.running"] = False


def on_reset() -> None:
    ss = state()
    for key in ("live.session", "live.config", "live.running", "live.error"):
        ss.pop(key, None)


def on_step(ctx: ui.TraceContext) -> None:
    try:
        session = _ensure_session(ctx)
        session.step(SPEEDS.get(state().get("live.speed"), 50))
    except Exception as exc:
        state()["live.error"] = str(exc)
        return
    state()["live.running"] = False
    state().pop("live.error", None)


def controls(ctx: ui.TraceContext, policies: list[str]) -> None:
    ss = state()
    settings = ui.engine_settings()
    default = settings.get("policy") if settings.get("policy") in policies else policies[0]
    if ss.get("live.policy") not in policies:
        ss["live.policy"] = default
    running = bool(ss.get("live.running"))
    c1, c2, c3, c4 = st.columns([2, 1.3, 1.3, 1.8])
    c1.selectbox("Policy", policies, key="live.policy", disabled=running,
                 help="`sls` is the scheduler; the others are baselines (see Overview).")
    c2.number_input("Budget (USD, 0 = none)", min_value=0.0, value=float(settings.get("budget_usd") or 0.0),
                    step=0.05, format="%.4f", key="live.budget", disabled=running)
    c3.selectbox("Feedback", FEEDBACK, index=FEEDBACK.index(settings.get("feedback", "reference")),
                 key="live.feedback", disabled=running,
                 help="reference: the ground truth arrives after each call; verifier: label-free checks only; "
                      "none: nothing is learned about quality.")
    c4.select_slider("Speed", list(SPEEDS), value="normal (50 jobs / tick)", key="live.speed")
    session = ss.get("live.session")
    started = session is not None and len(session.records) > 0
    b1, b2, b3, b4, _ = st.columns([1, 1, 1, 1, 3])
    b1.button("Resume" if started and not running else "Start", key="live.start", type="primary",
              icon=":material/play_arrow:", on_click=on_start, args=(ctx,), disabled=running or bool(
                  session and session.done), width="stretch")
    b2.button("Pause", key="live.pause", icon=":material/pause:", on_click=on_pause, disabled=not running,
              width="stretch")
    b3.button("Step", key="live.step", icon=":material/skip_next:", on_click=on_step, args=(ctx,),
              disabled=running or bool(session and session.done), width="stretch",
              help="Process one chunk of jobs (the speed setting) and stop.")
    b4.button("Reset", key="live.reset", icon=":material/restart_alt:", on_click=on_reset, width="stretch")
    if started and ss.get("live.config") != config_from_widgets() and not running:
        st.caption(":material/info: The settings above changed: press **Reset** to start a new run with them.")


def live_panel(ctx: ui.TraceContext) -> None:
    """The part that refreshes while a run is going (a fragment with `run_every`)."""
    ss = state()
    with ui.guard("the live panel"):
        session = ss.get("live.session")
        if session is not None and ss.get("live.running") and not session.done:
            session.step(SPEEDS.get(ss.get("live.speed"), 50))
        if session is not None and session.done and ss.get("live.running"):
            ss["live.running"] = False
            st.rerun()     # a full rerun re-creates this fragment without a timer
        draw(ctx, session)


def draw(ctx: ui.TraceContext, session) -> None:
    total = ctx.trace.n_queries
    if session is None:
        st.progress(0.0, text=f"Ready: 0 / {total:,} jobs")
        ui.empty_state("Press **Start** to replay the trace job by job, or **Step** to advance one chunk. The feed "
                       "below shows each decision (cache hit or chosen model, predicted vs actual quality, cost) "
                       "and the charts update while it runs.", icon=":material/play_circle:")
        jobs = data.job_frame(None)
        metrics, cfg = {}, config_from_widgets()
    else:
        jobs = data.records_frame(session.records)
        metrics, cfg = session.metrics(), state().get("live.config") or {}
        done = len(session.records)
        status = "finished" if session.done else ("running" if state().get("live.running") else "paused")
        st.progress(done / max(1, total), text=f"{status.capitalize()}: {done:,} / {total:,} jobs · "
                                               f"policy {cfg.get('policy')} · feedback {cfg.get('feedback')}")
    budget = cfg.get("budget_usd")
    m = st.columns(5)
    with m[0]:
        ui.metric("Accuracy so far", fmt.pct(metrics.get("accuracy")))
    with m[1]:
        ui.metric("Spend", fmt.usd(metrics.get("cost_usd", 0.0)),
                  f"of {fmt.usd(budget)} budget" if budget else "no budget", delta_color="off")
    with m[2]:
        ui.metric("Cache hit rate", fmt.pct(metrics.get("cache_hit_rate")))
    with m[3]:
        ui.metric("LLM calls", fmt.count(metrics.get("llm_calls", 0)))
    with m[4]:
        overhead = (metrics.get("engine_overhead_us") or {}).get("p50")
        ui.metric("Engine overhead (p50)", fmt.us(overhead))
    series = data.run_series(jobs, budget, total, window=LIVE_WINDOW)
    c1, c2 = st.columns(2)
    with c1:
        ui.show_figure(charts.fig_spend_vs_budget(series, budget), "live.spend")
    with c2:
        ui.show_figure(charts.fig_quality_over_time(series, title="Predicted vs actual quality (rolling)"),
                       "live.quality")
    ui.show_figure(charts.fig_traffic_share(data.traffic_share(jobs), ctx.colors), "live.share")
    st.subheader("Decisions as they happen")
    feed = data.decision_feed(jobs, 15)
    if feed.empty:
        st.caption("No decisions yet.")
    else:
        st.dataframe(feed, hide_index=True, width="stretch", key="live.feed", column_config={
            "seq": st.column_config.NumberColumn("#"),
            "predicted": st.column_config.ProgressColumn("predicted P(success)", min_value=0.0, max_value=1.0,
                                                         format="percent"),
            "actual": st.column_config.NumberColumn("actual score", format="%.2f"),
            "cost_usd": st.column_config.NumberColumn("cost", format="$%.5f"),
        })


def render() -> None:
    ui.page_header("Live run", "Replay the trace through a policy, job by job: start, pause, step or reset, and "
                               "watch the decisions and charts update.")
    ctx = ui.require_context()
    ui.simulated_notice(ctx)
    gw = gateway.get_gateway()
    missing = gw.feature("replay")
    if missing:
        ui.not_available(missing)
        return
    registered = gw.registered_policies()
    policies = [p for p in ("sls", *gateway.ABLATIONS, *gateway.PUBLISHED) if p in registered]
    policies += [p for p in gw.baseline_policies(ctx.trace) if p not in policies]
    if "sls" not in registered:
        st.caption(":material/hourglass_top: The `sls` scheduler is not available yet; the baselines can run.")
    controls(ctx, policies)
    if state().get("live.error"):
        st.error(f"Could not start the run: {state()['live.error']}", icon=":material/error:")
    running = bool(state().get("live.running"))
    st.fragment(live_panel, run_every=TICK_S if running else None)(ctx)


render()
