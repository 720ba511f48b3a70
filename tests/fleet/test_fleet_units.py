"""Pure parts of the fleet, no network: the feedback event's JSON round trip, the worst case a call reserves,
and the exactly-once marks."""

from __future__ import annotations

import json
import math

import pytest

from engine.cache.entry import CacheHit
from engine.catalog import Catalog
from engine.errors import SettingsError
from engine.fleet import FleetState, event_feedback, feedback_event
from engine.fleet.ledger import _nano, fleet_ttl_s
from engine.jobs import Job, Verdict
from engine.updates.manager import Attempt, Feedback


def test_a_feedback_event_survives_json_and_keeps_what_learning_needs():
    job = Job("j1", "log_parsing", "disk 3 full", "hdfs", "disk <*> full", ("a", "b"))
    attempts = (Attempt("claude-haiku-4-5", "disk <*> full", Verdict(True, "ok"), 1.0, 0.7, 2e-4, 0.4, 90.0, 6.0),
                Attempt("claude-opus-4-5", "", Verdict(False, "call failed"), math.nan, 0.9, 0.0, 0.0, 90.0, None))
    hit = CacheHit("e1", "disk <*> full", 0.93, "semantic", "claude-haiku-4-5", "log_parsing", "hdfs",
                   threshold=0.9)
    fb = Feedback(7, job, "disk 3 full", attempts, hit, True)
    event = json.loads(json.dumps(feedback_event(fb, "origin-a")))
    back = event_feedback(event, 42)
    assert back.seq == 42 and back.job == job and back.key == fb.key and back.hit_correct is True
    assert back.attempts[0] == attempts[0]
    assert back.attempts[1].model == "claude-opus-4-5" and math.isnan(back.attempts[1].score)
    assert back.attempts[1].output_tokens is None and back.attempts[1].verdict == Verdict(False, "call failed")
    assert (back.hit.entry_id, back.hit.kind, back.hit.similarity, back.hit.threshold) == ("e1", hit.kind, 0.93, 0.9)
    assert event["origin"] == "origin-a" and event["seq"] == 7


def test_a_reservation_is_the_worst_case_and_caps_the_output_to_what_remains():
    """The one worst-case rule every ledger (Redis's too) reserves: the pipeline's live backend."""
    from types import SimpleNamespace

    from engine.live_backend import MIN_OUTPUT_TOKENS, LiveBackend
    from engine.tasks import get_task
    sent = []

    class Client:
        def call(self, model, messages, job_id=None, **options):
            sent.append(options)
            return SimpleNamespace(text="x", cost_usd=1e-5, latency_s=0.1, input_tokens=10, output_tokens=2)

    catalog = Catalog.default()
    spec = catalog.get("claude-haiku-4-5")     # $1 in, $5 out per million tokens
    backend = LiveBackend(Client, catalog, 1000)
    job = Job("j", "log_parsing", "é" * 50, "d")
    bound = LiveBackend._input_bound(get_task("log_parsing").prompt(job))   # UTF-8 bytes + framing
    worst = backend.worst_case_usd(job, spec.name)
    assert worst == pytest.approx(bound * 1e-6 + 1000 * 5e-6)
    backend.call(job, spec.name, limit_usd=worst)
    assert sent[-1] == {}                                           # the full worst case fits: no cap
    backend.call(job, spec.name, limit_usd=0.001)
    cap = sent[-1]["max_tokens"]
    assert cap == int((0.001 - bound * 1e-6) / 5e-6) and bound * 1e-6 + cap * 5e-6 <= 0.001
    calls = len(sent)
    cut = backend.call(job, spec.name, limit_usd=bound * 1e-6 + (MIN_OUTPUT_TOKENS - 1) * 5e-6)
    assert cut.truncated and len(sent) == calls                     # not even a short answer fits: not sent


def test_amounts_round_up_to_nano_usd_and_the_ttl_setting_is_checked(monkeypatch):
    assert _nano(0.003) == 3_000_000 and _nano(1e-10) == 1 and _nano(0.0) == 0
    monkeypatch.setenv("SLS_FLEET_TTL_S", "2.5")
    assert fleet_ttl_s() == 2.5
    monkeypatch.setenv("SLS_FLEET_TTL_S", "soon")
    with pytest.raises(SettingsError, match="SLS_FLEET_TTL_S"):
        fleet_ttl_s()


def test_an_event_is_fresh_once_per_origin_and_never_our_own():
    state = FleetState(origin="me")
    assert not state.fresh({"origin": "me", "seq": 1})
    assert state.fresh({"origin": "you", "seq": 3})
    state.applied["you"] = 3
    assert not state.fresh({"origin": "you", "seq": 3}) and state.fresh({"origin": "you", "seq": 4})
