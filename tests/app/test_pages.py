"""AppTest: every page runs without an exception on an empty session, and the widgets of Live run, What-if
budgets, Playground and Data & models change what the page shows."""

from __future__ import annotations

import pytest
from app_helpers import APP, write_tiny_trace
from streamlit.testing.v1 import AppTest

TIMEOUT = 120
PAGES = {"overview": "Overview", "live_run": "Live run", "decisions": "Decisions", "cache": "Cache",
         "predictors": "Predictors & drift", "what_if": "What-if budgets", "playground": "Playground",
         "data_models": "Data & models"}


def open_page(name: str) -> AppTest:
    """A fresh session (empty session state) opened on page `name`."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if name != "overview":
        at.switch_page(f"../pages/{name}.py").run()
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [s.value for s in at.success] + [e.value for e in at.error] + [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_runs_on_an_empty_session(app_env, name):
    at = open_page(name)
    no_errors(at)
    assert [t.value for t in at.title] == [PAGES[name]]


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_explains_a_broken_trace_without_an_exception(monkeypatch, tmp_path, name):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "models.csv").write_text("model,provider\nm,p\n")
    monkeypatch.setenv("SLS_TRACE", str(broken))
    monkeypatch.setenv("SLS_WORKSPACE", str(tmp_path / "ws"))
    at = open_page(name)
    assert not at.exception, [e.value for e in at.exception]
    crashed = [e.value for e in at.error if "Something went wrong" in str(e.value)]
    assert not crashed, crashed           # the guard caught a crash: an explanation is not a crash
    if name != "playground":          # the playground runs the live engine, not the trace
        assert at.error or at.info, "a page without its trace must say why"


def test_sidebar_shows_the_trace_and_the_simulated_badge_only_for_the_sample(app_env):
    at = open_page("overview")
    picker = at.sidebar.selectbox(key="sidebar.trace")
    assert picker.value == app_env.name
    assert "Simulated sample data" not in str(at.sidebar)


# -- overview ------------------------------------------------------------------------------------------
def test_overview_headline_against_the_best_single_model(app_env):
    at = open_page("overview")
    no_errors(at)
    labels = [m.label for m in at.metric]
    assert labels[:6] == ["Accuracy", "Cost", "Processing time", "LLM calls", "Cache hit rate", "Spend vs budget"]
    first = at.markdown[0].value if at.markdown else ""
    assert first.startswith("### With a budget of **$"), first          # the default scenario has a budget
    assert "against always calling the most accurate model `tiny-large`" in first
    assert "saved" in first or "more" in first
    assert "accuracy" in first
    assert "by source: cache" in texts(at)
    assert len(at.get("plotly_chart")) >= 3


# -- live run ------------------------------------------------------------------------------------------
def progress_text(at: AppTest) -> str:
    return at.get("progress")[0].proto.text


def test_live_run_step_start_pause_reset(app_env):
    at = open_page("live_run")
    no_errors(at)
    assert progress_text(at).startswith("Ready: 0 / 90")
    at.select_slider(key="live.speed").set_value("slow (10 jobs / tick)")
    at.button(key="live.step").click().run()
    no_errors(at)
    assert progress_text(at).startswith("Paused: 10 / 90")
    assert len(at.dataframe) >= 1                       # the decision feed
    feed = at.dataframe[0].value
    assert list(feed["seq"]) == list(range(9, -1, -1))  # newest first

    at.button(key="live.start").click().run()           # running: each rerun advances one tick
    assert at.session_state["live.running"] is True
    assert progress_text(at).startswith("Running: 20 / 90")
    at.run()
    assert progress_text(at).startswith("Running: 30 / 90")
    at.button(key="live.pause").click().run()
    assert at.session_state["live.running"] is False
    assert progress_text(at).startswith("Paused: 30 / 90")
    at.run()
    assert progress_text(at).startswith("Paused: 30 / 90")   # paused: no stepping

    at.button(key="live.reset").click().run()
    assert progress_text(at).startswith("Ready: 0 / 90")
    assert "live.session" not in at.session_state


def test_live_run_finishes_and_stops(app_env):
    at = open_page("live_run")
    at.select_slider(key="live.speed").set_value("fastest (1,000 jobs / tick)")
    at.number_input(key="live.budget").set_value(0.0005)
    at.button(key="live.start").click().run()
    no_errors(at)
    assert progress_text(at).startswith("Finished: 90 / 90")
    assert at.session_state["live.running"] is False
    assert at.button(key="live.start").disabled
    spend = metric(at, "Spend")
    assert spend.startswith("$") and float(spend[1:]) <= 0.0005 + 1e-9


def test_live_run_baseline_policy(app_env):
    at = open_page("live_run")
    at.selectbox(key="live.policy").select("single:tiny-small")
    at.button(key="live.step").click().run()
    no_errors(at)
    assert "policy single:tiny-small" in progress_text(at)
    assert set(at.dataframe[0].value["decision"]) == {"tiny-small"}


# -- predictors ----------------------------------------------------------------------------------------
def test_predictors_filter_by_task_and_model(app_env):
    at = open_page("predictors")
    no_errors(at)
    assert at.selectbox(key="predictors.task").options == ["all tasks", "log_parsing"]
    at.selectbox(key="predictors.task").select("log_parsing").run()
    no_errors(at)
    at.multiselect(key="predictors.models").set_value(["tiny-small"]).run()
    no_errors(at)
    assert at.get("plotly_chart"), "the predictor charts are drawn"


# -- what-if -------------------------------------------------------------------------------------------
def test_what_if_reacts_to_budget_weights_models_and_cache(app_env):
    at = open_page("what_if")
    no_errors(at)
    first = {m.label: m.value for m in at.metric}
    assert set(first) >= {"Accuracy", "Cost", "Cache hit rate"}
    assert any(b.label == "Download these results (CSV)" for b in at.get("download_button")) or \
        at.get("download_button")
    lowest = at.session_state["whatif.budget_options"][0]
    at.select_slider(key="whatif.budget").set_value(lowest).run()     # the smallest budget caps the spend
    no_errors(at)
    low = {m.label: m.value for m in at.metric}
    assert low != first
    assert float(low["Cost"].lstrip("$")) <= lowest + 0.0006     # within the display rounding
    at.toggle(key="whatif.unlimited").set_value(True).run()
    unlimited = {m.label: m.value for m in at.metric}
    assert unlimited["Cost"] != "$0.00"
    at.toggle(key="whatif.cache").set_value(False).run()
    assert metric(at, "Cache hit rate") == "0.0%"
    at.multiselect(key="whatif.models").set_value(["tiny-small"]).run()
    no_errors(at)
    assert metric(at, "LLM calls") == "90"           # one call per job, all on the single model left
    share = [c for c in at.get("plotly_chart")]
    assert share, "the what-if charts are drawn"


def test_what_if_with_no_model_asks_for_one(app_env):
    at = open_page("what_if")
    at.multiselect(key="whatif.models").set_value([]).run()
    assert not at.exception
    assert "Pick at least one model" in texts(at)


# -- playground ----------------------------------------------------------------------------------------
def test_playground_predict_only_shows_predictions_and_choice(app_env):
    at = open_page("playground")
    no_errors(at)
    assert at.radio(key="playground.backend").value == "plan"
    at.button(key="playground.example.log_parsing").click().run()
    assert at.text_area(key="playground.text").value.startswith("sshd[4121]")
    at.button(key="playground.ask").click().run()
    no_errors(at)
    page = texts(at)
    assert "Cache miss" in page and "Predict-only mode" in page
    table = at.dataframe[0].value
    assert {"model", "p_success", "utility"} <= set(table.columns) and len(table) >= 2
    assert at.get("plotly_chart"), "the decision chart is drawn"


def test_playground_fake_backend_answers_and_takes_feedback(app_env):
    at = open_page("playground")
    at.radio(key="playground.backend").set_value("fake").run()
    at.button(key="playground.example.multiple_choice").click().run()
    at.button(key="playground.ask").click().run()
    no_errors(at)
    result = at.session_state["playground.result"]
    assert result["job_id"] and result["model"]
    assert "answered by" in texts(at)
    at.button(key="playground.up").click().run()
    no_errors(at)
    history = at.session_state["playground.history"]
    assert len(history) == 1 and history[0]["feedback"] == "👍 good" and history[0]["job"] == result["job_id"]
    assert at.button(key="playground.up").disabled


def test_playground_empty_job_is_explained(app_env):
    at = open_page("playground")
    at.button(key="playground.ask").click().run()
    assert not at.exception
    assert "Type a job first" in at.error[0].value


# -- data & models -------------------------------------------------------------------------------------
def test_data_shows_the_trace_summary(app_env):
    at = open_page("data_models")
    no_errors(at)
    assert metric(at, "Jobs") == "90" and metric(at, "Models") == "3"
    assert app_env.name in texts(at)


def test_data_rejects_a_missing_folder_and_a_bad_trace(app_env, tmp_path):
    at = open_page("data_models")
    at.radio(key="data.source").set_value("Folder path").run()
    at.text_input(key="data.folder").input(str(tmp_path / "nope")).run()
    at.button(key="data.load_folder").click().run()
    assert not at.exception
    assert "no such folder" in at.error[0].value
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "models.csv").write_text("model,provider\nm,p\n")
    at.text_input(key="data.folder").input(str(bad)).run()
    at.button(key="data.load_folder").click().run()
    assert not at.exception
    assert "The trace was not loaded" in at.error[0].value
    assert "queries" in at.error[0].value                # the reader names what is missing
    assert at.sidebar.selectbox(key="sidebar.trace").value == app_env.name   # unchanged


def test_data_loads_another_folder_and_every_page_follows(app_env, tmp_path):
    other = write_tiny_trace(tmp_path / "other-trace", n=40, seed=11)
    at = open_page("data_models")
    at.radio(key="data.source").set_value("Folder path").run()
    at.text_input(key="data.folder").input(str(other)).run()
    at.button(key="data.load_folder").click().run()
    no_errors(at)
    assert "Loaded **other-trace**" in texts(at)
    assert metric(at, "Jobs") == "40"
    assert at.sidebar.selectbox(key="sidebar.trace").value == "other-trace"
    at.switch_page("../pages/live_run.py").run()
    assert progress_text(at).startswith("Ready: 0 / 40")


def test_data_engine_settings_change_the_current_run(app_env):
    at = open_page("data_models")
    at.number_input(key="data.budget").set_value(0.0004)
    at.selectbox(key="data.policy").select("single:tiny-mid")
    next(b for b in at.button if b.label == "Save settings").click().run()
    no_errors(at)
    settings = at.session_state["settings.engine"]
    assert settings["policy"] == "single:tiny-mid" and settings["budget_usd"] == pytest.approx(0.0004)
    assert "Policy **single:tiny-mid**" in str(at.sidebar.caption[0].value)
    at.switch_page("../pages/overview.py").run()
    no_errors(at)
    assert metric(at, "Spend vs budget") != "no budget"


def test_what_if_scenario_from_the_url_and_side_by_side(app_env):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["cost_weight"] = "0.4"
    at.query_params["cache"] = "0"
    at.run()
    at.switch_page("../pages/what_if.py").run()
    no_errors(at)
    assert at.slider(key="whatif.cost_weight").value == pytest.approx(0.4)     # the shared scenario opened
    assert at.toggle(key="whatif.cache").value is False
    assert at.query_params["cost_weight"] == ["0.4"] or at.query_params["cost_weight"] == "0.4"
    at.button(key="whatif.pin").click().run()
    at.toggle(key="whatif.cache").set_value(True).run()
    no_errors(at)
    ab = next(d.value for d in at.dataframe if "A (pinned)" in d.value.columns)
    row = ab[ab[""] == "cache"].iloc[0]
    assert (row["A (pinned)"], row["B (on screen)"]) == ("off", "on")
