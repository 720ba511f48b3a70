"""Data & models: choose a trace, view and edit the model catalog, and set the engine settings."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import data, gateway
from dashboard import formatting as fmt

SOURCES = ("Sample (simulated)", "Folder path", "Upload CSV files", "This workspace's jobs")
FEEDBACK = ("reference", "verifier", "none")
EXHAUSTED = ("cheapest", "cache_only", "refuse")
CATALOG_COLUMNS = ("name", "provider", "input_usd_per_mtok", "output_usd_per_mtok", "params_b", "latency_base_s",
                   "latency_per_token_s", "list_input_usd_per_mtok", "list_output_usd_per_mtok")


# -- trace ---------------------------------------------------------------------------------------------
def _load(ref: gateway.TraceRef) -> None:
    """Validate by loading; on success make it the session's trace, else keep the message for the page."""
    ss = st.session_state
    try:
        gateway.get_gateway().load_trace(ref.path)
    except Exception as exc:   # TraceError names file, row and column; others are I/O problems
        ss["data.error"] = " ".join(str(exc).split()) or type(exc).__name__
        ss.pop("data.loaded", None)
        return
    ss.pop("data.error", None)
    ss["data.loaded"] = ref.label
    ui.set_trace(ref)


def on_load_sample() -> None:
    _load(gateway.TraceRef("sample", str(gateway.SAMPLE_TRACE), "sample (simulated)"))


def on_load_folder() -> None:
    raw = (st.session_state.get("data.folder") or "").strip()
    if not raw:
        st.session_state["data.error"] = "Type the path of a trace folder first."
        return
    path = Path(raw).expanduser()
    if not path.is_dir():
        st.session_state["data.error"] = (f"{raw}: no such folder. A trace is a folder holding models.csv, "
                                          "queries.csv and outcomes.csv (each may be .csv.gz).")
        return
    _load(gateway.TraceRef("folder", str(path.resolve()), path.resolve().name))


def on_load_workspace() -> None:
    folder = gateway.workspace_dir()
    _load(gateway.TraceRef("workspace", str(folder), f"{folder.name} (this workspace's jobs)"))


def on_load_upload() -> None:
    ss = st.session_state
    files = ss.get("data.upload") or []
    try:
        folder = gateway.get_gateway().save_upload([(f.name, f.getvalue()) for f in files])
    except (ValueError, OSError) as exc:
        ss["data.error"] = str(exc)
        return
    _load(gateway.TraceRef("upload", str(folder), f"upload {folder.name[:8]}"))


def trace_section(ctx) -> None:
    ss = st.session_state
    source = st.radio("Source", SOURCES, key="data.source", horizontal=True)
    if source == SOURCES[0]:
        if gateway.SAMPLE_TRACE.is_dir():
            st.caption("The embedded demo trace: simulated jobs (log lines, coding requests, tickets, reviews, quiz "
                       "questions) and simulated models (`sim-…`), with a planted drift event. Nothing in it is real.")
            st.button("Use the sample", key="data.use_sample", on_click=on_load_sample, icon=":material/science:")
        else:
            ui.empty_state("The sample trace is not in this checkout (sample_data/demo). Load a folder or upload files.")
    elif source == SOURCES[1]:
        st.text_input("Trace folder", key="data.folder", placeholder="/path/to/trace (models.csv, queries.csv, "
                                                                     "outcomes.csv; .csv.gz accepted)")
        st.button("Load folder", key="data.load_folder", on_click=on_load_folder, icon=":material/folder_open:")
        st.caption("The folder is only read; nothing is written there.")
    elif source == SOURCES[3]:
        st.caption(f"The jobs the live scheduler answered in the workspace ({fmt.code(str(gateway.workspace_dir()), 120)}"
                   "), replayed as a trace: what-if on your own traffic. Only the outcomes it recorded exist (each "
                   "job's answer from the model that gave it, graded by your feedback or the verifier); a replay that "
                   "would need another outcome shows the job as **missing**, never a guess.")
        st.button("Replay this workspace's jobs", key="data.use_workspace", on_click=on_load_workspace,
                  icon=":material/history:")
    else:
        st.file_uploader("models.csv, queries.csv and outcomes.csv (each may be .csv.gz)", type=["csv", "gz"],
                         accept_multiple_files=True, key="data.upload")
        st.button("Load uploaded files", key="data.load_upload", on_click=on_load_upload, icon=":material/upload:")
        st.caption(f"Uploaded files are stored in the workspace only ({gateway.workspace_dir() / 'uploads'}).")
    if ss.get("data.error"):
        st.error(f"**The trace was not loaded.** {ss['data.error']}", icon=":material/error:")
    elif ss.get("data.loaded"):
        st.success(f"Loaded **{ss['data.loaded']}**: every page now uses it.", icon=":material/check_circle:")


def summary_section(ctx) -> None:
    info = gateway.trace_summary(ctx.key)
    st.markdown(f"**Current trace:** {fmt.md(ctx.ref.label)} · {fmt.code(ctx.ref.path, 200)}")
    if ctx.simulated:
        st.badge("Simulated sample data", icon=":material/science:", color="orange")
    c = st.columns(4)
    with c[0]:
        ui.metric("Jobs", fmt.count(info.get("n_queries")))
    with c[1]:
        ui.metric("Models", fmt.count(info.get("n_models")))
    with c[2]:
        ui.metric("Graded outcomes", fmt.pct(info.get("graded_fraction")))
    with c[3]:
        ui.metric("Cost of every outcome", fmt.usd(info.get("total_cost_usd")),
                  help="What calling every model on every job cost (the trace's recorded costs).")
    left, right = st.columns(2)
    with left:
        tasks = pd.DataFrame(sorted((info.get("tasks") or {}).items()), columns=["task", "jobs"])
        st.dataframe(tasks, hide_index=True, width="stretch", key="data.tasks")
    with right:
        datasets = pd.DataFrame(sorted((info.get("datasets") or {}).items()), columns=["dataset", "jobs"])
        st.dataframe(datasets, hide_index=True, width="stretch", key="data.datasets", height=220)
    flags = [("prices for every model", info.get("has_prices")), ("token counts", info.get("has_tokens")),
             ("recorded latency", info.get("has_latency"))]
    st.caption(" · ".join(f"{'✓' if ok else '✗'} {name}" for name, ok in flags)
               + ("" if info.get("has_latency") else " — latency is modelled from the catalog's latency model"))
    with st.expander("First jobs of the trace"):
        cols = [c for c in ("query_id", "task", "dataset", "text", "reference") if c in ctx.trace.queries.columns]
        st.dataframe(ctx.trace.queries[cols].head(50), hide_index=True, width="stretch", key="data.queries")


# -- catalog -------------------------------------------------------------------------------------------
def catalog_frame(catalog) -> pd.DataFrame:
    rows = []
    for spec in catalog:
        base, per_token = spec.latency_model
        rows.append({"name": spec.name, "provider": spec.provider, "input_usd_per_mtok": spec.input_usd_per_mtok,
                     "output_usd_per_mtok": spec.output_usd_per_mtok, "params_b": spec.params_b,
                     "latency_base_s": base, "latency_per_token_s": per_token,
                     "list_input_usd_per_mtok": spec.list_input_usd_per_mtok,
                     "list_output_usd_per_mtok": spec.list_output_usd_per_mtok})
    return pd.DataFrame(rows, columns=list(CATALOG_COLUMNS))


def on_apply_catalog(ctx, original: pd.DataFrame) -> None:
    ss = st.session_state
    edits = (ss.get("data.catalog_editor") or {}).get("edited_rows")
    text = json.dumps(data.apply_edits(original, edits))
    try:
        gateway.get_gateway().catalog(ctx.trace, text)   # validates: numbers finite and >= 0
    except Exception as exc:
        ss["data.catalog_error"] = str(exc)
        return
    ss.pop("data.catalog_error", None)
    ui.save_catalog(ctx, text)
    ss["data.catalog_saved"] = True


def on_reset_catalog(ctx) -> None:
    ui.save_catalog(ctx, None)
    st.session_state.pop("data.catalog_error", None)
    st.session_state["data.catalog_saved"] = False
    st.session_state.pop("data.catalog_editor", None)


def catalog_section(ctx) -> None:
    st.caption("Prices (USD per million tokens) and the latency model (latency = base + per-token × output tokens) "
               "of each candidate. Replays charge what the trace recorded; the catalog drives predicted cost and "
               "latency, the `cheapest` ordering, modelled latency where the trace records none, and live calls. "
               "Where the trace gives no prices, the list prices of the genai-prices database are the scheduler's "
               "starting point (read-only; costs are still learned from what calls cost).")
    gw = gateway.get_gateway()
    try:
        catalog = gw.catalog(ctx.trace, ctx.catalog_json)
    except Exception as exc:
        st.error(f"The catalog could not be built: {exc}", icon=":material/error:")
        return
    original = catalog_frame(catalog)
    st.data_editor(original, key="data.catalog_editor", hide_index=True, width="stretch", num_rows="fixed",
                   disabled=["name", "list_input_usd_per_mtok", "list_output_usd_per_mtok"], column_config={
                       "input_usd_per_mtok": st.column_config.NumberColumn("input $/Mtok", min_value=0.0,
                                                                           format="%.3f"),
                       "output_usd_per_mtok": st.column_config.NumberColumn("output $/Mtok", min_value=0.0,
                                                                            format="%.3f"),
                       "params_b": st.column_config.NumberColumn("size (B params)", min_value=0.0),
                       "latency_base_s": st.column_config.NumberColumn("latency base (s)", min_value=0.0,
                                                                       format="%.3f"),
                       "latency_per_token_s": st.column_config.NumberColumn("latency per token (s)", min_value=0.0,
                                                                            format="%.4f"),
                       "list_input_usd_per_mtok": st.column_config.NumberColumn("list input $/Mtok", format="%.3f"),
                       "list_output_usd_per_mtok": st.column_config.NumberColumn("list output $/Mtok",
                                                                                 format="%.3f")})
    c1, c2, c3 = st.columns([1, 1, 3])
    c1.button("Apply changes", key="data.catalog_apply", type="primary", on_click=on_apply_catalog,
              args=(ctx, original), icon=":material/save:")
    c2.button("Reset to the trace's", key="data.catalog_reset", on_click=on_reset_catalog, args=(ctx,),
              icon=":material/undo:")
    if st.session_state.get("data.catalog_error"):
        st.error(f"Catalog not applied: {st.session_state['data.catalog_error']}", icon=":material/error:")
    elif ctx.catalog_json:
        c3.caption(":material/edit: An edited catalog is in use for this trace (this session only).")


# -- engine settings -----------------------------------------------------------------------------------
def on_save_settings() -> None:
    """Form callback: runs before the script, so the sidebar and every page see the new settings at once."""
    ss = st.session_state
    budget = float(ss.get("data.budget") or 0.0)
    ss[ui.KEY_SETTINGS] = {
        "policy": ss["data.policy"], "budget_usd": budget if budget > 0 else None, "feedback": ss["data.feedback"],
        "cost_weight": float(ss["data.cost_weight"]), "latency_weight": float(ss["data.latency_weight"]),
        "cache": bool(ss["data.cache"]), "exhausted": ss["data.exhausted"], "seed": int(ss["data.seed"]),
        "max_attempts": int(ss["data.max_attempts"])}
    ss["data.settings_saved"] = True
    ss["settings.budget_touched"] = True       # the user's budget (or none) wins over the default scenario


def settings_section(ctx) -> None:
    gw = gateway.get_gateway()
    s = ui.engine_settings()
    registered = gw.registered_policies()
    policies = [p for p in ("sls", *gateway.ABLATIONS, *gateway.PUBLISHED) if p in registered]
    if not gw.feature("replay"):
        policies += [p for p in gw.baseline_policies(ctx.trace) if p not in policies]
    if s.get("policy") not in policies:
        policies = [s.get("policy"), *policies]
    with st.form("data.settings_form", border=True):
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Policy of the current run", policies, index=policies.index(s.get("policy")), key="data.policy",
                     help="`sls` is the scheduler; its ablations and the baselines are there to compare.")
        c2.number_input("Budget for the run (USD, 0 = none)", min_value=0.0, value=float(s.get("budget_usd") or 0.0),
                        step=0.1, format="%.4f", key="data.budget")
        c3.selectbox("Feedback mode", FEEDBACK, index=FEEDBACK.index(s.get("feedback", "reference")),
                     key="data.feedback", help="reference: the ground truth arrives after each call; verifier: "
                                               "label-free checks only; none: nothing is learned about quality.")
        c4, c5, c6 = st.columns(3)
        c4.number_input("Cost weight λ", 0.0, 100.0, float(s.get("cost_weight", gateway.default_cost_weight())), 0.05, key="data.cost_weight")
        c5.number_input("Latency weight μ", 0.0, 100.0, float(s.get("latency_weight", 0.0)), 0.05,
                        key="data.latency_weight")
        c6.selectbox("When the budget runs out", EXHAUSTED, index=EXHAUSTED.index(s.get("exhausted", "cheapest")),
                     key="data.exhausted")
        c7, c8, c9 = st.columns(3)
        c7.number_input("Calls per job (incl. escalations)", 1, 10, int(s.get("max_attempts", 3)),
                        key="data.max_attempts")
        c8.number_input("Seed", 0, 2**31 - 1, int(s.get("seed", 0)), key="data.seed")
        c9.toggle("Cache on", value=bool(s.get("cache", True)), key="data.cache")
        st.form_submit_button("Save settings", type="primary", icon=":material/save:", on_click=on_save_settings)
    if st.session_state.pop("data.settings_saved", False):
        st.success("Settings saved: Overview, Decisions, Cache and Predictors now show this run.",
                   icon=":material/check_circle:")
    st.caption("Defaults come from the `SLS_*` environment variables (see the README).")


def render() -> None:
    ui.page_header("Data & models", "Which trace the dashboard replays, the models' prices and latency, and how the "
                                    "engine schedules.")
    trace_tab, catalog_tab, settings_tab = st.tabs(["Trace", "Model catalog", "Engine settings"])
    with trace_tab:
        trace_section(None)
        ctx = ui.load_context()
        st.divider()
        if ctx is None:
            error = st.session_state.get("trace.error")
            if error:
                st.error(f"The current trace could not be loaded. {error}", icon=":material/error:")
            else:
                ui.empty_state("No trace loaded yet: choose a source above.")
        else:
            with ui.guard("the trace summary"):
                summary_section(ctx)
    with catalog_tab:
        if ctx is None:
            ui.empty_state("Load a trace first: the catalog lists its models.")
        else:
            with ui.guard("the catalog"):
                catalog_section(ctx)
    with settings_tab:
        if ctx is None:
            ui.empty_state("Load a trace first.")
        else:
            with ui.guard("the engine settings"):
                settings_section(ctx)


render()
