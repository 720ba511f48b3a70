"""ReplayChatModel: recorded text, usage, cost and latency, through invoke and the fast path."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.messages import HumanMessage

from engine.catalog import ModelSpec
from engine.clients import Completion, ReplayChatModel, ResilientClient
from engine.errors import ClientError


def test_answer_returns_recorded_text_usage_cost_and_latency(tiny_trace):
    model = ReplayChatModel(tiny_trace, "tok")
    got = model.answer("q1")
    assert got == Completion(text="raw T1", input_tokens=10, output_tokens=1, cost_usd=pytest.approx(1.2e-5),
                             latency_s=0.75, latency_modelled=False, model="tok", cost_source="usage")


def test_latency_is_modelled_and_flagged_where_the_trace_has_none(tiny_trace):
    spec = ModelSpec("tok", "together", 1.0, 2.0, latency_base_s=0.5, latency_per_token_s=0.1)
    got = ReplayChatModel(tiny_trace, "tok", spec=spec).answer("q2")
    assert got.latency_modelled is True
    assert got.latency_s == pytest.approx(0.5 + 0.1 * 2)


def test_unknown_tokens_fall_back_to_the_recorded_cost(tiny_trace):
    got = ReplayChatModel(tiny_trace, "notok").answer("q2")
    assert (got.text, got.input_tokens, got.output_tokens) == ("answer y", None, None)
    assert got.cost_usd == pytest.approx(0.0005) and got.cost_source == "reported"
    assert got.latency_modelled is True and got.latency_s > 0


def test_missing_recorded_output_becomes_empty_text(tiny_trace):
    assert ReplayChatModel(tiny_trace, "notok").answer("q3").text == ""


@pytest.mark.parametrize("how", ["kwarg", "config", "message"])
def test_invoke_names_the_job_three_ways(tiny_trace, how):
    model = ReplayChatModel(tiny_trace, "tok")
    if how == "kwarg":
        msg = model.invoke([HumanMessage("line two")], job_id="q2")
    elif how == "config":
        msg = model.invoke([HumanMessage("line two")], config={"metadata": {"job_id": "q2"}})
    else:
        msg = model.invoke([HumanMessage("line two", additional_kwargs={"job_id": "q2"})])
    assert msg.content == "raw T2"
    assert msg.usage_metadata == {"input_tokens": 20, "output_tokens": 2, "total_tokens": 22}
    meta = msg.response_metadata
    assert meta["model_name"] == "tok" and meta["job_id"] == "q2" and meta["usage_known"] is True
    assert meta["cost_usd"] == pytest.approx(2.4e-5)
    assert meta["latency_modelled"] is True


def test_invoke_reports_zero_usage_as_unknown_where_not_recorded(tiny_trace):
    msg = ReplayChatModel(tiny_trace, "notok").invoke("x", job_id="q1")
    assert msg.usage_metadata["total_tokens"] == 0
    assert msg.response_metadata["usage_known"] is False
    assert msg.response_metadata["cost_usd"] == pytest.approx(0.0004)


def test_invoke_without_a_job_id_says_how_to_pass_one(tiny_trace):
    with pytest.raises(ClientError, match="job_id"):
        ReplayChatModel(tiny_trace, "tok").invoke("no id")


def test_unknown_job_and_unknown_model_are_client_errors(tiny_trace):
    with pytest.raises(ClientError, match="no job 'nope'"):
        ReplayChatModel(tiny_trace, "tok").answer("nope")
    with pytest.raises(ClientError, match="has no model 'ghost'.*tok, notok"):
        ReplayChatModel(tiny_trace, "ghost")


def test_usage_callback_batch_and_ainvoke_work(tiny_trace):
    model = ReplayChatModel(tiny_trace, "tok")
    handler = UsageMetadataCallbackHandler()
    model.invoke("a", job_id="q1", config={"callbacks": [handler]})
    model.invoke("b", job_id="q2", config={"callbacks": [handler]})
    assert handler.usage_metadata["tok"]["total_tokens"] == 11 + 22
    batch = model.batch(["a", "b"], config=[{"metadata": {"job_id": "q1"}}, {"metadata": {"job_id": "q3"}}])
    assert [m.content for m in batch] == ["raw T1", "raw T3"]
    assert asyncio.run(model.ainvoke("c", job_id="q3")).content == "raw T3"


def test_resilient_client_gives_the_same_completion_through_invoke_and_the_fast_path(tiny_trace):
    models = {"tok": ReplayChatModel(tiny_trace, "tok"), "notok": ReplayChatModel(tiny_trace, "notok")}
    fast = ResilientClient(models, fast_replay=True)
    slow = ResilientClient(models, fast_replay=False)
    for name in models:
        for job in ("q1", "q2", "q3"):
            assert fast.call(name, "x", job_id=job) == slow.call(name, "x", job_id=job)
