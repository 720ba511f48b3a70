"""Fault family: the process is killed with SIGKILL at random (seeded) points, then run again.

* A live `sls run` against the fake Anthropic server, killed three times — while a call is in flight,
  while a job is being committed, while the cache is being flushed: rerun on the same workspace, it
  resumes. The event log then holds every job exactly once, one decision per model-served job, and the
  learned state has applied each job's feedback exactly once; jobs, answers, cache hits and cost equal
  an uninterrupted run's. At most one call per kill is made again (the one in flight when it died).
* A `sls replay --workspace` killed three times between and during checkpoints resumes to the same
  metrics, steps, decisions and cost as an uninterrupted replay.

Children are forked from a pre-warmed fork server (`tests.fakes.processes`) so that each start costs
milliseconds, not seconds of imports.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from fault_helpers import ROOT, fake_client, integrity, live_env

from engine.catalog import Catalog
from engine.eventlog import EventLog
from engine.service import LIVE_RUN, Engine, build_engine
from engine.settings import Settings, load_settings
from engine.tasks.templates import mask_variables
from engine.traces import load_trace, write_trace_frames
from engine.traces.writer import trace_frames
from tests.fakes.processes import run_cli, start_cli, wait_until

pytestmark = pytest.mark.timeout(240)

SEED = 20240611
KILLS = 3
TEMPLATES = ["worker {w} finished task {n} in {m} ms", "queue {w} drained {n} messages after {m} retries",
             "session {w} opened for user{n} from 10.0.{m}.7", "cache {w} evicted {n} entries after {m} ms"]
WORDS = ["alpha", "bravo", "charlie"]
METRIC_KEYS = ("accuracy", "cost_usd", "llm_calls", "cache_hit_rate", "false_hit_rate", "queries", "refused")


def job_lines(rng: random.Random) -> list[str]:
    """24 lines of 12 templates (each seen twice, in shuffled order): misses, then cache hits."""
    lines = [t.format(w=w, n=rng.randint(1, 999), m=rng.randint(1, 99)) for t in TEMPLATES for w in WORDS
             for _ in range(2)]
    rng.shuffle(lines)
    return lines


def live_totals(workspace: Path) -> dict:
    """What a live run left in its workspace: steps, decisions, feedback, learned state."""
    log = EventLog(workspace / "events.sqlite")
    try:
        steps = log.steps(LIVE_RUN)
        decisions = log.decisions(LIVE_RUN)
        feedback = log.db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    finally:
        log.close()
    engine = build_engine(load_settings(workspace=workspace))
    try:
        updates = engine.scheduler.updates
        learned = {"last_seq": updates.last_seq, "observations": len(updates.observations),
                   "jobs_done": engine.scheduler.jobs_done,
                   "cache_entries": sorted(e["entry_id"] for e in engine.scheduler.cache.entries())}
    finally:
        engine.events.close()          # read-only look: no checkpoint, no new state
        engine._workspace_lock.release()
    return {"steps": steps, "decisions": decisions, "feedback": feedback, "learned": learned}


def test_a_crash_right_after_a_job_is_committed_loses_neither_its_learning_nor_its_cache_entry(
        isolated, monkeypatch):
    """The narrowest window, made deterministic: the job's step is committed, then the process dies before
    the cache is flushed and the state file written."""
    catalog, workspace = Catalog.default(), isolated / "ws"
    first = build_engine(load_settings(workspace=workspace), catalog=catalog, client=fake_client(catalog))
    with monkeypatch.context() as m:
        m.setattr(Engine, "checkpoint", lambda self, committed=None: None)   # dies right after the commit
        got = first.ask("Failed password for root from 10.0.0.1 port 22 ssh2", "log_parsing")
        learned = (first.scheduler.updates.last_seq, len(first.scheduler.updates.observations))
        first.events.close()
        first._workspace_lock.release()     # what the kernel does when the process dies
    assert got["cached"] is False and got["answer"] == "Failed password for root from <*> port <*> ssh2"
    assert first.scheduler.cache.stats()["store"]["pending"] > 0          # the entry never reached Chroma

    second = build_engine(load_settings(workspace=workspace), catalog=catalog, client=fake_client(catalog))
    try:
        assert (second.scheduler.updates.last_seq, len(second.scheduler.updates.observations)) == learned
        again = second.ask("Failed password for root from 192.168.7.40 port 50122 ssh2", "log_parsing")
        assert again["cached"] is True and again["answer"] == got["answer"]
        assert [s["job_id"] for s in second.events.steps(LIVE_RUN)] == [got["job_id"], again["job_id"]]
    finally:
        second.close()


@pytest.mark.integration
def test_a_live_run_killed_three_times_resumes_with_every_job_decision_and_cost_once(api, tmp_path):
    rng = random.Random(SEED)
    jobs = tmp_path / "jobs.txt"
    jobs.write_text("\n".join(job_lines(rng)) + "\n")
    api.delay_s = 0.02
    argv = ["run", str(jobs), "--task", "log_parsing", "--concurrency", "1", "--json"]

    reference = run_cli(argv, live_env(api, tmp_path / "reference"), tmp_path / "out", name="reference")
    assert reference.exitcode == 0, reference.stderr
    calls = api.request_count
    assert 6 <= calls <= 18          # a miss per template (plus the odd escalation), hits for the repeats

    workspace = tmp_path / "ws"
    env = live_env(api, workspace)
    points = sorted(rng.sample(range(1, calls), KILLS))
    base = api.request_count
    killed = 0
    for k, point in enumerate(points):
        child = start_cli(argv, env, tmp_path / "out", name=f"killed{k}")
        wait_until(lambda p=point, c=child: api.request_count - base >= p or not c.alive(), timeout=60)
        time.sleep(rng.uniform(0.0, 0.06))   # land in the call, the commit or the cache flush
        child.kill()
        killed += child.exitcode == -9
        assert child.exitcode in (-9, 0), child.stderr
        assert "Traceback" not in child.stderr
    assert killed >= 2, "the kills should land while the run was going on"
    final = run_cli(argv, env, tmp_path / "out", name="final")
    assert final.exitcode == 0, final.stderr
    assert "Traceback" not in final.stderr
    redone = api.request_count - base - calls
    # Only the calls of the job in flight at a kill are made again (billed, not logged): at most
    # max_attempts (an answer, an escalation, a second opinion) per kill.
    assert 0 <= redone <= Settings.model_fields["max_attempts"].default * killed

    want, got = live_totals(tmp_path / "reference"), live_totals(workspace)
    assert integrity(workspace / "events.sqlite") == "ok"
    ids = [f"jobs-{n:05d}" for n in range(1, 25)]
    assert Counter(s["job_id"] for s in got["steps"]) == Counter(ids)             # each job exactly once
    assert [s["seq"] for s in got["steps"]] == list(range(24))
    assert len(got["decisions"]) == len({d["seq"] for d in got["decisions"]})
    assert {d["seq"] for d in got["decisions"]} == {s["seq"] for s in got["steps"] if s["source"] == "model"}
    assert got["feedback"] == want["feedback"] == 0
    assert got["learned"] == want["learned"]          # every job learned from once, the cache as uninterrupted

    def summary(steps):
        return {"answers": {s["job_id"]: (s["answer"], s["model"], s["source"]) for s in steps},
                "cost": round(sum(s["cost_usd"] for s in steps), 10),
                "hits": sum(s["cached"] for s in steps), "calls": sum(len(s["attempts"]) for s in steps)}
    assert summary(got["steps"]) == summary(want["steps"])
    assert [(d["seq"], d["chosen"]) for d in got["decisions"]] == [(d["seq"], d["chosen"]) for d in want["decisions"]]
    results = [json.loads(line) for line in final.stdout.splitlines()]
    assert [r["job_id"] for r in results] == ids
    assert math.isclose(sum(r["cost_usd"] for r in results), summary(want["steps"])["cost"], abs_tol=1e-9)
    assert "resuming: " in final.stderr


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory):
    models, queries, outcomes = trace_frames(load_trace(ROOT / "sample_data" / "demo"))
    queries = queries.iloc[:160]
    outcomes = outcomes[outcomes["query_id"].isin(set(queries["query_id"]))]
    models = models.assign(available_from="")
    folder = tmp_path_factory.mktemp("trace") / "small"
    write_trace_frames(folder, models, queries, pd.DataFrame(outcomes))
    return folder


def replay_log(workspace: Path) -> dict:
    con = sqlite3.connect(workspace / "events.sqlite")
    try:
        steps = con.execute("SELECT seq, job_id, cost_usd FROM steps ORDER BY seq").fetchall()
        decisions = con.execute("SELECT seq, body FROM decisions ORDER BY seq").fetchall()
    finally:
        con.close()
    return {"steps": steps, "decisions": [(seq, json.loads(body).get("chosen")) for seq, body in decisions]}


@pytest.mark.integration
def test_a_replay_killed_three_times_resumes_to_the_same_metrics_steps_and_decisions(small_trace, tmp_path):
    rng = random.Random(SEED + 1)
    argv = ["replay", str(small_trace), "--policy", "sls", "--budget", "0.5", "--json", "--workspace"]
    env = live_env(None, tmp_path / "unused", SLS_CHECKPOINT_EVERY="20")
    reference = run_cli([*argv, str(tmp_path / "reference")], env, tmp_path / "out", name="reference")
    assert reference.exitcode == 0, reference.stderr
    want = json.loads(reference.stdout)

    workspace = tmp_path / "ws"
    db = workspace / "events.sqlite"

    def logged() -> int:
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
            try:
                return con.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error:
            return 0

    points = sorted(rng.sample(range(20, 141, 20), KILLS))
    killed = 0
    for k, point in enumerate(points):
        child = start_cli([*argv, str(workspace)], env, tmp_path / "out", name=f"killed{k}")
        wait_until(lambda p=point, c=child: logged() >= p or not c.alive(), timeout=60, interval=0.002)
        time.sleep(rng.uniform(0.0, 0.05))   # between checkpoints, or in the middle of one
        child.kill()
        killed += child.exitcode == -9
        assert child.exitcode in (-9, 0), child.stderr
    assert killed >= 2
    final = run_cli([*argv, str(workspace)], env, tmp_path / "out", name="final")
    assert final.exitcode == 0, final.stderr
    got = json.loads(final.stdout)

    assert {k: got[k] for k in METRIC_KEYS} == {k: want[k] for k in METRIC_KEYS}
    assert integrity(db) == "ok"
    mine, theirs = replay_log(workspace), replay_log(tmp_path / "reference")
    assert [s[0] for s in mine["steps"]] == list(range(160))
    assert Counter(s[1] for s in mine["steps"]) == Counter(s[1] for s in theirs["steps"])
    assert all(n == 1 for n in Counter(s[1] for s in mine["steps"]).values())
    assert math.isclose(sum(s[2] for s in mine["steps"]), sum(s[2] for s in theirs["steps"]), abs_tol=1e-9)
    assert mine["decisions"] == theirs["decisions"]


@pytest.mark.parametrize("feedback", ["reference", "verifier"])
def test_the_learned_state_rebuilt_from_the_last_snapshot_and_the_jobs_after_it_is_exact(isolated, feedback):
    """Snapshots every 7 jobs; a process dies after job 17 (10 jobs past a snapshot, nothing flushed). The
    engine opened again restores the snapshot and applies the 3 jobs logged after it: predictors, judge,
    drift, counters, pacing and the exploration generator are as if it had never died, and so are the
    decisions that follow."""
    catalog = Catalog.default()
    rng = random.Random(SEED)
    lines = job_lines(rng) + job_lines(rng)
    jobs = [(line, k % 3 == 0) for k, line in enumerate(lines)]      # a reference on every third

    def engine_at(workspace):
        return build_engine(load_settings(workspace=workspace, snapshot_every=7, feedback=feedback),
                            catalog=catalog, client=fake_client(catalog))

    def ask(engine, k):
        line, ref = jobs[k]
        return engine.ask(line, "log_parsing", reference=mask_variables(line) if ref else None)

    def state(engine):
        updates = engine.scheduler.updates
        probe = engine.make_job("disk sda1 failed after 12 s", "log_parsing")
        specs = engine.scheduler.candidates(catalog.names)
        judge = updates.judges.get("log_parsing")
        return {"last_seq": updates.last_seq, "observations": updates.observations, "drift": updates.drift.events,
                "jobs": (updates.jobs_done, updates.jobs_called), "lam": updates.pacer.lam,
                "rng": engine.scheduler.rng.getstate(), "thresholds": updates.thresholds,
                "predicted": engine.scheduler.predict(probe, specs, 20.0),
                "judge": None if judge is None else (dict(judge.lines), dict(judge.verified), dict(judge.variants),
                                                     dict(judge.proposals), dict(judge.confirmed))}

    uninterrupted = engine_at(isolated / "a")
    for k in range(17):
        ask(uninterrupted, k)
    later_want = [ask(uninterrupted, k)["model"] for k in range(17, len(lines))]
    uninterrupted.close()

    dying = engine_at(isolated / "b")
    for k in range(17):
        ask(dying, k)
    assert dying.events.learning_after(LIVE_RUN, 13)      # jobs 14-16 are past the last snapshot
    want = state(dying)                                   # (latencies are measured: this run's own)
    dying.events.close()
    dying._workspace_lock.release()                       # killed: no checkpoint, the cache never flushed

    reopened = engine_at(isolated / "b")
    try:
        assert state(reopened) == want
        assert [ask(reopened, k)["model"] for k in range(17, len(lines))] == later_want
    finally:
        reopened.close()
