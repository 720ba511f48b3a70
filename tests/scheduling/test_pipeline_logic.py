"""Table tests of the scheduler's run-time logic (escalation, final answer, spendable budget), each exhaustion
behaviour of the pipeline, the budget ledger under threads, the update manager with a fake predictor and the
drift monitor."""

from __future__ import annotations

import math
import threading

import pytest

from engine.cache import CacheManager
from engine.catalog import Catalog
from engine.jobs import Job, Verdict
from engine.pipeline import Call, Pipeline
from engine.predictors import Prediction
from engine.scheduling.budget import BudgetLedger
from engine.scheduling.decision import Decision, Row
from engine.scheduling.scheduler import Scheduler, SchedulerConfig
from engine.updates.drift import DriftMonitor
from engine.updates.manager import Attempt, Feedback, UpdateManager

CATALOG = Catalog.default()
CHEAP, MID, DEAR = "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5"
LINE = "Failed password for root from 10.0.0.1 port 22 ssh2"
TEMPLATE = "Failed password for root from <*> port <*> ssh2"


def row(model, p, cost, utility=None):
    return Row(model, p, 0.01, cost, 1.0, p - cost if utility is None else utility, p - cost, True)


def decision(*rows):
    return Decision(rows[0].model, tuple(rows), "test", 0.03)


def attempt(model, output="A", ok=True, p=0.5, cost=0.01, score=math.nan):
    return Attempt(model, output, Verdict(ok, ""), score, p, cost, 0.0, 10.0, 5.0)


def scheduler(**config) -> Scheduler:
    return Scheduler(CATALOG, SchedulerConfig(**config), cache=CacheManager(None))


CHOICE = Job("q1", "multiple_choice", "Which? A) x B) y", "arc", labels=("A", "B"))
LOG = Job("l1", "log_parsing", LINE, "Linux")
TABLE = decision(row(CHEAP, 0.6, 0.001, 0.59), row(MID, 0.8, 0.01, 0.55), row(DEAR, 0.9, 0.1, 0.5))


# -- escalation and second opinions: (job, attempts so far, ledger) -> next model ---------------------------------
@pytest.mark.parametrize("job, attempts, budget, expected", [
    (LOG, [attempt(CHEAP, ok=False)], None, MID),                         # rejected: next best by utility
    (LOG, [attempt(CHEAP, ok=True)], None, None),                         # accepted: done
    (LOG, [attempt(CHEAP, ok=None)], None, None),                         # cannot judge: done
    (LOG, [attempt(CHEAP, ok=False), attempt(MID, ok=False)], None, DEAR),
    (LOG, [attempt(CHEAP, ok=False), attempt(MID, ok=False), attempt(DEAR, ok=False)], None, None),  # max 3
    (LOG, [attempt(CHEAP, ok=False)], 0.0, None),                         # nothing affordable left
    (CHOICE, [attempt(CHEAP, "A", p=0.6)], None, MID),                    # unsure closed answer: 2nd opinion
    (CHOICE, [attempt(CHEAP, "A", p=0.99)], None, None),                  # sure enough
    (CHOICE, [attempt(CHEAP, "A", p=0.6), attempt(MID, "A")], None, None),     # they agree
    (CHOICE, [attempt(CHEAP, "A", p=0.6), attempt(MID, "B")], None, DEAR),     # they disagree: strongest
])
def test_next_model(job, attempts, budget, expected):
    ledger = BudgetLedger(budget, 10 if budget is not None else None)
    assert scheduler().next_model(job, TABLE, attempts, ledger) == expected


def test_no_second_opinion_under_budget_pressure():
    sched = scheduler()
    sched.pacer.lam = sched.config.cost_weight * 2      # pressure 2 > 1.5
    assert sched.next_model(CHOICE, TABLE, [attempt(CHEAP, "A", p=0.6)], BudgetLedger()) is None
    assert sched.next_model(LOG, TABLE, [attempt(CHEAP, ok=False)], BudgetLedger()) == MID   # escalation stays


@pytest.mark.parametrize("attempts, expected", [
    ([attempt(CHEAP, "A", p=0.6)], CHEAP),
    ([attempt(CHEAP, "A", ok=False, p=0.9), attempt(MID, "B", p=0.5)], MID),          # accepted beats rejected
    ([attempt(CHEAP, "A", ok=False, p=0.4), attempt(MID, "B", ok=False, p=0.7)], MID),  # none: best predicted
    ([attempt(CHEAP, "A", p=0.6), attempt(MID, "B", p=0.7), attempt(DEAR, "a ", p=0.5)], CHEAP),  # majority
    ([attempt(CHEAP, "A", p=0.6), attempt(MID, "B", p=0.7)], MID),                    # tie: best predicted
])
def test_final_attempt(attempts, expected):
    assert Scheduler.final_attempt(attempts).model == expected


def pred(cost):
    return Prediction(p_success=0.5, p_std=0.1, output_tokens=10.0, cost_usd=cost, latency_s=1.0, n_obs=10)


@pytest.mark.parametrize("total, expected_jobs, seen, spent, extra, expected", [
    (None, None, 0, 0.0, False, math.inf),          # no budget: everything
    (1.0, None, 0, 0.25, False, 0.75),              # no pacing data: what is left
    (1.0, 100, 0, 0.0, True, 1.0 - 99 * 1.0 * 0.01),   # extra calls: only the surplus over the reserve
    (0.5, 100, 0, 0.0, False, 0.005 + 0.05),        # reserve cannot be kept: rationed along the budget line (share + 10%)
    (2.0, 100, 0, 0.0, False, 4.0 * 0.02),          # call cap: 4 average calls (2.0 / 100 each)
    (1.0, 100, 99, 0.99, True, 0.01),               # the last job may spend what is left
])
def test_spendable(total, expected_jobs, seen, spent, extra, expected):
    ledger = BudgetLedger(total, expected_jobs, spent_usd=spent, jobs_seen=seen)
    got = scheduler().spendable(ledger, {CHEAP: pred(0.01), MID: pred(0.05)}, extra=extra)
    assert got == pytest.approx(expected)


# -- exhaustion behaviours, through the pipeline with a fake backend --------------------------------------------
class FakeBackend:
    verdict_scores = False
    partial = False

    def __init__(self, costs, answer=TEMPLATE):
        self.costs, self.answer, self.calls = costs, answer, []

    def candidates(self, job):
        return list(self.costs)

    def input_tokens(self, job, model):
        return 20.0

    def worst_case_usd(self, job, model, output_tokens=None):
        return self.costs[model]

    def call(self, job, model, *, limit_usd):
        self.calls.append(model)
        cut = self.costs[model] > limit_usd + 1e-15
        return Call(model, "" if cut else self.answer, limit_usd if cut else self.costs[model], 0.5, 20.0, 5.0,
                    truncated=cut)

    def reference_score(self, job, answer):
        return 1.0 if answer == TEMPLATE else 0.0


def lines(n):
    return [Job(f"j{k}", "log_parsing", f"disk sd{k} failed after {k} s (code {k * 7})" if k else LINE, "Linux",
                reference=TEMPLATE if not k else None) for k in range(n)]


@pytest.mark.parametrize("behaviour, served_by_model, refused", [
    ("cheapest", 3, 0), ("cache_only", 1, 2), ("refuse", 1, 3)])
def test_each_exhaustion_behaviour(behaviour, served_by_model, refused):
    sched = scheduler(explore=False)
    pipe = Pipeline(sched, when_exhausted=behaviour)
    backend = FakeBackend({CHEAP: 0.0, MID: 0.02})                    # CHEAP is free: it always fits
    first = pipe.handle(lines(1)[0], BudgetLedger(), backend, seq=0)  # learns the template into the cache
    assert first.source == "model" and first.answer == TEMPLATE and sched.cache.size() == 1
    warm_calls = len(backend.calls)
    ledger = BudgetLedger(1e-9, 3)                                    # nothing the policy would pay for
    others = [pipe.handle(job, ledger, backend, seq=k) for k, job in enumerate(lines(3)[1:], 1)]
    same = Job("again", "log_parsing", "Failed password for root from 10.9.9.9 port 2222 ssh2", "Linux")
    again = pipe.handle(same, ledger, backend, seq=9)                  # a cache hit ...
    outcomes = [first, *others, again]
    assert ledger.spent_usd == 0.0 and MID not in backend.calls[warm_calls:]
    assert sum(o.source == "refused" for o in outcomes) == refused
    assert sum(o.source == "model" for o in outcomes) == served_by_model
    if behaviour == "cheapest":
        assert [o.model for o in others] == [CHEAP, CHEAP]
        assert all(o.reason == "budget nearly exhausted: cheapest model" for o in others)
    else:
        assert all(behaviour in o.reason for o in others if o.source == "refused")
    if behaviour == "refuse":
        assert again.source == "refused"                               # ... refused once the money is gone
    else:
        assert again.source == "cache" and again.answer == TEMPLATE    # ... served from the cache


@pytest.mark.parametrize("behaviour, source", [("cheapest", "rule"), ("cache_only", "refused"), ("refuse", "refused")])
def test_a_log_line_the_budget_pays_no_model_for_gets_the_rule_template_not_nothing(behaviour, source):
    """Under `cheapest` (the default), a job no model fits gets the task's free rule answer (the line with its
    obvious variables masked): answered, unverified, never cached, nothing billed, nothing learned."""
    from engine.tasks.templates import mask_variables
    sched = scheduler(explore=False)
    pipe = Pipeline(sched, when_exhausted=behaviour)
    backend = FakeBackend({CHEAP: 0.01, MID: 0.02})
    ledger = BudgetLedger(1e-9, 3)                                    # pays no model
    job = lines(2)[1]
    outcome = pipe.handle(job, ledger, backend, seq=0)
    assert outcome.source == source and backend.calls == [] and ledger.spent_usd == 0.0
    assert sched.updates.last_seq == -1 and sched.cache.size() == 0
    if source == "rule":
        assert outcome.answer == mask_variables(job.text) == "disk sd1 failed after <*> s (code <*>)"
        assert outcome.model == "rule" and outcome.verified is None and outcome.cost_usd == 0.0
        assert outcome.as_result()["verdict"] == "unknown"
    else:
        assert outcome.answer == "" and outcome.model is None


def test_a_call_whose_worst_case_does_not_fit_is_cut_to_what_is_left():
    pipe = Pipeline(scheduler(explore=False))
    backend = FakeBackend({CHEAP: 0.5})
    ledger = BudgetLedger(0.2)
    outcome = pipe.handle(lines(1)[0], ledger, backend, seq=0)
    assert outcome.cost_usd == pytest.approx(0.2) and ledger.spent_usd == pytest.approx(0.2)
    assert outcome.verdict_reason == "call cut by the budget"


class CappedBackend(FakeBackend):
    """A live-like backend: the worst case is a 1,024-token output; capped at `output_tokens` it is less."""

    def worst_case_usd(self, job, model, output_tokens=None):
        return 0.001 * (1024 if output_tokens is None else min(1024, output_tokens))

    def call(self, job, model, *, limit_usd):
        self.calls.append((model, limit_usd))
        return Call(model, self.answer, 0.001 * 5, 0.5, 20.0, 5.0)


def test_a_call_whose_worst_case_does_not_fit_holds_a_few_times_its_expected_output_not_all_that_is_left():
    from engine.pipeline import CUT_SHARE
    pipe = Pipeline(scheduler(explore=False))
    backend = CappedBackend({CHEAP: 0.005})
    ledger = BudgetLedger(0.5)
    job = lines(1)[0]
    pred = pipe.scheduler.predict(job, pipe.scheduler.candidates([CHEAP]), 20.0)[CHEAP]
    outcome = pipe.handle(job, ledger, backend, seq=0)
    (model, limit), = backend.calls
    assert outcome.source == "model" and model == CHEAP
    assert limit == pytest.approx(0.001 * math.ceil(CUT_SHARE * pred.output_tokens))   # not the whole 0.5
    assert limit < 0.5 / 4 and ledger.spent_usd == pytest.approx(0.005) and ledger.reserved_usd == 0.0


def test_spendable_reads_spend_from_the_ledger_not_from_what_remains():
    """A fleet's scheduler cut off from Redis may commit only its slice of what remains; its pacing still
    follows the fleet's spend (it would refuse every job if it took total − slice for spend)."""

    class SliceLedger(BudgetLedger):
        @property
        def remaining_usd(self):
            return 0.3                                  # this process's offline slice

    ledger = SliceLedger(1.0, 100, spent_usd=0.2, jobs_seen=40)
    got = scheduler().spendable(ledger, {CHEAP: pred(0.01), MID: pred(0.05)})
    assert got > 0.01                                   # on the line (0.2 spent at 40 of 100 jobs): it may spend
    assert got <= 0.3                                   # never more than its slice


# -- the budget ledger -------------------------------------------------------------------------------------------
def test_reserve_settle_release():
    ledger = BudgetLedger(1.0)
    a = ledger.reserve(0.6)
    assert a is not None and ledger.remaining_usd == pytest.approx(0.4) and ledger.spent_usd == 0.0
    assert ledger.reserve(0.5) is None                       # reserved money is not spendable twice
    ledger.settle(a, 0.1)
    assert ledger.spent_usd == pytest.approx(0.1) and ledger.remaining_usd == pytest.approx(0.9)
    b = ledger.reserve(0.9)
    ledger.release(b)
    assert ledger.remaining_usd == pytest.approx(0.9) and ledger.spent_usd == pytest.approx(0.1)
    with pytest.raises(ValueError):
        ledger.settle(b, 0.1)                                # released: cannot be settled


def test_concurrent_reservations_never_exceed_the_total():
    ledger = BudgetLedger(1.0)
    granted = []

    def worker():
        for _ in range(200):
            r = ledger.reserve(0.003)
            if r is not None:
                granted.append(r)
                ledger.settle(r, 0.003)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.spent_usd <= 1.0 + 1e-12 and len(granted) == 333


# -- the update manager with a fake predictor -----------------------------------------------------------------
class FakePredictors:
    def __init__(self):
        self.learned, self.forgotten = [], []

    def learn(self, job, spec, *, score, input_tokens, output_tokens, cost_usd, latency_s):
        self.learned.append((spec.name, score, cost_usd))

    def forget(self, model, amount):
        self.forgotten.append(model)


@pytest.mark.parametrize("mode, verdict_ok, score, label", [
    ("reference", True, 0.0, 0.0), ("reference", False, 1.0, 1.0), ("reference", True, math.nan, None),
    ("verifier", True, 0.0, 1.0), ("verifier", None, 1.0, None), ("none", True, 1.0, None)])
def test_update_manager_learns_the_label_of_its_feedback_mode(mode, verdict_ok, score, label):
    predictors = FakePredictors()
    manager = UpdateManager(predictors, CacheManager(None), CATALOG, mode=mode)
    manager.apply(Feedback(1, LOG, LINE, (attempt(CHEAP, TEMPLATE, ok=verdict_ok, score=score),)))
    assert predictors.learned == [(CHEAP, label, 0.01)]
    assert [o["observed"] for o in manager.observations] == ([] if label is None else [label])


def test_update_manager_is_idempotent_and_caches_only_verified_answers_and_withdraws_refuted_ones():
    cache = CacheManager(None)
    manager = UpdateManager(FakePredictors(), cache, CATALOG)
    manager.apply(Feedback(1, LOG, LINE, (attempt(CHEAP, "wrong <*>", score=0.0),)))
    assert cache.size() == 0
    manager.apply(Feedback(2, LOG, LINE, (attempt(CHEAP, TEMPLATE, score=1.0),)))
    assert cache.size() == 1
    assert manager.apply(Feedback(2, LOG, LINE, (attempt(CHEAP, TEMPLATE, score=1.0),))) == []   # seen
    assert len(manager.predictors.learned) == 2
    manager.apply(Feedback(3, LOG, LINE, (), source="user", withdraw=TEMPLATE))
    assert cache.size() == 0 and cache.lookup(LOG, LINE) is None


def test_update_manager_teaches_the_tasks_judge_from_reference_scores(monkeypatch):
    from engine.tasks import get_task
    learned = []

    class Judge:
        def verify(self, job, output):
            return Verdict(True, "fake judge")

        def learn(self, job, output, correct):
            learned.append((output, correct))

    monkeypatch.setattr(get_task("log_parsing"), "new_judge", Judge, raising=False)
    manager = UpdateManager(FakePredictors(), CacheManager(None), CATALOG, mode="reference")
    manager.apply(Feedback(1, LOG, LINE, (attempt(CHEAP, "bad", score=0.0), attempt(MID, TEMPLATE, score=1.0))))
    assert learned == [("bad", False), (TEMPLATE, True)]
    assert isinstance(manager.judge("log_parsing"), Judge)
    verifier_mode = UpdateManager(FakePredictors(), None, CATALOG, mode="verifier")
    verifier_mode.apply(Feedback(1, LOG, LINE, (attempt(CHEAP, "bad", score=0.0),)))
    assert len(learned) == 2                      # its own verdicts teach the judge nothing


def test_drift_is_reported_and_the_models_predictor_is_re_weighted():
    predictors = FakePredictors()
    manager = UpdateManager(predictors, None, CATALOG, mode="reference")
    events = []
    for seq in range(400):
        score = 1.0 if seq < 200 else 0.0
        events += manager.apply(Feedback(seq, LOG, LINE, (attempt(CHEAP, TEMPLATE, score=score),)))
    assert len(events) >= 1 and events[0].model == CHEAP and events[0].seq >= 200
    assert events[0].mean_before > events[0].mean_after
    assert predictors.forgotten[0] == CHEAP


@pytest.mark.parametrize("stream, fires", [
    ([1.0] * 300, False),                         # stable
    ([1.0] * 20 + [0.0] * 20, False),             # too few observations before the change
    ([1.0] * 150 + [0.0] * 150, True),
])
def test_drift_monitor(stream, fires):
    monitor = DriftMonitor()
    events = [e for k, x in enumerate(stream) if (e := monitor.update("m", k, 0.5, x, "t")) is not None]
    assert bool(events) == fires
    if fires:
        assert len(events) == 1                   # the cool-down keeps one change from firing twice
