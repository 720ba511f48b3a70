"""Fault family: the shared Chroma server goes away mid-run and comes back on the same port and path.

One engine keeps running through the outage (jobs go on; what needs the server degrades to misses; a
warning and the store status say so), another engine starts during the outage (an empty cache, misses,
no crash), and when the server is back both use it again: new entries written there by others are
hits, and the writes buffered during the outage reach the server.
"""

from __future__ import annotations

import logging
import time

import pytest

import engine.cache.manager as cache_manager
import engine.cache.store as cache_store
from engine.cache.manager import CacheManager
from engine.clients.settings import ClientSettings, RetryPolicy
from engine.jobs import Job
from engine.service import build_engine
from engine.settings import load_settings
from tests.fakes.chroma_server import ChromaServer
from tests.fakes.processes import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning"),
]

BACKOFF = (0.2, 0.5)     # seconds: how soon a failed server is tried again (the default is 1 s .. 60 s)
SYNC_S = 0.1


def lines(kind: str, n: int, variant: int) -> list[str]:
    """`n` log lines of `n` templates of this `kind`; another `variant` gives the same templates."""
    return [f"{kind} stage{i} finished job {variant * 100 + i} in {variant + i * 3} ms" for i in range(n)]


def seed_server(url: str, folder, kind: str, n: int) -> None:
    """Another scheduler that verified the templates of `kind` and wrote them to the server."""
    writer = CacheManager.open(folder, chroma_url=url)
    for i, line in enumerate(lines(kind, n, 0)):
        job = Job(f"w{i}", "log_parsing", line, dataset="live")
        template = f"{kind} stage{i} finished job <*> in <*> ms"
        assert writer.store(job, line, template, "claude-haiku-4-5", 1.0, seq=i) is not None
    assert writer.flush() == n and writer.stats()["store"]["healthy"]
    writer.close()


def test_the_run_survives_the_chroma_server_going_away_and_uses_it_again_when_it_returns(
        api, isolated, monkeypatch, caplog):
    monkeypatch.setattr(cache_store, "RETRY_BACKOFF", BACKOFF)
    monkeypatch.setattr(cache_manager, "SYNC_INTERVAL_S", SYNC_S)
    caplog.set_level(logging.WARNING, logger="engine.cache")
    server = ChromaServer(isolated / "server").start()
    try:
        client = ClientSettings(backend="live", anthropic_api_key="sk-test-chroma-outage",
                                anthropic_base_url=api.base_url, timeout_s=10,
                                retry=RetryPolicy(base_delay_s=0.01, max_delay_s=0.05))

        def engine(name: str):
            return build_engine(load_settings(workspace=isolated / name, chroma_url=server.url),
                                client_settings=client)

        def run(eng, texts):
            return eng.run([eng.make_job(t, "log_parsing") for t in texts], concurrency=2)

        seed_server(server.url, isolated / "writer1", "alpha", 4)
        running = engine("running")
        before = run(running, lines("alpha", 4, 1))
        assert all(r["cached"] for r in before) and api.request_count == 0      # loaded from the server

        server.kill()                                                            # mid-run, no goodbye
        during = run(running, lines("bravo", 4, 1))
        assert all(r["verdict"] == "ok" and not r["cached"] for r in during)     # the run goes on, misses
        assert api.request_count == 4
        again = run(running, lines("bravo", 4, 2))
        assert all(r["cached"] for r in again)        # what this engine verified itself it still serves
        store = running.scheduler.cache.stats()["store"]
        assert store["healthy"] is False and store["pending"] > 0 and store["errors"] >= 1
        assert any("degrades to misses" in r.getMessage() for r in caplog.records)

        late = engine("late")                       # a scheduler started while the server is down
        assert late.scheduler.cache.size() == 0
        first = late.ask(lines("alpha", 4, 2)[0], "log_parsing")
        assert first["cached"] is False and first["verdict"] == "ok"             # a miss, not a crash
        errors_while_down = running.scheduler.cache.stats()["store"]["errors"]
        time.sleep(BACKOFF[1])
        run(running, lines("bravo", 4, 3))
        # while down, the server is tried at most once per back-off interval, not once per job or lookup
        assert running.scheduler.cache.stats()["store"]["errors"] <= errors_while_down + 1

        server.start()                                                           # same port, same path
        seed_server(server.url, isolated / "writer2", "charlie", 3)
        calls = api.request_count
        assert wait_until(lambda: run(running, lines("charlie", 3, 1))[0]["cached"], timeout=10, interval=0.1)
        after = run(running, lines("charlie", 3, 2))
        assert all(r["cached"] for r in after) and api.request_count == calls    # hits from the server again
        running.checkpoint()
        store = running.scheduler.cache.stats()["store"]
        assert store["healthy"] is True and store["pending"] == 0
        assert any("reachable again" in r.getMessage() for r in caplog.records)

        rest = late.ask(lines("alpha", 4, 3)[3], "log_parsing")   # the late engine loads what it missed
        assert rest["cached"] is True
        late.close()
        running.close()

        fresh = CacheManager.open(isolated / "fresh", chroma_url=server.url)    # outage-time writes arrived
        hit = fresh.lookup(Job("f", "log_parsing", "x", dataset="live"), lines("bravo", 4, 9)[2])
        assert hit is not None and hit.answer == "bravo stage2 finished job <*> in <*> ms"
        fresh.close()
    finally:
        server.stop()
