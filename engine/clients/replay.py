"""A chat model that answers from a trace's recorded outcomes for one model (no network, exact, repeatable).

The job is named in one of three ways, first match wins:

1. `model.invoke(messages, job_id="Apache-00001")` — an invoke keyword (reaches `_generate` as a kwarg);
2. `model.invoke(messages, config={"metadata": {"job_id": "Apache-00001"}})` — run metadata, which is
   what `ResilientClient` uses because it is never sent to a live provider's API;
3. `HumanMessage(..., additional_kwargs={"job_id": "Apache-00001"})` on the last message.

`answer(job_id)` is the fast path for replay loops: it returns a cached `Completion` without
LangChain's per-call machinery, and `_generate` is built from the very same `Completion`. Loops that
want no chat model at all can hold `model.table` (a `ReplayTable`) and call its `answer`.
"""

from __future__ import annotations

import math
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from engine.catalog import Catalog, ModelSpec
from engine.clients.completion import Completion, estimate_tokens, price_call
from engine.errors import ClientError
from engine.traces.model import Trace

JOB_ID_KEY = "job_id"


class ReplayChatModel(BaseChatModel):
    """Answers jobs of one trace with what `model_name` returned when the trace was recorded.

    `spec` prices the answers and models latency where the trace has none; it defaults to the
    trace's own models.csv row. Usage is the recorded token counts (0 in `usage_metadata` where unknown,
    with `response_metadata["usage_known"] = False`).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str
    spec: ModelSpec | None = None
    trace_name: str = ""

    _table: ReplayTable = PrivateAttr()

    def __init__(self, trace: Trace, model_name: str, spec: ModelSpec | None = None, **kwargs: Any):
        if model_name not in trace.model_names:
            raise ClientError(f"trace '{trace.name}' has no model '{model_name}'; it has: "
                              f"{', '.join(trace.model_names) or '(none)'}")
        if spec is None:
            row = trace.models[trace.model_index(model_name)]
            spec = Catalog.from_trace_models([row]).get(model_name)
        super().__init__(model_name=model_name, spec=spec, trace_name=trace.name, **kwargs)
        self._table = ReplayTable(trace, model_name, spec)

    @property
    def _llm_type(self) -> str:
        return "replay"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "trace": self.trace_name}

    @property
    def table(self) -> ReplayTable:
        """The recorded answers, for replay loops that want no chat-model machinery at all."""
        return self._table

    def has_job(self, job_id: str) -> bool:
        """Whether the trace recorded an answer of this model to `job_id`."""
        return self._table.has_job(job_id)

    def answer(self, job_id: str) -> Completion:
        """The recorded answer to `job_id` as a `Completion` (cached; the replay hot path).

        Raises `ClientError` when the trace has no such job.
        """
        return self._table.answer(job_id)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        job_id = _job_id(messages, run_manager, kwargs)
        table = self._table
        completion = table.answer(job_id)
        usage_known = completion.input_tokens is not None and completion.output_tokens is not None
        n_in, n_out = completion.input_tokens or 0, completion.output_tokens or 0
        message = AIMessage(
            content=completion.text,
            usage_metadata=UsageMetadata(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out),
            response_metadata={
                "model_name": self.model_name,
                "model_provider": "replay",
                "job_id": job_id,
                "cost_usd": table.recorded_cost(job_id),
                "latency_s": completion.latency_s,
                "latency_modelled": completion.latency_modelled,
                "usage_known": usage_known,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)],
                          llm_output={"model_name": self.model_name})


class ReplayTable:
    """One model's recorded outcomes of a trace, indexed by job id, as plain Python lists.

    Kept apart from the pydantic chat model because attribute access on a pydantic model's private
    attributes costs about a microsecond each, which dominated the replay hot path.
    """

    __slots__ = ("model_name", "trace_name", "spec", "_index", "_texts", "_input_tokens", "_output_tokens",
                 "_costs", "_latencies", "_answers")

    def __init__(self, trace: Trace, model_name: str, spec: ModelSpec):
        j = trace.model_index(model_name)
        self.model_name, self.trace_name, self.spec = model_name, trace.name, spec
        # Plain lists: indexing them is several times cheaper than reading numpy scalars.
        self._index = {str(q): i for i, q in enumerate(trace.queries["query_id"].tolist())}
        self._texts = trace.raw_outputs[:, j].tolist()
        self._input_tokens = trace.input_tokens[:, j].tolist()
        self._output_tokens = trace.output_tokens[:, j].tolist()
        self._costs = trace.costs[:, j].tolist()
        self._latencies = trace.latency_s[:, j].tolist()
        self._answers: dict[str, Completion] = {}

    def __len__(self) -> int:
        return len(self._index)

    def has_job(self, job_id: str) -> bool:
        return job_id in self._index

    def answer(self, job_id: str) -> Completion:
        """The recorded answer to `job_id` (built once, then cached); `ClientError` for an unknown job."""
        completion = self._answers.get(job_id)
        if completion is None:
            completion = self._answers[job_id] = self._build(job_id)
        return completion

    def recorded_cost(self, job_id: str) -> float | None:
        """The cost the trace recorded for `job_id` (None where it has none)."""
        return _finite(self._costs[self._row(job_id)])

    def _row(self, job_id: str) -> int:
        i = self._index.get(job_id)
        if i is None:
            raise ClientError(f"trace '{self.trace_name}' has no job '{job_id}' (model '{self.model_name}')")
        return i

    def _build(self, job_id: str) -> Completion:
        i = self._row(job_id)
        raw = self._texts[i]
        text = raw if isinstance(raw, str) else ""
        input_tokens, output_tokens = _opt_int(self._input_tokens[i]), _opt_int(self._output_tokens[i])
        cost, source = price_call(self.spec, input_tokens, output_tokens, _finite(self._costs[i]))
        latency = _finite(self._latencies[i])
        modelled = latency is None
        if modelled:
            latency = self.spec.modelled_latency(
                output_tokens if output_tokens is not None else estimate_tokens(text))
        return Completion(text=text, input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost,
                          latency_s=latency, latency_modelled=modelled, model=self.model_name,
                          cost_source=source)


def _job_id(messages: list[BaseMessage], run_manager: CallbackManagerForLLMRun | None,
            kwargs: dict[str, Any]) -> str:
    job_id = kwargs.get(JOB_ID_KEY)
    if job_id is None and run_manager is not None:
        job_id = run_manager.metadata.get(JOB_ID_KEY)
    if job_id is None and messages:
        job_id = messages[-1].additional_kwargs.get(JOB_ID_KEY)
    if job_id is None:
        raise ClientError("a replay call needs the job id: pass job_id=…, config={'metadata': {'job_id': …}} "
                          "or additional_kwargs={'job_id': …} on the last message")
    return str(job_id)


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _opt_int(value: Any) -> int | None:
    number = _finite(value)
    return None if number is None else int(round(number))
