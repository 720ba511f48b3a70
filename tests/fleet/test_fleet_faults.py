"""Faults of a fleet of real `sls run` processes on one redis-server, against the API stand-in: Redis
killed and restarted (empty) mid-run, one scheduler SIGKILLed mid-run and run again. The stand-in bills no
more than the one budget; afterwards every scheduler has applied each of the other's feedback events
exactly once; the killed process's reservations are gone once their TTL has passed."""

from __future__ import annotations

import pytest
from fault_helpers import live_env
from test_fleet_budget import billed_usd

from engine.eventlog import EventLog
from engine.fleet import RedisLedger
from engine.service import LIVE_RUN, build_engine
from engine.settings import load_settings
from tests.fakes.processes import start_cli, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
TTL_S = 3
WORDS = ["alpha", "bravo", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
         "kestrel", "lumen", "marble", "nectar", "onyx", "pylon", "quartz", "raven", "sierra", "tundra"]


def job_file(path, seed: int, n: int) -> object:
    """Log lines whose constant words differ from line to line: each is a new template (a model call),
    so the run lasts long enough to be interrupted (repeated templates would be cache hits)."""
    lines = [f"{WORDS[(seed * 7 + i) % 20]} {WORDS[(seed + 3 * i) % 20]} module{seed} stage {i} took {i * 7 + 3} ms"
             for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def fleet_state(workspace, url):
    """A scheduler's fleet state after pulling everything the stream holds (the engine opened again)."""
    engine = build_engine(load_settings(workspace=workspace, redis_url=url))
    try:
        with engine._lock:
            engine.fleet.pull(force=True)
        return engine.fleet.state
    finally:
        engine.events.close()           # a look, not a run: no checkpoint


def served(workspace) -> int:
    """Jobs of the workspace that produced a feedback event: answered by a model or the cache (not refused, and
    not answered by the task's rule when the budget paid no model — nothing is learned from those)."""
    log = EventLog(workspace / "events.sqlite")
    try:
        return sum(1 for s in log.steps(LIVE_RUN) if s.get("source") in ("model", "cache")
                   and not str(s.get("reason", "")).startswith("budget nearly exhausted"))   # a fallback call: not learned
    finally:
        log.close()


def test_redis_restart_and_a_sigkilled_scheduler_lose_no_event_and_keep_the_budget(api, redis_server, tmp_path):
    api.delay_s = 0.05
    budget = "0.02"
    # both are still running when Redis comes back (b re-sends what it published), and a when it is killed
    argv = {k: ["run", str(job_file(tmp_path / f"jobs{k}.txt", 10 + "ab".index(k), {"a": 120, "b": 80}[k])),
                "--task", "log_parsing",
                "--budget", budget, "--concurrency", "2", "--json"] for k in "ab"}
    env = {k: live_env(api, tmp_path / f"ws{k}", SLS_REDIS_URL=redis_server.url, SLS_FLEET_TTL_S=str(TTL_S))
           for k in "ab"}
    a = start_cli(argv["a"], env["a"], tmp_path / "out", name="a1")
    b = start_cli(argv["b"], env["b"], tmp_path / "out", name="b")
    assert wait_until(lambda: len(api.billed) >= 4, 60)
    redis_server.kill()                                   # Redis goes away mid-run...
    assert wait_until(lambda: len(api.billed) >= 7, 60)   # ...the schedulers go on without it
    redis_server.start()                                  # ...and it comes back with no data
    assert wait_until(lambda: len(api.billed) >= 10, 60)
    a.kill()                                              # SIGKILL one scheduler mid-run
    assert a.exitcode == -9
    a = start_cli(argv["a"], env["a"], tmp_path / "out", name="a2")   # run again: it resumes
    assert a.wait(180) == 0, a.stderr
    assert b.wait(180) == 0, b.stderr

    assert billed_usd(api) <= float(budget) + 1e-12      # one budget, whatever happened
    ledger = RedisLedger(redis_server.url)
    assert wait_until(lambda: ledger.view().reserved == 0, TTL_S + 10)   # the killed process's holds expired

    # b opened again first: a scheduler that had stopped before Redis came back empty re-sends its events
    # (from its journal) when it next starts, and a then reads them
    state_b = fleet_state(tmp_path / "wsb", redis_server.url)
    state_a = fleet_state(tmp_path / "wsa", redis_server.url)
    # each scheduler applied every job of the other exactly once (no event lost, none applied twice)
    assert state_b.foreign_applied == served(tmp_path / "wsa")
    assert state_a.foreign_applied == served(tmp_path / "wsb")
    assert not state_a.outbox and not state_b.outbox
