"""Bad input for the engine's public API (`Engine.ask/plan/run/feedback`, `build_engine`): every mistake is
an `EngineError` subclass with a message saying what was wrong, everything else is answered, and no
answer carries a NaN, an infinite or a negative cost.

Outcomes asserted here (the engine runs on deterministic fake models, no network):

| input | outcome |
|---|---|
| unknown task (any string, None, a list) | `UnknownNameError` listing the known tasks |
| unknown forced model (any string, "", a list) | `UnknownNameError` listing the catalog |
| empty / blank / non-string text | `EngineError` "the job's text is empty / must be a string" |
| text, labels or reference with a lone surrogate | `EngineError` "not valid Unicode text" |
| labels given as one string ("spam") | `EngineError` (it used to become the labels 's', 'p', 'a', 'm') |
| budget NaN, ±inf, negative, a bool or a string | `SettingsError` (NaN used to refuse every paid call silently) |
| budget 0 | only free models can answer; cost 0 |
| text of control characters, NUL, markup; 1 MB of text | answered: cost finite and >= 0, answer a string |
| a model answer holding a lone surrogate | answered, the surrogate replaced by U+FFFD |
| feedback score NaN, inf, < 0, > 1, a bool, a string | `EngineError`; nothing recorded |
| feedback for an unknown or non-text job id | `EngineError` "no job with id …" |
| feedback twice | applied once, then `applied: False` |
| `run` with bad jobs among good ones | good ones answered; bad ones get an `error` row in their place |
| `run` with a bad budget or concurrency | `SettingsError` before any call |
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.catalog import Catalog, ModelSpec
from engine.clients.fake import FakeChatModel
from engine.clients.resilience import ResilientClient
from engine.clients.settings import ClientSettings
from engine.errors import EngineError, SettingsError, UnknownNameError
from engine.jobs import Job, is_valid_text
from engine.service import build_engine
from engine.settings import load_settings
from engine.tasks import TASKS
from tests.badinput.strategies import BADINPUT, BADINPUT_FEW, awkward_floats, broken_text, messy_text

CATALOG = Catalog([
    ModelSpec("free", "anthropic", 0.0, 0.0, None, 0.1, 0.001, "fake-free", "cheap"),
    ModelSpec("paid", "anthropic", 1.0, 5.0, None, 0.3, 0.01, "fake-paid", "top"),
])
TASK_NAMES = sorted(TASKS)
RESULT_KEYS = {"job_id", "answer", "model", "cost_usd", "latency_s", "verdict", "cached", "attempts", "failures"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """One engine for the module (building one opens a Chroma store: about a second)."""
    eng = build_engine(load_settings(workspace=tmp_path_factory.mktemp("ws")), catalog=CATALOG,
                       client_settings=ClientSettings(backend="fake"))
    yield eng
    eng.close()


def check_result(result: dict) -> None:
    """What every answered job gives back."""
    assert set(result) >= RESULT_KEYS
    assert isinstance(result["answer"], str)
    assert isinstance(result["cost_usd"], float) and math.isfinite(result["cost_usd"]) and result["cost_usd"] >= 0
    assert math.isfinite(result["latency_s"]) and result["latency_s"] >= 0
    assert result["verdict"] in ("ok", "rejected", "unknown")
    assert result["model"] is None or result["model"] in CATALOG
    json.dumps(result, allow_nan=False, default=str)     # no NaN or infinity anywhere in the answer


def expected_error(text, task, labels, budget, model) -> type[EngineError] | None:
    """The error `ask` must raise for these arguments (None: it must answer)."""
    if isinstance(labels, str):
        return EngineError
    if not isinstance(task, str) or task not in TASKS:
        return UnknownNameError
    if not isinstance(text, str) or not text.strip():
        return EngineError
    if any(not is_valid_text(x) for x in (text, *labels)):
        return EngineError
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int | float)
                               or not math.isfinite(budget) or budget < 0):
        return SettingsError
    if model is not None and model not in CATALOG:
        return UnknownNameError
    return None




texts = st.one_of(messy_text, broken_text, st.sampled_from(["", " ", "\n\t", "\x00", "user 1 logged in"]),
                  st.sampled_from([None, b"bytes", 42]))
tasks = st.one_of(st.sampled_from(TASK_NAMES), st.sampled_from(["", "LOG_PARSING", "log_parsing ", "nope", None]),
                  messy_text)
budgets = st.one_of(st.none(), awkward_floats, st.integers(-5, 5), st.sampled_from([True, "1.0"]))
models = st.one_of(st.none(), st.sampled_from(["free", "paid", "", "nope", "Free"]))
label_sets = st.one_of(st.lists(st.one_of(messy_text, st.sampled_from(["spam", "ham"])), max_size=3),
                       st.sampled_from(["spam", ("spam", "\ud800")]))


@BADINPUT_FEW
@given(text=texts, task=tasks, labels=label_sets, budget=budgets, model=models)
def test_ask_answers_or_raises_the_error_that_says_what_is_wrong(engine, text, task, labels, budget, model):
    expected = expected_error(text, task, labels, budget, model)
    if expected is None:
        check_result(engine.ask(text, task, labels=labels, budget=budget, model=model))
        return
    with pytest.raises(EngineError) as info:
        engine.ask(text, task, labels=labels, budget=budget, model=model)
    assert isinstance(info.value, expected), f"{type(info.value).__name__}: {info.value}"
    assert str(info.value)


@BADINPUT_FEW
@given(text=messy_text.filter(str.strip), task=st.sampled_from(TASK_NAMES),
       labels=st.lists(st.sampled_from(["spam", "ham", "A", "\x00", "<*>", "a b"]), max_size=3),
       budget=st.one_of(st.none(), st.floats(0, 1e-3), st.sampled_from([0.0, 1e-12, 5e-324, 1e308])),
       model=models.filter(lambda m: m in (None, "free", "paid")))
def test_any_valid_job_is_answered(engine, text, task, labels, budget, model):
    """Control characters, NUL, markup in the text; budgets from 0 to 1e308; policy or forced model."""
    check_result(engine.ask(text, task, labels=labels, budget=budget, model=model))


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"task": "nope"}, UnknownNameError, "unknown task 'nope'; known tasks: code_generation, log_parsing"),
    ({"task": ["log_parsing"]}, UnknownNameError, "unknown task ['log_parsing']"),
    ({"task": None}, UnknownNameError, "unknown task None"),
    ({"model": "nope"}, UnknownNameError, "unknown model 'nope'; the catalog has: free, paid"),
    ({"model": ""}, UnknownNameError, "unknown model ''"),
    ({"model": ["free"]}, UnknownNameError, "unknown model ['free']"),
    ({"text": ""}, EngineError, "the job's text is empty"),
    ({"text": " \n\t "}, EngineError, "the job's text is empty"),
    ({"text": None}, EngineError, "the job's text is empty"),
    ({"text": b"user 1 in"}, EngineError, "the job's text must be a string, got bytes"),
    ({"text": "user \ud800 in"}, EngineError, "the job's text is not valid Unicode text"),
    ({"labels": "spam"}, EngineError, "labels must be a list of label strings, not one string"),
    ({"labels": ["spam", 3]}, EngineError, "the job's labels must be strings"),
    ({"reference": "\udfff"}, EngineError, "the job's reference is not valid Unicode text"),
    ({"budget": math.nan}, SettingsError, "budget must be a finite number >= 0 USD, or None for no budget; got nan"),
    ({"budget": math.inf}, SettingsError, "got inf"),
    ({"budget": -0.01}, SettingsError, "got -0.01"),
    ({"budget": True}, SettingsError, "got True"),
    ({"budget": "1"}, SettingsError, "got '1'"),
])
def test_each_mistake_is_a_clear_error(engine, kwargs, error, message):
    arguments = {"text": "user 1 logged in", "task": "log_parsing"} | kwargs
    text, task = arguments.pop("text"), arguments.pop("task")
    with pytest.raises(error) as info:
        engine.ask(text, task, **arguments)
    assert message in str(info.value)


def test_a_megabyte_log_line_is_answered(engine):
    """Cached, embedded, logged and parsed (each task's parser gets its megabyte in test_task_inputs)."""
    text = "user 42 logged in from 10.0.0.1 " * 31_250      # 1 MB
    result = engine.ask(text, "log_parsing", model="free")
    check_result(result)
    assert result["cost_usd"] == 0.0


def test_a_zero_budget_leaves_only_free_models(engine):
    """Defined behaviour: a budget of 0 still lets a free model (price 0) answer, at cost 0."""
    result = engine.ask("worker 7 finished task 12 in 40 ms", "log_parsing", budget=0.0)
    check_result(result)
    assert result["model"] in (None, "free") and result["cost_usd"] == 0.0


def test_a_free_model_costs_nothing_and_a_paid_one_is_priced(engine):
    free = engine.ask("disk 3 failed on node 9", "log_parsing", model="free")
    paid = engine.ask("disk 4 failed on node 11", "log_parsing", model="paid")
    assert free["cost_usd"] == 0.0
    assert paid["cost_usd"] > 0


def test_a_model_answer_with_a_lone_surrogate_is_answered(tmp_path):
    client = ResilientClient({"paid": FakeChatModel(model_name="paid", script=["B \ud800 (B)"])}, CATALOG)
    eng = build_engine(load_settings(workspace=tmp_path / "ws"), catalog=CATALOG, client=client)
    try:
        result = eng.ask("Which one?\nA) x\nB) y", "multiple_choice", model="paid")
        check_result(result)
        assert result["answer"] == "B"
        assert eng.feedback(result["job_id"], 1.0)["applied"] is True
    finally:
        eng.close()


# -- feedback -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("score", [math.nan, math.inf, -math.inf, -0.01, 1.0001, True, "1", None, [1]])
def test_feedback_with_a_bad_score_is_an_error(engine, score):
    job_id = engine.ask("session 5 opened for user bob", "log_parsing", model="free")["job_id"]
    with pytest.raises(EngineError, match="feedback score must be a number between 0 and 1"):
        engine.feedback(job_id, score)
    assert engine.feedback(job_id, 1)["applied"] is True       # nothing was recorded by the bad call


@BADINPUT
@given(job_id=st.one_of(messy_text, broken_text, st.sampled_from([None, 7, b"id"])),
       score=st.one_of(awkward_floats, st.integers(-2, 2)))
def test_feedback_for_an_unknown_job_is_an_error(engine, job_id, score):
    with pytest.raises(EngineError) as info:
        engine.feedback(job_id, score)
    assert "feedback score must be" in str(info.value) or "no job with id" in str(info.value)


def test_feedback_twice_is_applied_once(engine):
    job_id = engine.ask("connection 9 closed by peer", "log_parsing", model="free")["job_id"]
    assert engine.feedback(job_id, 0.0)["applied"] is True
    assert engine.feedback(job_id, 1.0)["applied"] is False


# -- run ------------------------------------------------------------------------------------------------
def test_run_answers_good_jobs_and_marks_bad_ones(engine):
    jobs = [Job("good-1", "log_parsing", "user 1 logged in"),
            Job("empty", "log_parsing", "  "),
            Job("unknown-task", "nope", "user 2 logged in"),
            Job("surrogate", "log_parsing", "user \ud800 logged in"),
            Job("not-text", "log_parsing", None),
            Job("good-2", "multiple_choice", "Which?\nA) x\nB) y")]
    results = engine.run(jobs, concurrency=2)
    assert [r["job_id"] for r in results] == [j.job_id for j in jobs]
    errors = {r["job_id"]: r.get("error") for r in results}
    assert errors["good-1"] is None and errors["good-2"] is None
    assert "empty" in errors["empty"] and "unknown task 'nope'" in errors["unknown-task"]
    assert "not valid Unicode" in errors["surrogate"] and "empty" in errors["not-text"]
    for r in results:
        assert math.isfinite(r["cost_usd"]) and r["cost_usd"] >= 0


@pytest.mark.parametrize(("kwargs", "message"), [({"budget": math.nan}, "budget must be a finite number"),
                                                 ({"budget": -1}, "budget must be a finite number"),
                                                 ({"concurrency": "4"}, "concurrency must be a whole number"),
                                                 ({"concurrency": 2.5}, "concurrency must be a whole number")])
def test_run_with_a_bad_budget_or_concurrency_is_an_error(engine, kwargs, message):
    with pytest.raises(SettingsError, match=message):
        engine.run([Job("x", "log_parsing", "user 1 logged in")], **kwargs)


def test_run_with_no_jobs_or_zero_concurrency_is_defined(engine):
    assert engine.run([]) == []
    assert engine.run([Job("z", "log_parsing", "user 3 logged in")], concurrency=0)[0]["answer"]  # at least 1


def test_plan_with_an_unknown_model_is_an_error(engine):
    with pytest.raises(UnknownNameError, match="unknown model 'nope'"):
        engine.plan(engine.make_job("user 1 in", "log_parsing"), ["nope"])
