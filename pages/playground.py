"""Playground: type a job and see the cache lookup, every model's prediction and the choice; with a model
backend, the answer; give feedback that updates the engine."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, gateway
from dashboard import components as ui
from dashboard import formatting as fmt

EXAMPLES = {
    "code_generation": ("A coding request", "Write a Python function `fib(n)` that returns the n-th Fibonacci "
                                            "number, with fib(0) = 0 and fib(1) = 1.", ""),
    "log_parsing": ("A log line", "sshd[4121]: Accepted password for alice from 10.0.3.17 port 52211 ssh2", ""),
    "multiple_choice": ("A question", "Which planet is known as the Red Planet?\nA) Venus\nB) Mars\nC) Jupiter\n"
                                      "D) Saturn", "A|B|C|D"),
    "text_classification": ("A support ticket", "I was charged twice for my Pro plan this month, please refund one "
                                                "of the payments.", "billing|bug|feature_request|account|other"),
}
AUTO = "let the scheduler choose"


def use_example(task: str) -> None:
    _, text, labels = EXAMPLES[task]
    ss = st.session_state
    ss["playground.task"], ss["playground.text"], ss["playground.labels"] = task, text, labels


def on_submit(eng: gateway.PlaygroundEngine, backend: str) -> None:
    ss = st.session_state
    text = (ss.get("playground.text") or "").strip()
    if not text:
        ss["playground.error"] = "Type a job first: a log line, a coding request or a question."
        return
    labels = tuple(x.strip() for x in (ss.get("playground.labels") or "").split("|") if x.strip())
    model = ss.get("playground.model")
    budget = float(ss.get("playground.budget") or 0.0)
    kwargs = {"labels": labels, "budget": budget if budget > 0 else None,
              "model": None if model in (None, AUTO) else model}
    try:
        result = eng.plan(text, ss["playground.task"], **kwargs) if backend == "plan" else \
            eng.ask(text, ss["playground.task"], **kwargs)
    except Exception as exc:   # an engine error (unknown task, no reachable model …) is shown, never raised
        ss["playground.error"] = " ".join(str(exc).split()) or type(exc).__name__
        ss.pop("playground.result", None)
        return
    ss.pop("playground.error", None)
    ss["playground.result"] = {**result, "backend": backend}


def on_feedback(eng: gateway.PlaygroundEngine, job_id: str, score: float) -> None:
    ss = st.session_state
    try:
        outcome = eng.feedback(job_id, score)
    except Exception as exc:
        ss["playground.error"] = f"Feedback not recorded: {' '.join(str(exc).split())}"
        return
    result = ss.get("playground.result") or {}
    history = list(ss.get("playground.history") or [])
    history.insert(0, {"job": job_id, "task": result.get("task"), "model": result.get("model"),
                       "feedback": "👍 good" if score >= 1 else "👎 wrong",
                       "applied": bool(outcome.get("applied", True)), "note": outcome.get("reason", "")})
    ss["playground.history"] = history
    ss["playground.feedback_for"] = job_id
    ss.pop("playground.error", None)
    st.toast("Feedback recorded: the predictors and the cache learned from it.", icon=":material/school:")


def cache_step(result: dict) -> None:
    st.subheader("1 · Cache lookup")
    if result.get("cached"):
        hit = result.get("cache_hit") or {}
        how = f" ({hit.get('kind')} match, similarity {hit['similarity']:.3f})" if hit.get("similarity") else ""
        st.success(f"**Cache hit**{how} — answered from earlier work produced by {fmt.code(result.get('model'))}; no "
                   "model is called.", icon=":material/cached:")
    else:
        st.info("**Cache miss** — no verified earlier answer matches, so the scheduler picks a model.",
                icon=":material/search_off:")


def decision_step(result: dict, colors: dict) -> None:
    st.subheader("2 · Predictions and choice")
    decision = result.get("decision") or {}
    chosen = decision.get("chosen")
    rows = data.decision_table(decision.get("table") or [], chosen)
    if rows.empty:
        st.caption("No model was needed: the cache answered.")
        return
    if chosen is None:
        st.warning(f"No model chosen — {fmt.md(decision.get('reason', ''))}", icon=":material/block:")
    else:
        st.success(f"{fmt.code(chosen)} — {fmt.md(decision.get('reason', ''))}", icon=":material/alt_route:")
    ui.show_figure(charts.fig_decision(rows, colors, chosen=chosen, title="Every candidate for this job"),
                   "playground.fig")
    st.dataframe(rows[["model", "p_success", "cost_usd", "latency_s", "utility"]], hide_index=True,
                 width="stretch", key="playground.table", column_config={
                     "p_success": st.column_config.NumberColumn("P(success)", format="percent"),
                     "cost_usd": st.column_config.NumberColumn("predicted cost", format="$%.6f"),
                     "latency_s": st.column_config.NumberColumn("latency (s)", format="%.2f"),
                     "utility": st.column_config.NumberColumn("utility", format="%.4f")})


def answer_step(eng: gateway.PlaygroundEngine, result: dict) -> None:
    st.subheader("3 · Answer")
    if result.get("planned") and not result.get("cached"):
        st.info("Predict-only mode: no model was called. Choose **Live models** (with `ANTHROPIC_API_KEY` set) for a "
                "real answer, or **Fake models** to walk through the whole flow with deterministic demo answers.",
                icon=":material/visibility:")
        return
    answer = result.get("answer")
    if answer:
        st.code(str(answer), language=None, wrap_lines=True)
    else:
        st.caption("The engine returned no answer text.")
    verdict = result.get("verdict")
    parts = [f"answered by **{result.get('model') or '—'}**"]
    if verdict:
        parts.append(f"verifier: **{verdict}**" + (f" ({result['verdict_reason']})" if result.get("verdict_reason")
                                                    else ""))
    if result.get("attempts") and len(result["attempts"]) > 1:
        parts.append("escalated through " + " → ".join(result["attempts"]))
    parts += [f"cost {fmt.usd(result.get('cost_usd'))}", f"latency {fmt.ms(result.get('latency_s'))}"]
    st.caption(" · ".join(parts))
    for failure in result.get("failures") or []:
        st.caption(f":material/warning: {failure}")
    if result.get("backend") == "fake":
        st.caption(":material/science: Fake models answer deterministically without a network; this demo engine keeps "
                   "its own workspace, so it never teaches the real one.")
    feedback_step(eng, result)


def feedback_step(eng: gateway.PlaygroundEngine, result: dict) -> None:
    st.subheader("4 · Was the answer good?")
    job_id = result.get("job_id")
    if not job_id:
        st.caption("Feedback needs a recorded job.")
        return
    given = st.session_state.get("playground.feedback_for") == job_id
    c1, c2, c3 = st.columns([1, 1, 4])
    c1.button("Good", icon=":material/thumb_up:", key="playground.up", on_click=on_feedback,
              args=(eng, job_id, 1.0), disabled=given, width="stretch")
    c2.button("Wrong", icon=":material/thumb_down:", key="playground.down", on_click=on_feedback,
              args=(eng, job_id, 0.0), disabled=given, width="stretch")
    c3.caption("Recorded at once: the chosen model's predictor learns from it, a good answer is kept in the cache and "
               "a wrong cached answer is dropped. Ask the same job again to see the effect.")
    if given:
        st.success("Thanks — feedback recorded for this job.", icon=":material/check_circle:")


def render() -> None:
    ui.page_header("Playground", "Type a job and watch the engine handle it: cache lookup, every model's prediction, "
                                 "the choice and — with a model backend — the answer. Your feedback teaches it.")
    gw = gateway.get_gateway()
    missing = gw.feature("service")
    if missing:
        ui.not_available(missing, "The Playground runs the live engine.")
        return
    ss = st.session_state
    keyed = gateway.live_key_configured()
    backends = list(gateway.PLAYGROUND_BACKENDS)
    if ss.get("playground.backend") not in backends:
        ss["playground.backend"] = "live" if keyed else "plan"
    backend = st.radio("Answer with", backends, key="playground.backend", horizontal=True,
                       format_func=gateway.PLAYGROUND_BACKENDS.get,
                       help="Predict only shows what the engine would do without calling anything.")
    if backend == "live" and not keyed:
        st.warning("No `ANTHROPIC_API_KEY` is configured for the server, so live models cannot answer. Use "
                   "**Predict only** or **Fake models**, or restart the dashboard with the key set.",
                   icon=":material/key_off:")
    try:
        with st.spinner("Starting the engine …"):
            eng = gw.engine(backend, ui.engine_settings())
    except gateway.Unavailable as exc:
        ui.not_available(str(exc))
        return
    models = eng.models
    colors = charts.model_colors(models)
    st.caption(f"The Playground runs the live engine (its catalog: {', '.join(models)}), with its own cache and "
               f"learned state in the workspace — separate from the trace replays on the other pages.")
    tasks = gateway.task_names()
    if ss.get("playground.task") not in tasks:
        ss["playground.task"] = tasks[0]
    st.markdown("Try an example:")
    ex = st.columns(len(EXAMPLES))
    for col, (task, (label, _, _)) in zip(ex, EXAMPLES.items(), strict=True):
        col.button(label, key=f"playground.example.{task}", on_click=use_example, args=(task,), width="stretch",
                   disabled=task not in tasks)
    with st.container(border=True):
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Task", tasks, key="playground.task")
        c2.selectbox("Model", [AUTO, *models], key="playground.model")
        c3.number_input("Budget for this job (USD, 0 = none)", min_value=0.0, value=0.0, step=0.001, format="%.4f",
                        key="playground.budget")
        st.text_area("Job", key="playground.text", height=120,
                     placeholder="Paste a log line, describe a function to write, or ask a question …")
        st.text_input("Allowed labels (classification / multiple choice; separated by |)", key="playground.labels")
        st.button("Schedule this job", type="primary", key="playground.ask", icon=":material/send:",
                  on_click=on_submit, args=(eng, backend), disabled=backend == "live" and not keyed)
    if ss.get("playground.error"):
        st.error(ss["playground.error"], icon=":material/error:")
    result = ss.get("playground.result")
    if result:
        cache_step(result)
        decision_step(result, colors)
        answer_step(eng if result.get("backend") == backend else gw.engine(result["backend"], ui.engine_settings()),
                    result)
    else:
        ui.empty_state("Type a job above (or pick an example) and press **Schedule this job**.",
                       icon=":material/chat:")
    history = ss.get("playground.history")
    if history:
        with st.expander(f"Feedback given in this session ({len(history)})"):
            st.dataframe(history, hide_index=True, width="stretch", key="playground.history_table")


render()
