"""The replay environment: answers "what would model j have returned for job i" from a trace, applies the
task's parser, verifier and scorer, and enforces the budget exactly as a live run would (a call that does
not fit the remaining budget is cut by the max-tokens cap: it is charged what is left and fails)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.catalog import Catalog
from engine.jobs import Job, Verdict, estimate_input_tokens
from engine.scheduling.budget import BudgetLedger
from engine.tasks import get_task
from engine.traces.model import Trace

SCORING_MODES = ("recorded", "parsed")


@dataclass(frozen=True, slots=True)
class CallResult:
    """What one (replayed) model call produced."""

    model: str
    raw: str
    output: str
    score: float          # NaN when ungraded
    cost_usd: float
    latency_s: float
    input_tokens: float
    output_tokens: float
    truncated: bool = False


class ReplayEnv:
    """Access to a trace's recorded outcomes with per-(job, model) memoised parsing and scoring."""

    def __init__(self, trace: Trace, catalog: Catalog | None = None, *, scoring: str = "parsed",
                 budget: BudgetLedger | None = None):
        if scoring not in SCORING_MODES:
            raise ValueError(f"scoring must be one of {SCORING_MODES}, got {scoring!r}")
        self.trace = trace
        self.catalog = catalog or Catalog.from_trace_models(trace.models)
        self.scoring = scoring
        self.ledger = budget or BudgetLedger()
        self.models = trace.model_names
        self.specs = [self.catalog.get(m) for m in self.models]
        self._jobs: list[Job] = trace.jobs()
        # parses, scores and verdicts depend only on the trace: shared by every replay of it (what-if re-runs)
        self._parsed: dict[tuple[int, int], tuple[str, float]] = trace.memo(f"parsed:{scoring}")
        self._verdicts: dict[tuple[int, int], Verdict] = trace.memo(f"verdicts:{scoring}")
        self._latency = self._latency_matrix()
        self.latency_modelled = bool(np.isnan(trace.latency_s).any())
        self._available_from = self._availability()
        self._all_from = max(self._available_from, default=0)
        self._all = list(range(len(self.models)))
        self._index: dict[str, int] | None = None

    # -- static facts ------------------------------------------------------------------------------------
    def job(self, i: int) -> Job:
        return self._jobs[i]

    def available(self, i: int) -> list[int]:
        """Indices of the models that may be called for job i (a model may join mid-stream; in a workspace's
        trace, only the models whose outcome on job i was recorded)."""
        models = self._all if i >= self._all_from else [j for j, start in enumerate(self._available_from) if start <= i]
        recorded = self.trace.recorded
        return models if recorded is None else [j for j in models if recorded[i, j]]

    def has_outcome(self, i: int, j: int) -> bool:
        """Whether model j's outcome on job i was recorded (always, except in a workspace's own jobs)."""
        return self.trace.recorded is None or bool(self.trace.recorded[i, j])

    def input_tokens(self, i: int, j: int) -> float:
        value = self.trace.input_tokens[i, j]
        return float(value) if not math.isnan(value) else estimate_input_tokens(self.job(i).text)

    def index(self, job_id: str) -> int:
        """The row of the job with this id."""
        if self._index is None:
            self._index = {job.job_id: k for k, job in enumerate(self._jobs)}
        return self._index[job_id]

    # -- the call ----------------------------------------------------------------------------------------
    def peek(self, i: int, j: int) -> tuple[str, float]:
        """(output, score) of model j on job i without spending anything (for hindsight baselines)."""
        key = (i, j)
        hit = self._parsed.get(key)
        if hit is not None:
            return hit
        recorded = float(self.trace.scores[i, j])
        if self.scoring == "recorded":
            result = (str(self.trace.outputs[i, j]), recorded)
        else:
            job = self.job(i)
            task = get_task(job.task)
            output = task.parse(str(self.trace.raw_outputs[i, j]), job)
            score = task.score(job, output) if job.reference is not None else None
            result = (output, recorded if score is None else float(score))
        self._parsed[key] = result
        return result

    def verify(self, i: int, j: int) -> Verdict:
        """The task's label-free verdict on model j's output for job i (memoised)."""
        key = (i, j)
        verdict = self._verdicts.get(key)
        if verdict is None:
            job = self.job(i)
            verdict = self._verdicts[key] = get_task(job.task).verify(job, self.peek(i, j)[0])
        return verdict

    def score_answer(self, i: int, answer: str) -> float:
        """Score of an answer that did not come from a call (a cache hit) for job i.

        With a reference, the task's scorer decides. Without one, the answer gets the recorded score of a
        model that gave the same answer to this job; an answer no model gave counts as wrong (0).
        """
        job = self.job(i)
        task = get_task(job.task)
        if job.reference is not None:
            score = task.score(job, answer)
            if score is not None:
                return float(score)
        target = " ".join(answer.split())
        for j in range(len(self.models)):
            output, score = self.peek(i, j)
            if " ".join(output.split()) == target:
                return score
        return 0.0

    def cost(self, i: int, j: int) -> float:
        """What model j's recorded answer to job i cost."""
        return float(self.trace.costs[i, j])

    def call(self, i: int, j: int) -> CallResult:
        """Replay model j on job i, charging the ledger. A call that does not fit the budget is cut."""
        cost = float(self.trace.costs[i, j])
        reservation = self.ledger.reserve(cost)
        limit = cost
        if reservation is None:
            reservation = self.ledger.reserve(self.ledger.remaining_usd) or self.ledger.reserve(0.0)
            limit = reservation.amount_usd
        result = self.answer(i, j, limit)
        self.ledger.settle(reservation, result.cost_usd)
        return result

    def answer(self, i: int, j: int, limit_usd: float = math.inf) -> CallResult:
        """Model j's recorded answer to job i, without charging anything. A call that costs more than
        `limit_usd` is cut by the max-tokens cap: it costs the limit and answers nothing."""
        output, score = self.peek(i, j)
        cost = float(self.trace.costs[i, j])
        truncated = False
        if cost > limit_usd + 1e-15:
            cost, output, score, truncated = limit_usd, "", 0.0, True
        out_tokens = float(self.trace.output_tokens[i, j])   # a plain float: np.nan_to_num costs µs per call
        return CallResult(self.models[j], str(self.trace.raw_outputs[i, j]), output, score, cost,
                          float(self._latency[i, j]), self.input_tokens(i, j),
                          0.0 if math.isnan(out_tokens) else out_tokens, truncated)

    # -- helpers -----------------------------------------------------------------------------------------
    def _latency_matrix(self) -> np.ndarray:
        """Recorded latency, else the catalog's latency model over (estimated) output tokens."""
        tokens = self.trace.output_tokens_or_estimate()
        lat = self.trace.latency_s.copy()
        for j, spec in enumerate(self.specs):
            base, per_tok = spec.latency_model
            lat[:, j] = np.where(np.isnan(lat[:, j]), base + per_tok * tokens[:, j], lat[:, j])
        return lat

    def _availability(self) -> list[int]:
        ids = {qid: k for k, qid in enumerate(self.trace.queries["query_id"])}
        return [ids.get(m.extra.get("available_from") or "", 0) for m in self.trace.models]
