"""Folding the fleet's feedback into one scheduler, and the worst case a call must reserve.

`FleetLearning` is the adapter between the live engine and `FleetSync`:

* `published(fb, drift)` after this scheduler applied one of its own feedback events;
* `pull()` before a job (at most every `poll_s`): each foreign event not applied yet goes through the
  scheduler's update manager under a local seq (predictors, cache thresholds and entries, drift monitors),
  and a drift another scheduler found is reported here too (and the model's predictors forget as they do
  after a local drift); then the stream position advances, inside the learned state.
"""

from __future__ import annotations

import logging
import math
import time

from engine.fleet.sync import FleetState, FleetSync, event_feedback, feedback_event
from engine.updates.drift import DriftEvent

log = logging.getLogger(__name__)
STATE_ATTR = "fleet"            # FleetState lives on the update manager: pickled with the learned state
TOKENS_PER_MESSAGE = 32         # framing a provider may count on top of a message's text


def call_reservation(spec, messages, max_tokens: int, remaining_usd: float) -> tuple[float, int] | None:
    """(USD to reserve, output-token cap) for one call of `spec`, or None when not even a short answer fits.

    The input bound is the prompt's UTF-8 bytes (a token is at least one byte) plus framing; the output
    bound is `max_tokens`, lowered to what `remaining_usd` can pay for. A model without prices reserves 0
    (its cost cannot be bounded; the catalog should price every live model)."""
    if not spec.has_prices:
        return 0.0, max_tokens
    text_bytes = sum(len(str(content).encode("utf-8", "replace")) for _, content in messages)
    input_bound = text_bytes + TOKENS_PER_MESSAGE * len(messages)
    input_usd = input_bound * spec.input_usd_per_mtok / 1e6
    out_price = spec.output_usd_per_mtok / 1e6
    worst = input_usd + max_tokens * out_price
    if worst <= remaining_usd:
        return worst, max_tokens
    cap = max_tokens if out_price == 0 else int(math.floor((remaining_usd - input_usd) / out_price))
    if cap < min(16, max_tokens):    # too short for an answer: do not send it
        return None
    return input_usd + cap * out_price, cap


MIN_ANSWER_TOKENS = 256         # a reservation never caps a call below this (a cut answer is a wasted call)
FAIR_SHARE = 4                  # one call holds at most 1/4 of what remains (unless its minimum needs more)


def reserve_call(ledger, spec, messages, max_tokens: int, *, wait_s: float = 30.0, step_s: float = 0.02):
    """Reserve one call's worst case on `ledger`: (reservation, output-token cap), or None when it cannot fit.

    The hold is the worst case at `max_tokens`, or less with the output capped (never below
    `MIN_ANSWER_TOKENS`) so that one call holds at most a fair share of what remains. When it does not fit
    now but would once the calls in flight settle (their holds are worst cases, their bills usually far
    less), it waits up to `wait_s` for them rather than refusing the job."""
    deadline = time.monotonic() + wait_s
    floor = min(max_tokens, MIN_ANSWER_TOKENS)
    while True:
        remaining = ledger.remaining_usd
        minimum = call_reservation(spec, messages, floor, math.inf)[0]
        plan = call_reservation(spec, messages, max_tokens, max(minimum, remaining / FAIR_SHARE))
        if plan is not None and plan[1] >= floor and plan[0] <= remaining:
            held = ledger.reserve(plan[0])
            if held is not None:
                return held, plan[1]
        total = ledger.total_usd
        if total is None or time.monotonic() > deadline or total - ledger.spent_usd < minimum:
            return None
        time.sleep(step_s)


class FleetLearning:
    """Publishes this scheduler's feedback and applies the others' (see the module docstring)."""

    def __init__(self, sync: FleetSync, scheduler, next_seq, *, poll_s: float = 0.05):
        self.sync, self.scheduler, self.next_seq, self.poll_s = sync, scheduler, next_seq, poll_s
        self._last_poll = -math.inf
        self.attach()

    @classmethod
    def for_engine(cls, engine, url: str, **options) -> FleetLearning:
        """The adapter for a live `Engine` (its scheduler and its seq counter)."""
        return cls(FleetSync(url, **{k: v for k, v in options.items() if k in ("namespace", "retry_s")}),
                   engine.scheduler, engine._next_seq,
                   **{k: v for k, v in options.items() if k == "poll_s"})

    @property
    def state(self) -> FleetState:
        return self.sync.state

    def attach(self) -> None:
        """Adopt the fleet state saved with the learned state (or start one); call after a restore."""
        updates = self.scheduler.updates
        state = getattr(updates, STATE_ATTR, None)
        if not isinstance(state, FleetState):
            state = FleetState()
            setattr(updates, STATE_ATTR, state)
        self.sync.attach(state)

    def published(self, fb, drift: list | None = None) -> None:
        """After this scheduler applied its own feedback event `fb` (with the drift events it raised)."""
        self.sync.publish(feedback_event(fb, self.state.origin, drift))

    def pull(self, *, force: bool = False) -> int:
        """Apply the foreign events that arrived since the saved position; returns how many were applied.
        Call under the engine's lock (it writes learned state)."""
        now = time.monotonic()
        if not force and now - self._last_poll < self.poll_s:
            return 0
        self._last_poll = now
        applied = 0
        while True:
            batch = self.sync.poll()
            if not batch:
                return applied
            for stream_id, event in batch:
                if event is not None and self.state.fresh(event):
                    self._apply(event)
                    applied += 1
                self.sync.advance(stream_id, event)

    def _apply(self, event: dict) -> None:
        fb = event_feedback(event, self.next_seq())
        self.scheduler.feedback(fb)
        self.state.foreign_applied += 1
        updates = self.scheduler.updates
        for d in event.get("drift") or ():
            found = DriftEvent(fb.seq, d["model"], d.get("task", ""), float(d.get("mean_before", math.nan)),
                               float(d.get("mean_after", math.nan)),
                               f"{d.get('detail', '')} (found by scheduler {event['origin']})")
            updates.drift.events.append(found)
            key = (found.model, found.task)
            # the same change should not be reported again here right away from the folded observations
            updates.drift._last_event[key] = updates.drift._counts.get(key, 0)
            if updates.learn:
                updates.predictors.forget(found.model, updates.drift_forget)
            log.info("drift (fleet): %s", found.detail)
