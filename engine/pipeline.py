"""One job's path, for every caller: `Pipeline.handle(job, ledger, backend) -> Outcome`.

    cache lookup ─hit─► judge the hit ─► feedback ───────────────────────────────┐
        │miss                                                                     │
    predictions ─► decision (λ paced to the budget, Thompson exploration)         │
        ▼                                                                         │
    reserve the call's worst case ─► backend.call ─► settle / release             │
        ▼                                                                         │
    parse ─► verify (the task's judge) ─► escalate or second opinion ⟲            │
        ▼                                                                         ▼
    feedback ─► update manager (predictors, pacer, cache, thresholds, drift, judges) ─► Outcome

The live `Engine` (`sls ask`, `sls run`, the Playground), every replay policy built on the scheduler, the
What-if page and `ReplaySession` all call this. Live and replay differ only by the `Backend`: its one
method `call(job, model, limit_usd=…)` returns what the model answered (a LangChain chat model, or the
trace's recorded outcome); the rest of the protocol describes the backend (which models, their input
tokens and worst-case cost, a reference score for an answer that came from the cache).

Thread-safe: the scheduling and learning steps run under one lock, model calls outside it, so a pool of
threads can share one pipeline; the budget ledger is the ceiling across them.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from engine.errors import ClientError
from engine.jobs import Job, Verdict, estimate_input_tokens  # noqa: F401 - re-exported
from engine.outcome import RULE, Outcome, answered_model
from engine.predictors.predictors import Prediction
from engine.scheduling.budget import Ledger, WhenExhausted
from engine.scheduling.scheduler import Scheduler
from engine.tasks import get_task
from engine.updates.manager import Attempt, Feedback

TRUNCATED = Verdict(False, "call cut by the budget")
CALL_FAILED = Verdict(False, "call failed")
RESERVE_WAIT_S = 30.0      # how long a call waits for calls in flight to give back what they reserved
CUT_SHARE = 4.0            # a call whose worst case does not fit is sent with this many times its expected output


@dataclass(frozen=True, slots=True)
class Call:
    """What one model call produced. `output`/`score`/`verdict` are filled by backends that know them
    already (a trace's memoised parse); otherwise the pipeline parses, scores and verifies `text`.
    `failed` holds the reason when the model did not answer (nothing billed)."""

    model: str
    text: str = ""
    cost_usd: float = 0.0
    latency_s: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float | None = None
    truncated: bool = False
    failed: str | None = None
    output: str | None = None
    score: float | None = None
    verdict: Verdict | None = None


class Backend(Protocol):
    """Where answers come from. `call` is the seam; the rest describes the backend."""

    #: without a reference, a live answer is graded by the verifier (the score the predictors learn)
    verdict_scores: bool
    #: only some outcomes exist (a workspace's own jobs replayed): a job with no candidate is `missing`
    partial: bool

    def call(self, job: Job, model: str, *, limit_usd: float) -> Call:
        """Call `model` on `job`, spending at most `limit_usd` (its worst case when that fits the budget;
        less when the budget cut it: a replay marks the call truncated, a live call lowers max_tokens)."""
        ...

    def candidates(self, job: Job) -> list[str]: ...

    def input_tokens(self, job: Job, model: str) -> float: ...

    def worst_case_usd(self, job: Job, model: str, output_tokens: float | None = None) -> float:
        """What a call can bill at most; with `output_tokens`, when sent with its output capped there
        (a backend that knows the exact cost returns it either way)."""

    def reference_score(self, job: Job, answer: str) -> float:
        """The score of an answer that did not come from a call (a cache hit); NaN when unknown."""
        ...


def follow_up(attempts: list[Attempt]) -> str:
    """What happened after the first call, in words."""
    rejected = [a.model for a in attempts[:-1] if a.verdict.ok is False]
    if rejected:
        return f"verifier rejected {', '.join(rejected)}: escalated to {attempts[-1].model}"
    return f"second opinion from {', '.join(a.model for a in attempts[1:])} (answers compared, majority kept)"


class Pipeline:
    """Handles one job at a time (or many from several threads) with one scheduler's learned state."""

    def __init__(self, scheduler: Scheduler, *, when_exhausted: str = WhenExhausted.CHEAPEST,
                 lock: threading.RLock | None = None,
                 on_feedback: Callable[[Feedback, list], None] | None = None):
        self.scheduler = scheduler
        self.when_exhausted = WhenExhausted(when_exhausted)
        self.lock = lock or threading.RLock()
        self.on_feedback = on_feedback     # told of each event this pipeline applied (a fleet publishes it)

    def learn(self, fb: Feedback) -> list:
        """Apply one feedback event through the update manager (under the lock); returns its drift events."""
        drift = self.scheduler.feedback(fb)
        if self.on_feedback is not None:
            self.on_feedback(fb, drift)
        return drift

    # -- the one path ----------------------------------------------------------------------------------
    def handle(self, job: Job, ledger: Ledger, backend: Backend, *, seq: int | Callable[[], int],
               model: str | None = None) -> Outcome:
        """Answer `job`. `seq` is the event sequence number, or a function giving it at feedback time
        (live jobs finish out of order). `model` forces one model (no cache, no policy)."""
        started = time.perf_counter()
        timer = _Timer()
        next_seq = seq if callable(seq) else (lambda: seq)
        sched = self.scheduler
        with self.lock:
            if self.when_exhausted is WhenExhausted.REFUSE and getattr(ledger, "exhausted", False):
                s = next_seq()
                sched.after_job(ledger)
                return _finish(Outcome.refused(s, job, "budget exhausted (refuse): job not answered"), started,
                               timer)
            if model is None:
                key, hit = sched.lookup(job)
            else:
                key, hit = get_task(job.task).cache_key(job), None
            if hit is not None:
                return _finish(self._cache_hit(job, key, hit, ledger, backend, next_seq), started, timer)
            names = [model] if model is not None else backend.candidates(job)
            if not names and backend.partial:
                s = next_seq()
                sched.after_job(ledger)
                return _finish(Outcome.missing(s, job), started, timer)
            if not names:
                raise ClientError("no model is reachable: configure ANTHROPIC_API_KEY or load a trace to replay")
            specs = sched.candidates(names)
            in_tok = statistics.median(backend.input_tokens(job, s.name) for s in specs)
            predictions = sched.predict(job, specs, in_tok)
            decision = sched.decide(predictions, planning_view(ledger))
            if decision.chosen is None:
                # paced, not first come first served: the fallback spends no more than the budget line allows
                allowed = min(ledger.remaining_usd, sched.spendable(planning_view(ledger), predictions))
                affordable = [m for m in predictions if cut_bound(job, m, predictions[m], backend) <= allowed]
        if decision.chosen is None:
            return _finish(self._exhausted(job, ledger, backend, predictions, affordable, next_seq, timer),
                           started, timer)

        attempts: list[Attempt] = []
        failures: list[str] = []
        chosen = decision.chosen
        while chosen is not None:
            p = predictions[chosen].p_success
            call = self._call(job, chosen, ledger, backend, timer, predictions[chosen])
            if call.failed is not None:   # a failed model is negative feedback and a fallback
                failures.append(f"{chosen}: {call.failed}")
                attempts.append(Attempt(chosen, "", CALL_FAILED, 0.0, p, 0.0, 0.0, in_tok, None))
            else:
                output, verdict, score = self._judge(job, call, backend)
                attempts.append(Attempt(chosen, output, verdict, score, p, call.cost_usd, call.latency_s,
                                        call.input_tokens, call.output_tokens or None))
            with self.lock:
                chosen = sched.next_model(job, decision, attempts, planning_view(ledger))
        with self.lock:
            final = sched.final_attempt(attempts)
            s = next_seq()
            # A failed call teaches the predictors too (verdict False), so a failing model loses traffic.
            drift = self.learn(Feedback(s, job, key, tuple(attempts)))
            sched.after_job(ledger, called=True)
        reason = decision.reason if len(attempts) == 1 else f"{decision.reason}; {follow_up(attempts)}"
        outcome = Outcome(
            s, job.job_id, job.task, job.dataset, "model", answered_model(final.model, attempts, failures),
            attempts=len(attempts), score=final.score,
            cost_usd=sum(a.cost_usd for a in attempts), latency_s=sum(a.latency_s for a in attempts),
            predicted_p=predictions[final.model].p_success, verified=final.verdict.ok, reason=reason,
            models_tried=tuple(a.model for a in attempts), explore_gap=round(decision.explore_gap, 6),
            text=job.text, labels=tuple(job.labels), answer=final.output, verdict_reason=final.verdict.reason,
            failures=tuple(failures), explored=decision.explored, lam=round(decision.cost_weight, 5),
            drift=tuple(e.model for e in drift), decision=decision)
        return _finish(outcome, started, timer)

    # -- steps -----------------------------------------------------------------------------------------
    def _cache_hit(self, job, key, hit, ledger, backend, next_seq) -> Outcome:
        sched = self.scheduler
        score = backend.reference_score(job, hit.answer)
        s = next_seq()
        drift = self.learn(Feedback(s, job, key, (), hit, sched.hit_verdict(job, hit.answer, score)))
        sched.after_job(ledger)
        return Outcome(s, job.job_id, job.task, job.dataset, "cache", hit.model, score=score,
                       reason=f"cache {hit.kind} hit (similarity {hit.similarity:.3f})", verified=True,
                       false_hit=not math.isnan(score) and score < 1.0, text=job.text, labels=tuple(job.labels),
                       answer=hit.answer, verdict_reason="cache hit", lam=round(sched.pacer.lam, 5),
                       drift=tuple(e.model for e in drift))

    def _exhausted(self, job, ledger, backend, predictions, affordable, next_seq, timer) -> Outcome:
        """No model fits what this job may spend: the configured exhaustion behaviour."""
        behaviour = self.when_exhausted
        if behaviour is WhenExhausted.CHEAPEST and affordable:
            cheapest = min(affordable, key=lambda m: (predictions[m].cost_usd, m))
            call = self._call(job, cheapest, ledger, backend, timer, predictions[cheapest])
            with self.lock:
                s = next_seq()
                self.scheduler.after_job(ledger, called=True)
            if call.failed is not None:
                return Outcome(s, job.job_id, job.task, job.dataset, "model", cheapest, attempts=1, score=0.0,
                               reason="budget nearly exhausted: cheapest model failed", models_tried=(cheapest,),
                               text=job.text, labels=tuple(job.labels), verified=False,
                               verdict_reason=CALL_FAILED.reason, failures=(f"{cheapest}: {call.failed}",))
            output, verdict, score = self._judge(job, call, backend)
            return Outcome(s, job.job_id, job.task, job.dataset, "model", cheapest, attempts=1, score=score,
                           cost_usd=call.cost_usd, latency_s=call.latency_s,
                           reason="budget nearly exhausted: cheapest model", models_tried=(cheapest,),
                           text=job.text, labels=tuple(job.labels), answer=output, verified=verdict.ok,
                           verdict_reason=verdict.reason)
        rule = getattr(get_task(job.task), "rule_answer", None) if behaviour is WhenExhausted.CHEAPEST else None
        with self.lock:
            if behaviour is WhenExhausted.REFUSE and ledger.total_usd is not None:
                ledger.exhausted = True
            s = next_seq()
            self.scheduler.after_job(ledger, called=True)
        if rule is not None:
            # no model fits what this job may spend: the task's free rule answers rather than nobody
            answer = rule(job)
            return Outcome(s, job.job_id, job.task, job.dataset, RULE, RULE, score=backend.reference_score(job, answer),
                           reason="budget pays no model for this job: rule-based answer (not verified)",
                           text=job.text, labels=tuple(job.labels), answer=answer, verified=None,
                           verdict_reason="rule-based answer, not verified")
        return Outcome.refused(s, job, f"budget exhausted ({behaviour.value}): job not answered")

    def _call(self, job: Job, model: str, ledger: Ledger, backend: Backend, timer: _Timer,
              prediction: Prediction) -> Call:
        """Reserve the call's worst case, call, settle what it really cost (release on failure).

        A call whose worst case does not fit even after the calls in flight settled holds what it costs
        with a few times its expected output (`cut_bound`) and is sent with that output cap, so one such
        call does not hold the whole remainder against every other call in flight."""
        worst = backend.worst_case_usd(job, model)
        wait = getattr(ledger, "reserve_wait", None)
        reservation = ledger.reserve(worst)
        if reservation is None and wait is not None:
            reservation = wait(worst, RESERVE_WAIT_S)
        limit = worst
        if reservation is None:
            share = min(worst, cut_bound(job, model, prediction, backend))
            reservation = ledger.reserve(share)
            if reservation is None and wait is not None:
                reservation = wait(share, RESERVE_WAIT_S)
            if reservation is None:
                reservation = ledger.reserve(ledger.remaining_usd) or ledger.reserve(0.0)
            limit = reservation.amount_usd
        t0 = time.perf_counter()
        try:
            call = backend.call(job, model, limit_usd=limit)
        except ClientError as exc:
            call = Call(model, failed=str(exc))
        except BaseException:
            ledger.release(reservation)
            raise
        finally:
            timer.backend_s += time.perf_counter() - t0
        if call.failed is not None:
            ledger.release(reservation)
        else:
            ledger.settle(reservation, call.cost_usd)
        return call

    def _judge(self, job: Job, call: Call, backend: Backend) -> tuple[str, Verdict, float]:
        """(parsed output, verdict, score) of a call: the task parses, the task's judge verifies (never
        with the reference), the reference scores where the job has one."""
        task = get_task(job.task)
        output = call.output if call.output is not None else task.parse(call.text, job)
        if call.truncated:
            verdict = TRUNCATED
        else:
            judge = self.scheduler.verifier(job)
            if judge is not None:
                with self.lock:
                    verdict = judge.verify(job, output)
            else:
                verdict = call.verdict if call.verdict is not None else task.verify(job, output)
        if call.score is not None:
            score = call.score
        else:
            graded = task.score(job, output) if job.reference is not None else None
            score = math.nan if graded is None else float(graded)
        if math.isnan(score) and getattr(backend, "verdict_scores", False) and verdict.ok is not None:
            # Without a reference (a live job) the verifier is the judge, so verified answers are learned
            # from and cached; user feedback corrects it later.
            score = float(verdict.ok)
        return output, verdict, score


def cut_bound(job: Job, model: str, prediction: Prediction, backend: Backend) -> float:
    """What a call can bill when sent with `CUT_SHARE` times the output it is expected to give."""
    tokens = prediction.output_tokens
    if not math.isfinite(tokens) or tokens <= 0:
        return backend.worst_case_usd(job, model)
    return backend.worst_case_usd(job, model, output_tokens=CUT_SHARE * tokens)


class _PlanningView:
    """A ledger as the decision sees it: money reserved by calls in flight counts as still there (most of
    it comes back when they settle), so concurrent jobs decide as if they ran one after another. The
    reservation before each call is what keeps spend under the ceiling."""

    __slots__ = ("_ledger",)

    def __init__(self, ledger: Ledger):
        self._ledger = ledger

    def __getattr__(self, name: str):
        return getattr(self._ledger, name)

    @property
    def remaining_usd(self) -> float:
        total = self._ledger.total_usd
        return math.inf if total is None else max(0.0, total - self._ledger.spent_usd)


def planning_view(ledger: Ledger) -> Ledger:
    """`ledger` for deciding (see `_PlanningView`); the ledger itself when nothing is reserved."""
    return _PlanningView(ledger) if getattr(ledger, "reserved_usd", 0.0) else ledger


class _Timer:
    __slots__ = ("backend_s",)

    def __init__(self):
        self.backend_s = 0.0


def _finish(outcome: Outcome, started: float, timer: _Timer) -> Outcome:
    engine_us = max(0.0, (time.perf_counter() - started - timer.backend_s) * 1e6)
    return replace(outcome, engine_us=engine_us)
