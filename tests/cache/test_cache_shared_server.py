"""Shared-cache mode: engines on one real `chroma run` server (starts a local server, ~2 s).

Two engines in one process share verified templates; two scheduler *processes* (each its own workspace,
the same `SLS_CHROMA_URL`) share verified answers while both keep running — a new answer verified in
one is a hit in the other, and an answer feedback proved wrong in one stops being served by the other.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from cache_helpers import log_job

from engine.cache.manager import CacheManager
from engine.tasks.templates import mask_variables
from tests.fakes.anthropic_server import FakeAnthropicServer, last_user_text
from tests.fakes.chroma_server import ChromaServer
from tests.fakes.processes import EngineProcess, warm_up

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

LINE = "Received block blk_123 of size 67108864 from /10.250.19.102"
TEMPLATE = "Received block <*> of size <*> from <*>"
SSH = "Failed password for root from 10.0.0.1 port 22 ssh2"
SSH_AGAIN = "Failed password for root from 192.168.7.40 port 50122 ssh2"
SSH_THIRD = "Failed password for root from 172.16.0.9 port 4711 ssh2"
SYNC_INTERVAL_S = 1.0   # CacheManager's default: how often a running engine asks the server for news


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """One server for this module's tests (each test keeps to its own datasets)."""
    warm_up()      # the fork server of the two-process test imports the engine while chroma starts
    with ChromaServer(tmp_path_factory.mktemp("chroma") / "server") as server:
        yield server


def respond(body: dict) -> str:
    """A model that answers a log line with its template."""
    match = re.search(r"Log line:\n(.*)\n\nReply", last_user_text(body), re.S)
    return mask_variables(match.group(1) if match else last_user_text(body))


def test_two_engines_share_one_server(tmp_path, chroma_server):
    first = CacheManager.open(tmp_path / "engine1", chroma_url=chroma_server.url)
    eid = first.store(log_job(LINE), LINE, TEMPLATE, "mixtral", 1.0, seq=1)
    first.close()
    second = CacheManager.open(tmp_path / "engine2", chroma_url=chroma_server.url)
    hit = second.lookup(log_job("x"), "Received block blk_7 of size 3 from /10.0.0.2")
    assert hit is not None and hit.entry_id == eid and second.stats()["store"]["healthy"]
    second.close()


def test_a_running_engine_sees_what_another_engine_stores_and_invalidates_later(tmp_path, chroma_server):
    reader = CacheManager.open(tmp_path / "reader", chroma_url=chroma_server.url, sync_interval_s=0)
    assert reader.lookup(log_job("x", "HDFS2"), LINE) is None         # nothing of this dataset yet
    writer = CacheManager.open(tmp_path / "writer", chroma_url=chroma_server.url)
    eid = writer.store(log_job(LINE, "HDFS2"), LINE, TEMPLATE, "mixtral", 1.0, seq=1)
    writer.flush()
    hit = reader.lookup(log_job("x", "HDFS2"), "Received block blk_7 of size 3 from /10.0.0.2")
    assert hit is not None and hit.entry_id == eid and reader.stats()["synced"] >= 1
    writer.invalidate(eid)
    writer.flush()
    assert reader.lookup(log_job("x", "HDFS2"), LINE) is None         # the tombstone reached it
    assert reader.store(log_job(LINE, "HDFS2"), LINE, TEMPLATE, "m", 1.0, seq=2) is None   # and is respected
    writer.close()
    reader.close()


def test_two_scheduler_processes_share_verified_answers(tmp_path, chroma_server):
    with FakeAnthropicServer(responder=respond) as api:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SLS_", "ANTHROPIC_"))}
        env = {**base, "ANTHROPIC_API_KEY": "sk-test-shared-cache-key", "ANTHROPIC_BASE_URL": api.base_url,
               "SLS_CHROMA_URL": chroma_server.url, "NO_PROXY": "127.0.0.1,localhost",
               "ANONYMIZED_TELEMETRY": "False"}
        client = {"timeout_s": 10.0, "retry": {"base_delay_s": 0.01}}
        with EngineProcess({**env, "SLS_WORKSPACE": str(tmp_path / "ws1")}, client_options=client) as one, \
                EngineProcess({**env, "SLS_WORKSPACE": str(tmp_path / "ws2")}, client_options=client) as two:
            assert one.pid != two.pid
            # Process two is running and has looked at the (empty) server before process one learns anything.
            other = two.ask("PacketResponder 1 for block blk_4 terminating", "log_parsing")
            looked_at = time.monotonic()
            assert other["cached"] is False and api.request_count == 1

            first = one.ask(SSH, "log_parsing")
            assert first["cached"] is False and first["verdict"] == "ok"
            assert first["answer"] == "Failed password for root from <*> port <*> ssh2"
            assert one.feedback(first["job_id"], 1.0)["applied"] is True      # a user confirms it
            assert api.request_count == 2

            time.sleep(max(0.0, looked_at + SYNC_INTERVAL_S + 0.05 - time.monotonic()))
            second = two.ask(SSH_AGAIN, "log_parsing")                          # same template, other values
            assert second["cached"] is True and second["answer"] == first["answer"]
            assert second["model"] == first["model"] and second["cost_usd"] == 0
            assert api.request_count == 2                                        # no model was called
            assert two.stats()["synced"] >= 1

            # Feedback in process two proves the answer wrong: process one stops serving it.
            assert two.feedback(second["job_id"], 0.0)["applied"] is True
            time.sleep(SYNC_INTERVAL_S + 0.05)
            third = one.ask(SSH_THIRD, "log_parsing")
            assert third["cached"] is False and api.request_count == 3
