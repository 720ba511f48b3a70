"""Fault family: the model API answers 429s, 500s, 529s and timeouts in bursts.

A live run of 40 jobs goes through the real HTTP client to the local fake server, which plays a seeded
script of error bursts between runs of normal answers, with 4 calls in flight. The run must complete;
every job is answered or clearly failed (each failed model named with its kind); and every answer the
server delivered is counted exactly once: in the results, in the event log, in the ledger — never for a
failed attempt, never twice for a retried one.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from engine.catalog import Catalog
from engine.clients.settings import BreakerPolicy, ClientSettings, RetryPolicy
from engine.service import LIVE_RUN, build_engine
from engine.settings import load_settings
from tests.fakes.anthropic_server import ApiError, Hang, bursts

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning"),
]

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
         "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"]
LINES = ([f"worker {w} finished task {i} in {7 * i + 3} ms" for i, w in enumerate(WORDS)]
         + [f"queue {w} drained {i} messages after {i + 2} retries" for i, w in enumerate(WORDS)])
TIMEOUT_S = 0.3      # the client's per-request timeout: a hang costs this much per attempt


def test_bursts_of_429_500_529_and_timeouts_complete_the_run_and_count_each_cost_once(api, isolated):
    script = bursts(seed=7, length=60)
    kinds = Counter("hang" if isinstance(a, Hang) else a.status for a in script if isinstance(a, ApiError | Hang))
    assert set(kinds) == {429, 500, 529, "hang"}
    api.enqueue(script)
    api.delay_s = 0.02   # calls take time, as real ones do (with instant answers a 0.2 s breaker cooldown spans the run)
    catalog = Catalog.default()
    client = ClientSettings(backend="live", anthropic_api_key="sk-test-burst-key", anthropic_base_url=api.base_url,
                            timeout_s=TIMEOUT_S,
                            retry=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05),
                            breaker=BreakerPolicy(failure_threshold=4, cooldown_s=0.2))
    engine = build_engine(load_settings(workspace=isolated / "ws"), catalog=catalog, client_settings=client)
    try:
        jobs = [engine.make_job(line, "log_parsing") for line in LINES]
        results = engine.run(jobs, concurrency=4)
        logged = engine.events.steps(LIVE_RUN)
        spend = engine.events.spend(LIVE_RUN)
    finally:
        engine.close()

    # every kind of error was met (how far the script got depends on how soon the cache answers the lines)
    played = script[:len(script) - api.pending]
    met = {"hang" if isinstance(a, Hang) else a.status for a in played if isinstance(a, ApiError | Hang)}
    assert met == set(kinds), (met, api.pending)
    assert [r["job_id"] for r in results] == [j.job_id for j in jobs]
    answered = [r for r in results if r["verdict"] == "ok"]
    failed = [r for r in results if r["verdict"] != "ok"]
    for r in answered:
        assert r["answer"] and r["model"] in catalog and not r.get("error"), r
        assert len(r["failures"]) == len(r["attempts"]) - 1, r     # the models that failed before the answer
    for r in failed:                                                  # clearly failed: every model tried is named
        assert r["answer"] == "" and r["cost_usd"] == 0 and r["attempts"], r
        assert len(r["failures"]) == len(r["attempts"]), r
    assert len(answered) >= len(results) // 2
    kinds_failed = {f.split(" failed (")[1].split(",")[0] for r in results for f in r["failures"] if " failed (" in f}
    assert len(kinds_failed) >= 2, kinds_failed      # the bursts outlasted the retries more than once

    # Each delivered answer is billed once, and counted once.
    by_api_model = {spec.api_model or spec.name: spec for spec in catalog}
    billed = sum(by_api_model[b.model].cost(b.input_tokens, b.output_tokens) for b in api.billed)
    assert len(api.billed) == sum(len(r["attempts"]) - len(r["failures"]) for r in results)
    assert math.isclose(sum(r["cost_usd"] for r in results), billed, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(spend, billed, rel_tol=1e-9, abs_tol=1e-9)
    # The event log holds every job exactly once.
    assert Counter(s["job_id"] for s in logged) == Counter(j.job_id for j in jobs)
    assert len({s["seq"] for s in logged}) == len(jobs)
