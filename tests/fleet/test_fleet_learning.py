"""Shared learning on a real redis-server: feedback in one scheduler changes another's prediction; a drift
found in one is reported by all; every event applied exactly once across a Redis restart and a crash."""

from __future__ import annotations

import pytest
from fault_helpers import fake_client

from engine.catalog import Catalog
from engine.jobs import Job, Verdict
from engine.service import build_engine
from engine.settings import load_settings
from engine.updates.manager import Attempt, Feedback
from tests.fakes.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
LINE = "worker {k} finished task {n} in 12 ms"


def scheduler(workspace, url):
    catalog = Catalog.default()
    return build_engine(load_settings(workspace=workspace, redis_url=url), catalog=catalog,
                        client=fake_client(catalog))


def p_success(engine, model: str) -> float:
    plan = engine.plan(engine.make_job(LINE.format(k="probe", n=1), "log_parsing"))   # pulls the fleet first
    return next(r["p_success"] for r in plan["decision"]["table"] if r["model"] == model)


def graded(engine, model: str, k: int, score: float) -> list:
    job = Job(f"g{k}", "log_parsing", LINE.format(k=f"w{k}", n=k), "live")
    attempt = Attempt(model, "x", Verdict(score >= 1, "graded"), score, 0.5, 1e-4, 0.2, 80.0, 10.0)
    with engine._lock:
        seq = engine._next_seq()
        drift = engine.pipeline.learn(Feedback(seq, job, f"key{k}", (attempt,)))
        engine._committed(seq)       # what logging the job's step does: the fleet is sent its event
        return drift


def test_feedback_in_one_scheduler_changes_anothers_prediction(redis_server, isolated):
    a, b = scheduler(isolated / "a", redis_server.url), scheduler(isolated / "b", redis_server.url)
    try:
        before = p_success(b, "claude-opus-4-5")
        for k in range(20):
            graded(a, "claude-opus-4-5", k, 0.0)
        after = p_success(b, "claude-opus-4-5")
        assert after < before - 0.1
        assert b.fleet.state.foreign_applied == 20
        assert b.fleet.state.applied[a.fleet.state.origin] == a.scheduler.updates.last_seq
        assert a.fleet.state.foreign_applied == 0          # its own events are not applied twice
    finally:
        a.close()
        b.close()


def test_a_drift_found_by_one_scheduler_is_reported_by_all(redis_server, isolated):
    a, b = scheduler(isolated / "a", redis_server.url), scheduler(isolated / "b", redis_server.url)
    try:
        drift = []
        for k in range(200):
            drift += graded(a, "claude-haiku-4-5", k, 1.0 if k < 100 else 0.0)
        assert drift, "the drift monitor should see a success rate falling from 1 to 0"
        p_success(b, "claude-haiku-4-5")
        reported = [e for e in b.scheduler.updates.drift.events if "found by scheduler" in e.detail]
        assert [e.model for e in reported] == [e.model for e in drift]
        assert all(e.model == "claude-haiku-4-5" for e in reported)
    finally:
        a.close()
        b.close()


def test_every_event_applied_once_across_a_redis_restart_and_a_crash(redis_server, isolated):
    a, b = scheduler(isolated / "a", redis_server.url), scheduler(isolated / "b", redis_server.url)
    for k in range(5):
        a.ask(LINE.format(k=f"a{k}", n=k), "log_parsing")
    p_success(b, "claude-haiku-4-5")
    redis_server.kill()                                  # Redis goes away mid-run...
    for k in range(5, 10):
        a.ask(LINE.format(k=f"a{k}", n=k), "log_parsing")   # ...jobs go on, events wait in the outbox
    assert a.fleet.state.outbox
    redis_server.start()                                 # ...and comes back empty
    for k in range(10, 12):
        a.ask(LINE.format(k=f"a{k}", n=k), "log_parsing")
    origin = a.fleet.state.origin
    a.events.close()                                     # a crash: no close, no final checkpoint
    a._workspace_lock.release()                          # (the dead process's lock goes with it)
    a = scheduler(isolated / "a", redis_server.url)      # restarted on its workspace
    assert a.fleet.state.origin == origin
    for k in range(12, 15):
        a.ask(LINE.format(k=f"a{k}", n=k), "log_parsing")
    try:
        assert wait_until(lambda: (p_success(b, "claude-haiku-4-5"), b.fleet.state.foreign_applied)[1] >= 15, 20)
        assert b.fleet.state.foreign_applied == 15      # 15 jobs, each learned once, none twice
        assert b.fleet.state.applied[origin] == a.scheduler.updates.last_seq
        b_restarted_position = b.fleet.state.position
        b.close()
        b = scheduler(isolated / "b", redis_server.url)  # a restart neither misses nor repeats one
        assert b.fleet.state.position == b_restarted_position
        p_success(b, "claude-haiku-4-5")
        assert b.fleet.state.foreign_applied == 15
    finally:
        a.close()
        b.close()


def test_an_event_is_sent_once_its_step_and_every_earlier_one_are_logged(isolated):
    """A job learned but not logged yet (a crash now would run it again) holds back its event and every later
    one: another scheduler never learns a job this one would redo, and events go out in seq order."""
    catalog = Catalog.default()
    engine = build_engine(load_settings(workspace=isolated / "ws"), catalog=catalog, client=fake_client(catalog))

    class Fleet:
        sent: list[int] = []

        def published(self, fb, drift):
            self.sent.append(fb.seq)

    try:
        engine.fleet = Fleet()
        job = Job("j", "log_parsing", LINE.format(k="w", n=1), "live")
        for seq in (5, 6, 7):
            engine._published(Feedback(seq, job, "key"), [])
        engine._committed(6)
        assert engine.fleet.sent == []             # 5 is learned but not logged
        engine._committed(5)
        assert engine.fleet.sent == [5, 6]         # 7 is not logged yet
        engine._committed(7)
        assert engine.fleet.sent == [5, 6, 7]
    finally:
        engine.fleet = None
        engine.close()
