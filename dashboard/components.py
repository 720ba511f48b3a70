"""Shared widgets and page plumbing: session state, the sidebar (trace picker, simulated-data badge, engine
status), the current trace and run, error guards, empty states and formatted metric cards.

Session keys are namespaced: `trace.*` and `settings.*` are shared by every page, each page uses its own
prefix (`live.`, `whatif.`, `playground.`, `data.`, `decisions.`, `cache.`, `predictors.`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import charts, data, gateway, workspace
from dashboard import formatting as fmt

log = logging.getLogger(__name__)

KEY_REF = "trace.ref"
KEY_RECENT = "trace.recent"
KEY_CATALOGS = "trace.catalogs"       # trace signature -> edited catalog JSON
KEY_SETTINGS = "settings.engine"
KEY_FIRST_OPEN = "trace.first_open"

PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


# -- state ---------------------------------------------------------------------------------------------
def default_engine_settings() -> dict:
    d = gateway.settings_defaults()
    return {"policy": "sls", "budget_usd": d["budget_usd"], "feedback": d["feedback"],
            "cost_weight": float(d["cost_weight"]), "latency_weight": float(d["latency_weight"]),
            "cache": True, "exhausted": d["when_exhausted"], "seed": 0, "max_attempts": int(d["max_attempts"])}


def init_state() -> None:
    """Shared session defaults, set once per session."""
    ss = st.session_state
    if KEY_REF not in ss:
        ref = gateway.default_trace_ref()
        ss[KEY_REF] = ref.as_dict() if ref else None
        ss[KEY_FIRST_OPEN] = ref is not None and ref.kind == "sample"
    if KEY_RECENT not in ss:
        ss[KEY_RECENT] = [ss[KEY_REF]] if ss[KEY_REF] else []
    ss.setdefault(KEY_CATALOGS, {})
    ss.setdefault(KEY_SETTINGS, default_engine_settings())


def current_ref() -> gateway.TraceRef | None:
    raw = st.session_state.get(KEY_REF)
    return gateway.TraceRef(**raw) if raw else None


def set_trace(ref: gateway.TraceRef) -> None:
    """Make `ref` the session's trace (and remember it in the sidebar's list)."""
    ss = st.session_state
    recent = [r for r in ss.get(KEY_RECENT, []) if r and r["path"] != ref.path]
    taken = {r["label"] for r in recent}
    label, n = ref.label, 2
    while label in taken:                      # two folders with the same name stay distinguishable
        label, n = f"{ref.label} ({n})", n + 1
    ref = gateway.TraceRef(ref.kind, ref.path, label)
    ss[KEY_REF] = ref.as_dict()
    ss[KEY_RECENT] = [ref.as_dict(), *recent][:6]
    ss["sidebar.trace"] = label                # called from callbacks, before the sidebar is drawn
    ss[KEY_FIRST_OPEN] = False
    for key in [k for k in ss if str(k).startswith("live.")]:
        del ss[key]   # a live run belongs to its trace


def engine_settings() -> dict:
    return dict(st.session_state.get(KEY_SETTINGS) or default_engine_settings())


# -- the trace the pages look at -----------------------------------------------------------------------
@dataclass
class TraceContext:
    ref: gateway.TraceRef
    trace: object
    key: str
    catalog_json: str | None
    colors: dict = field(default_factory=dict)
    task_colors: dict = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return list(self.trace.model_names)

    @property
    def simulated(self) -> bool:
        return self.ref.simulated


def load_context() -> TraceContext | None:
    """The session's trace, loaded; None (after showing an explanation) when there is none or it fails."""
    ref = current_ref()
    if ref is None:
        return None
    gw = gateway.get_gateway()
    try:
        with st.spinner(f"Loading trace {ref.label} …", show_time=True):
            trace = gw.load_trace(ref.path)
    except gateway.Unavailable as exc:
        st.session_state["trace.error"] = str(exc)
        return None
    except Exception as exc:   # TraceError and I/O errors: the message says what to fix
        st.session_state["trace.error"] = f"{ref.label}: {exc}"
        log.info("trace %s failed to load: %s", ref.path, exc)
        return None
    st.session_state.pop("trace.error", None)
    key = gateway.trace_signature(ref.path)
    catalog_json = st.session_state.get(KEY_CATALOGS, {}).get(key)
    return TraceContext(ref, trace, key, catalog_json, charts.model_colors(trace.model_names),
                        charts.task_colors(trace.queries["task"].astype(str).unique()))


def require_context() -> TraceContext:
    """The loaded trace, or an empty state explaining what to do (and the page stops there)."""
    ctx = load_context()
    if ctx is not None:
        return ctx
    error = st.session_state.get("trace.error")
    if error:
        st.error(f"The trace could not be loaded. {error}", icon=":material/error:")
    else:
        st.info("No trace is loaded yet. The embedded sample data is not there and no `SLS_TRACE` is set: "
                "open **Data & models** to pick a trace folder or upload CSV files.",
                icon=":material/info:")
    st.page_link(DATA_PAGE, label="Go to Data & models", icon=":material/database:")
    st.stop()


DATA_PAGE = str(gateway.REPO_ROOT / "pages" / "data_models.py")


def run_params(settings: dict | None = None, *, budget: float | None | str = "settings") -> dict:
    """Replay parameters from the engine settings (budget overridable)."""
    s = settings or engine_settings()
    params = {"budget_usd": s.get("budget_usd") if budget == "settings" else budget,
              "seed": int(s.get("seed", 0)), "feedback": s.get("feedback", "reference"),
              "exhausted": s.get("exhausted", "cheapest")}
    if str(s.get("policy", "sls")).startswith("sls"):
        params["policy_params"] = {"cost_weight": float(s.get("cost_weight", gateway.default_cost_weight())),
                                   "latency_weight": float(s.get("latency_weight", 0.0)),
                                   "cache": bool(s.get("cache", True)),
                                   "max_attempts": int(s.get("max_attempts", 3))}
    return params


def baseline_params(settings: dict | None = None) -> dict:
    """Baselines run without a budget, with the session's seed and feedback mode."""
    s = settings or engine_settings()
    return {"budget_usd": None, "seed": int(s.get("seed", 0)), "feedback": s.get("feedback", "reference"),
            "exhausted": s.get("exhausted", "cheapest")}


def current_policy(settings: dict | None = None) -> str:
    return str((settings or engine_settings()).get("policy", "sls"))


def replay(ctx: TraceContext, policy: str, params: dict, label: str) -> gateway.RunBundle:
    """A replay through the gateway's result store: at once when it ran before (in any session), else with a
    progress bar while it runs."""
    params_json = gateway.params_key(params)
    hit = gateway.cached_run(ctx.key, policy, params_json, ctx.catalog_json)
    if hit is not None:
        return hit
    bar = st.progress(0.0, text=f"{label} …")
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(1, total)),
                     text=f"{label}: {done:,} / {total:,} jobs · {time.perf_counter() - t0:.0f} s")

    try:
        return gateway.run_policy(ctx.key, policy, params_json, ctx.catalog_json, progress)
    finally:
        bar.empty()


KEY_DEFAULT_BUDGET = "settings.default_budget"     # trace key -> the budget chosen for it by default


def default_budget(ctx: TraceContext) -> None:
    """The default scenario is one a user would run: with a budget. When no budget is configured (no
    `SLS_BUDGET`, none set in this session), the session's budget becomes the round number closest to half
    of what the most accurate single model costs on this trace (once per trace; the user can change it or
    turn it off in Data & models → Engine settings)."""
    ss = st.session_state
    if gateway.settings_defaults().get("budget_usd") is not None or ss.get("settings.budget_touched"):
        return
    chosen = dict(ss.get(KEY_DEFAULT_BUDGET) or {})
    if ctx.key not in chosen:
        table = metrics_table(baselines(ctx))
        if table.empty:
            return
        chosen[ctx.key] = data.budget_options(table)[1]
        ss[KEY_DEFAULT_BUDGET] = chosen
    settings = engine_settings()
    if settings.get("budget_usd") != chosen[ctx.key]:
        settings["budget_usd"] = chosen[ctx.key]
        ss[KEY_SETTINGS] = settings


def current_run(ctx: TraceContext, *, quiet: bool = False) -> gateway.RunBundle | None:
    """The session's current run: the engine-settings policy replayed over the whole trace (remembered).

    None, with a friendly note unless `quiet`, when the policy is not available yet."""
    default_budget(ctx)
    settings = engine_settings()
    policy = current_policy(settings)
    gw = gateway.get_gateway()
    kept = gateway.cached_run(ctx.key, policy, gateway.params_key(run_params(settings)), ctx.catalog_json)
    if kept is not None:      # computed before by this code: no need to load the engine to show it
        return kept
    missing = gw.policy_missing(policy)
    if missing:
        if not quiet:
            not_available(missing, "This page fills in as soon as it is installed.")
        return None
    try:
        return replay(ctx, policy, run_params(settings),
                      f"Replaying {ctx.trace.n_queries:,} jobs through {policy} (once per setting)")
    except gateway.Unavailable as exc:
        if not quiet:
            not_available(str(exc))
        return None


def baselines(ctx: TraceContext) -> list[dict]:
    """The quick baselines' metrics (no budget; cached per trace); empty when the replay engine is missing."""
    params_json = gateway.params_key(baseline_params())
    kept = gateway.kept_baselines(ctx.key, params_json, ctx.catalog_json)
    if kept is not None:
        return list(kept)
    if gateway.get_gateway().feature("replay"):
        return []
    with st.spinner("Replaying the baselines (once per trace) …", show_time=True):
        return list(gateway.baseline_metrics(ctx.key, params_json, ctx.catalog_json))


def slow_baselines(ctx: TraceContext) -> tuple[list[dict], list[tuple[str, dict]]]:
    """The published baselines (OptLLM, cascade): queued on the background worker; returns the metrics of
    those done and the (policy, params) of all of them, for `background_status`."""
    gw = gateway.get_gateway()
    params = baseline_params()
    kept = [gw.cached_metrics(gw.result_key(ctx.key, p, params, ctx.catalog_json)) for p in gateway.PUBLISHED]
    if all(m is not None for m in kept):      # all kept by this code: the engine need not be loaded
        return kept, [(p, params) for p in gateway.PUBLISHED]
    if gw.feature("replay"):
        return [], []
    done, jobs = [], []
    for policy in gw.slow_baselines():
        jobs.append((policy, params))
        if gw.submit(ctx.key, policy, params, ctx.catalog_json) == "done":
            done.append(gw.cached_metrics(gw.result_key(ctx.key, policy, params, ctx.catalog_json)))
    return done, jobs


def background_status(ctx: TraceContext, jobs: list[tuple[str, dict]], what: str, *, every: float = 3) -> None:
    """A small live note on replays queued in the background; reruns the page when one of them lands."""
    gw = gateway.get_gateway()
    if not jobs:
        return

    if all(gw.status(ctx.key, policy, params, ctx.catalog_json) == "done" for policy, params in jobs):
        return

    def note() -> None:
        states = [(policy, params, gw.status(ctx.key, policy, params, ctx.catalog_json)) for policy, params in jobs]
        done = sum(s == "done" for _, _, s in states)
        seen = st.session_state.get(f"bg.{what}")
        st.session_state[f"bg.{what}"] = done
        if seen is not None and done > seen:
            st.rerun()     # something landed: redraw the page with it
        waiting = [(p, pr, s) for p, pr, s in states if s != "done"]
        if not waiting:
            return
        failed = [f"{p}: {s[8:]}" for p, _, s in waiting if s.startswith("failed")]
        running = [p + (f" @ {fmt.usd(pr['budget_usd'])}" if pr.get("budget_usd") else "")
                   for p, pr, s in waiting if s in ("running", "queued", "absent")]
        if running:
            st.caption(f":material/hourglass_top: Computing {what} in the background: {done} of {len(states)} done, "
                       f"still to come {', '.join(running[:4])}{' …' if len(running) > 4 else ''}. The page updates "
                       "by itself.")
        for text in failed:
            st.caption(f":material/error: {text}")

    st.fragment(note, run_every=every)()


def share_link(values: dict) -> None:
    """Put the scenario in the address (`st.query_params`), so the URL reopens it; other parameters (such as
    `source`) are kept."""
    q = st.query_params
    for name, value in values.items():
        text = "none" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
        if q.get(name) != text:
            q[name] = text
    st.caption(":material/link: The address now holds this scenario: copy it to share it.")


def metrics_table(metrics: list[dict]) -> pd.DataFrame:
    return data.metrics_table(metrics, gateway.policy_kinds())


# -- sidebar -------------------------------------------------------------------------------------------
def sidebar_settings(slot) -> None:
    """The policy / budget / feedback line of the sidebar (after the page ran, so it shows the default budget
    the page may have chosen)."""
    ss = st.session_state
    ref = current_ref()
    s = engine_settings()
    budget = s.get("budget_usd")
    picked = ref is not None and (ss.get(KEY_DEFAULT_BUDGET) or {}).get(gateway.trace_signature(ref.path)) == budget
    missing = gateway.get_gateway().checked_missing(("replay", "sls", "service"))
    with slot.container():
        st.caption(f"Policy **{s.get('policy')}** · budget **{fmt.usd(budget) if budget else 'none'}**"
                   f"{' (default)' if budget and picked else ''} · feedback **{s.get('feedback')}**")
        if missing:
            st.caption("Engine parts not available yet: " + ", ".join(missing))


def sidebar():
    """Trace picker, simulated-data badge and engine status (rendered by the entrypoint on every page);
    returns the slot of the settings line (`sidebar_settings`)."""
    ss = st.session_state
    with st.sidebar:
        recent = [r for r in ss.get(KEY_RECENT, []) if r]
        ref = current_ref()
        if recent:
            labels = [r["label"] for r in recent]
            index = next((i for i, r in enumerate(recent) if ref and r["path"] == ref.path), 0)

            def on_pick():
                picked = ss["sidebar.trace"]
                for r in recent:
                    if r["label"] == picked:
                        set_trace(gateway.TraceRef(**r))

            st.selectbox("Trace", labels, index=index, key="sidebar.trace", on_change=on_pick,
                         help="Traces opened in this session. Load another one in Data & models.")
        else:
            st.caption("No trace loaded: open **Data & models**.")
        if ref is not None and ref.simulated and not source_is_workspace():
            st.badge("Simulated sample data", icon=":material/science:", color="orange")
        settings_slot = st.empty()     # filled after the page ran: it may set the default budget, and what
    return settings_slot               # the page found missing of the engine is known then


def simulated_notice(ctx: TraceContext, *, first_open: bool = False) -> None:
    """Say plainly when the figures come from the simulated sample trace, or from a workspace's own jobs (where
    only the recorded outcomes exist)."""
    recorded = getattr(ctx.trace, "recorded", None)
    if recorded is not None:
        with_outcome = int(recorded.any(axis=1).sum())
        st.caption(f":material/history: Replaying this workspace's own jobs: {with_outcome:,} of {len(recorded):,} "
                   "have a recorded model outcome (the rest were answered from the cache, by the rule, or refused). "
                   "A job whose replay would need any other outcome is shown as **missing** — ungraded, not guessed.")
    if not ctx.simulated:
        return
    if first_open and st.session_state.get(KEY_FIRST_OPEN):
        st.info("**Running on the embedded sample data, which is simulated.** No configuration was found, so "
                "the dashboard opened the demo trace: invented jobs and models (`sim-…`) with a planted drift "
                "event. Load your own trace in **Data & models**.", icon=":material/science:")
    else:
        st.caption(":material/science: Simulated sample data — models, jobs and outcomes are invented for the demo.")


# -- guards and empty states ---------------------------------------------------------------------------
@contextlib.contextmanager
def guard(what: str):
    """Turn any error inside into a friendly message (details in an expander, traceback to the log)."""
    try:
        yield
    except gateway.Unavailable as exc:
        not_available(str(exc))
    except Exception as exc:
        log.exception("error in %s", what)
        st.error(f"Something went wrong in {what}: {_one_line(exc)}", icon=":material/error:")
        with st.expander("Details"):
            st.code(f"{type(exc).__name__}: {exc}", language=None)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:400] + ("…" if len(text) > 400 else "") if text else type(exc).__name__


def not_available(message: str, hint: str = "") -> None:
    st.info(f"{message} {hint}".strip(), icon=":material/hourglass_top:")


def empty_state(message: str, *, icon: str = ":material/lightbulb:") -> None:
    st.info(message, icon=icon)


def show_figure(fig, key: str) -> None:
    st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG, width="stretch")


def page_header(title: str, caption: str) -> None:
    st.title(title)
    st.caption(caption)


def metric(label: str, value: str, delta: str | None = None, *, help: str | None = None,
           delta_color: str = "normal", chart_data=None, chart_type: str = "line") -> None:
    # st.metric reads the direction from a leading ASCII "-": our formatting's typographic minus would
    # turn every loss into a green up-arrow
    if delta is not None:
        delta = delta.replace("\u2212", "-")
    extra = {"chart_data": list(chart_data), "chart_type": chart_type} if chart_data is not None and len(chart_data) else {}
    st.metric(label, value, delta=delta, help=help, delta_color=delta_color, border=True,
              delta_arrow="off" if delta_color == "off" else "auto", **extra)


def download_csv(df: pd.DataFrame, label: str, file_name: str, key: str, settings: dict | None = None) -> None:
    st.download_button(label, data.csv_bytes(df, settings), file_name=file_name, mime="text/csv",
                       key=key, icon=":material/download:")


# -- tables --------------------------------------------------------------------------------------------
def usd_format(values: pd.Series) -> str:
    """Enough decimals that the column's typical value shows (a live job's $0.00004 is not "$0.0000")."""
    numeric = pd.to_numeric(values, errors="coerce").abs()
    numeric = numeric[numeric > 0]
    return "$%.6f" if len(numeric) and numeric.median() < 0.01 else "$%.4f"


def column_config(df: pd.DataFrame) -> dict:
    """Formatted columns by naming convention: *_usd → $, accuracy/rates/shares → %, *_s → seconds."""
    cfg = {}
    for col in df.columns:
        c = str(col)
        if c.endswith("usd") and not pd.api.types.is_numeric_dtype(df[c]):     # signed text: "−$0.635"
            cfg[c] = st.column_config.TextColumn(c.replace("_usd", " ($)").replace("_", " "))
        elif c.endswith("usd"):
            cfg[c] = st.column_config.NumberColumn(c.replace("_usd", " ($)").replace("_", " "),
                                                   format=usd_format(df[c]))
        elif c in ("saving_pct", "time_saving_pct") and not pd.api.types.is_numeric_dtype(df[c]):
            cfg[c] = st.column_config.TextColumn(c.replace("_", " "), help="— : the baseline costs under a fifth "
                                                                            "of this run: no percentage of it; "
                                                                            "N× : this run costs N times as much")
        elif c in ("accuracy", "cache_hit_rate", "false_hit_rate", "hit_rate", "saving_pct", "time_saving_pct",
                   "share", "p_success", "predicted", "observed") or c.startswith(("share_", "observed_",
                                                                                     "predicted_")):
            cfg[c] = st.column_config.NumberColumn(c.replace("_", " "), format="percent")
        elif c.endswith("_s"):
            cfg[c] = st.column_config.NumberColumn(c.replace("_s", " (s)").replace("_", " "), format="%.2f")
        elif c == "accuracy_delta":
            cfg[c] = st.column_config.NumberColumn("accuracy Δ (pp)", format="%+.1f")
    return cfg


def saving_text(v: float) -> str:
    """A saving as a share of a baseline's cost, said as a reader would say it."""
    if pd.isna(v):
        return "—"
    if v <= -1:                            # saving = 1 − own/base: own = (1 − saving) × base
        return f"costs {1 - v:.1f}× as much"
    return fmt.pct(v, signed=True)


def signed_savings(df: pd.DataFrame) -> pd.DataFrame:
    """A saving column with a loss in it, as signed money text ("+$3.36", "−$0.635"), not "$-0.6350"."""
    if "saving_usd" not in df or not (pd.to_numeric(df["saving_usd"], errors="coerce") < 0).any():
        return df
    return df.assign(saving_usd=[fmt.usd(v, signed=True) for v in df["saving_usd"]])


def table(df: pd.DataFrame, key: str, *, height: int | None = None, hide: tuple[str, ...] = ()) -> None:
    shown = df.drop(columns=[c for c in hide if c in df.columns])
    if "accuracy_delta" in shown:
        shown = shown.assign(accuracy_delta=shown["accuracy_delta"] * 100)
    shown = signed_savings(shown)
    for col in ("saving_pct", "time_saving_pct"):
        # "—", not "None", where no percentage is meaningful; "costs 3.2× as much", not "−218.7%"
        if col in shown and (shown[col].isna().any() or (shown[col] <= -1).any()):
            shown = shown.assign(**{col: shown[col].map(saving_text)})
    kwargs = {"height": height} if height else {}
    st.dataframe(shown, hide_index=True, column_config=column_config(shown), key=key, width="stretch", **kwargs)


def catalog_key(ctx: TraceContext) -> str:
    return ctx.key


def save_catalog(ctx: TraceContext, catalog_json: str | None) -> None:
    catalogs = dict(st.session_state.get(KEY_CATALOGS, {}))
    if catalog_json is None:
        catalogs.pop(ctx.key, None)
    else:
        json.loads(catalog_json)
        catalogs[ctx.key] = catalog_json
    st.session_state[KEY_CATALOGS] = catalogs


# -- the live workspace as a source --------------------------------------------------------------------
KEY_SOURCE = "source.kind"           # "trace" | "workspace"
KEY_SOURCE_PATH = "source.workspace"
SOURCES = {"trace": "Trace replay", "workspace": "Live workspace"}
KEY_ALERT_BUDGET = "alerts.budget"
KEY_ALERT_PERIOD = "alerts.period"


def init_source() -> None:
    """The source of the results pages: `?source=workspace` (or `trace`) in the address wins, else the
    session's choice, else a trace replay."""
    ss, q = st.session_state, st.query_params
    wanted = q.get("source")
    if wanted in SOURCES and ss.get(KEY_SOURCE) != wanted and not ss.get("source.touched"):
        ss[KEY_SOURCE] = wanted
    ss.setdefault(KEY_SOURCE, "trace")
    ss.setdefault(KEY_SOURCE_PATH, str(gateway.workspace_dir()))
    if KEY_ALERT_BUDGET not in ss:
        try:
            ss[KEY_ALERT_BUDGET] = max(0.0, float(os.environ.get("SLS_ALERT_BUDGET", "0") or 0))
        except ValueError:
            ss[KEY_ALERT_BUDGET] = 0.0
        period = os.environ.get("SLS_ALERT_PERIOD", "run")
        ss[KEY_ALERT_PERIOD] = period if period in workspace.PERIODS else "run"


def source_is_workspace() -> bool:
    return st.session_state.get(KEY_SOURCE) == "workspace"


def source_sidebar() -> None:
    """Source picker (trace replay or a live workspace), the workspace folder, and the budget alert."""
    ss = st.session_state

    def on_source():
        ss["source.touched"] = True
        st.query_params["source"] = ss[KEY_SOURCE]

    with st.sidebar:
        st.radio("Results from", list(SOURCES), format_func=SOURCES.get, key=KEY_SOURCE, horizontal=True,
                 on_change=on_source, help="A replay of a trace, or what a live scheduler (`sls run`, `sls ask`, "
                                           "the Python API, the Playground) did in its workspace.")
        if source_is_workspace():
            st.text_input("Workspace folder", key=KEY_SOURCE_PATH, help="Default: SLS_WORKSPACE or ./workspace")
        with st.expander("Budget alert", icon=":material/notifications:"):
            st.number_input("Budget (USD, 0 = no alert)", min_value=0.0, step=1.0, key=KEY_ALERT_BUDGET,
                            help="Alerts at 80%, 90% and 100% of it, on every page (and in the server log). "
                                 "Default: SLS_ALERT_BUDGET.")
            st.selectbox("per", workspace.PERIODS, key=KEY_ALERT_PERIOD, help="Default: SLS_ALERT_PERIOD.")


@st.cache_data(show_spinner=False, ttl=2, max_entries=8)
def _read_workspace(path: str, stamp: str) -> workspace.WorkspaceView:
    return workspace.read(path)


def read_workspace(path: str | None = None) -> workspace.WorkspaceView:
    """The workspace's live run (re-read when its event log changes, at most every 2 s)."""
    folder = Path(path or st.session_state.get(KEY_SOURCE_PATH) or gateway.workspace_dir()).expanduser()
    stamp = ";".join(f"{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in
                     (folder / workspace.EVENTS_FILE, folder / (workspace.EVENTS_FILE + "-wal")) if p.exists())
    return _read_workspace(str(folder.resolve()), stamp)


_ALERTED: set = set()


def budget_alerts() -> None:
    """On every page: an alert when the workspace's spend in the configured period crossed 80/90/100% of the
    configured budget (logged once per level, workspace and period)."""
    ss = st.session_state
    budget, period = float(ss.get(KEY_ALERT_BUDGET) or 0.0), ss.get(KEY_ALERT_PERIOD, "run")
    if budget <= 0:
        return
    try:
        view = read_workspace()
    except Exception as exc:     # a workspace that cannot be read is said on its page, not here
        log.info("budget alert: workspace unreadable: %s", exc)
        return
    spent, how = workspace.period_spend(view.jobs, period)
    for alert in workspace.alerts(spent, budget):
        level = alert["level"]
        text = (f"Budget alert: {fmt.usd(spent)} spent in {how}, {fmt.pct(alert['share'], digits=0)} of the "
                f"{fmt.usd(budget)} {period} budget (workspace {fmt.code(view.path, 80)}).")
        key = (str(view.path), period, budget, level)
        if key not in _ALERTED:
            _ALERTED.add(key)
            log.warning("%s", " ".join(text.replace("`", "").split()))
        (st.error if level >= 1.0 else st.warning)(text, icon=":material/notifications_active:")


def trace_source_caption(ctx: TraceContext) -> None:
    st.caption(f":material/replay: Source: **replay of the trace** {fmt.md(ctx.ref.label)} · switch to a live "
               "workspace in the sidebar (or open `?source=workspace`).")


def source_caption(view: workspace.WorkspaceView) -> None:
    st.caption(f":material/sensors: Source: **live workspace** {fmt.code(view.path, 120)} · run `live` · "
               f"read {time.strftime('%H:%M:%S', time.localtime(view.read_at))} · refreshes every 5 s")


def workspace_page(page: str) -> None:
    """The body of a results page when its source is a live workspace; refreshes while jobs arrive."""
    folder = st.session_state.get(KEY_SOURCE_PATH)

    @st.fragment(run_every=5)
    def body():
        try:
            view = read_workspace(folder)
        except Exception as exc:
            st.error(f"The workspace {fmt.code(folder)} could not be read: {_one_line(exc)}", icon=":material/error:")
            return
        source_caption(view)
        if not view.exists or view.jobs.empty:
            empty_state(f"No jobs in the workspace {fmt.code(view.path)} yet. Run `sls run <trace> --workspace "
                        f"{view.path}` (or `sls ask`, the Python API, the Playground): this page fills in as jobs "
                        "arrive.")
            return
        WORKSPACE_SECTIONS[page](view)

    body()


def _ws_overview(view: workspace.WorkspaceView) -> None:
    s = workspace.summary(view)
    st.markdown(f"### {fmt.count(s['jobs'])} jobs handled for {fmt.usd(s['spend_usd'])}"
                + (f" · the cache saved about {fmt.usd(s['cache_saved_usd'])}" if s["cache_hits"] else ""))
    cols = [*st.columns(3), *st.columns(3)]
    with cols[0]:
        metric("Jobs", fmt.count(s["jobs"]), f"{fmt.count(s['refused'])} refused" if s["refused"] else None,
               delta_color="off")
    with cols[1]:
        metric("Spend", fmt.usd(s["spend_usd"]), f"{fmt.count(s['model_calls'])} model calls", delta_color="off")
    with cols[2]:
        metric("Latency p50 / p95", f"{fmt.number(s['p50_latency_s'], 2)} s / {fmt.number(s['p95_latency_s'], 2)} s"
               if s["p50_latency_s"] is not None else "—", help="Of model-answered jobs (API time).")
    with cols[3]:
        tokens = (s["input_tokens"] or 0) + (s["output_tokens"] or 0)
        metric("Tokens", fmt.count(tokens) if s["input_tokens"] is not None else "not recorded",
               f"{fmt.count(s['input_tokens'])} in · {fmt.count(s['output_tokens'])} out"
               if s["input_tokens"] is not None else None, delta_color="off")
    with cols[4]:
        metric("Cache hits", fmt.count(s["cache_hits"]), f"{fmt.pct(s['cache_hits'] / max(1, s['jobs']))} of jobs",
               delta_color="off")
    with cols[5]:
        metric("Cache saved (est.)", fmt.usd(s["cache_saved_usd"]), delta_color="off",
               help="Each hit priced at the average cost of a model-answered job of the same task here.")
    c1, c2 = st.columns(2)
    colors = charts.model_colors(sorted(view.jobs["model"].dropna().astype(str).unique()))
    with c1:
        show_figure(charts.fig_spend_over_time(workspace.spend_over_time(view.jobs, "model"), colors, by="model"),
                    "ws.spend_model")
    with c2:
        show_figure(charts.fig_spend_over_time(workspace.spend_over_time(view.jobs, "task"), by="task"),
                    "ws.spend_task")
    _ws_job_log(view)


def _ws_job_log(view: workspace.WorkspaceView) -> None:
    st.subheader("Job log")
    query = st.text_input("Search the jobs", key="ws.search", placeholder="job id, task, model, text, answer …")
    found = workspace.search_jobs(view.jobs, query)
    st.caption(f"{len(found):,} of {len(view.jobs):,} jobs, newest first")
    table(found, "ws.jobs", height=360)
    download_csv(found, "Download the job log (CSV)", "job_log.csv", "ws.download",
                 settings={"workspace": str(view.path), "search": query})


def _ws_decisions(view: workspace.WorkspaceView) -> None:
    colors = charts.model_colors(sorted(view.jobs["model"].dropna().astype(str).unique()))
    c1, c2 = st.columns([3, 1])
    with c1:
        show_figure(charts.fig_traffic_share(data.traffic_share(view.jobs), colors), "ws.share")
    with c2:
        show_figure(charts.fig_route_counts(view.jobs, colors), "ws.counts")
    st.subheader("Decisions and their reasons")
    heads = view.decisions
    if heads.empty:
        empty_state("No decision recorded yet (cache hits and refusals make none).")
    else:
        shown = heads[[c for c in ("seq", "job_id", "chosen", "reason") if c in heads.columns]].iloc[::-1]
        table(shown.reset_index(drop=True), "ws.decisions", height=360)
    _ws_job_log(view)


def _ws_cache(view: workspace.WorkspaceView) -> None:
    s = workspace.summary(view)
    cols = st.columns(3)
    with cols[0]:
        metric("Cache hits", fmt.count(s["cache_hits"]), delta_color="off")
    with cols[1]:
        metric("Hit rate", fmt.pct(s["cache_hits"] / max(1, s["jobs"])), delta_color="off")
    with cols[2]:
        metric("Saved (est.)", fmt.usd(s["cache_saved_usd"]), delta_color="off",
               help="Each hit priced at the average cost of a model-answered job of the same task here.")
    colors = charts.task_colors(sorted(view.jobs["task"].unique()))
    show_figure(charts.fig_hit_rate(data.hit_rate_over_time(view.jobs), colors), "ws.hits")
    hits = view.jobs[view.jobs["source"] == "cache"]
    st.subheader("Answers served from the cache")
    table(workspace.search_jobs(hits), "ws.cache_jobs", height=320)


def _ws_predictors(view: workspace.WorkspaceView) -> None:
    cal = workspace.prediction_calibration(view.jobs)
    show_figure(charts.fig_predicted_vs_verified(cal), "ws.calibration")
    st.caption("Over the same jobs: model-answered jobs with both a predicted success and a verifier verdict. "
               "Reference scores arrive later as feedback and are not in the job log.")
    if not cal.empty:
        table(cal, "ws.cal_table")


WORKSPACE_SECTIONS = {"overview": _ws_overview, "decisions": _ws_decisions, "cache": _ws_cache,
                      "predictors": _ws_predictors}
