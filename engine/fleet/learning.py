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

from engine.fleet.sync import FleetState, FleetSync
from engine.updates.codec import event_feedback, feedback_event
from engine.updates.drift import DriftEvent

log = logging.getLogger(__name__)
STATE_ATTR = "fleet"            # FleetState lives on the update manager: pickled with the learned state


class FleetLearning:
    """Publishes this scheduler's feedback and applies the others' (see the module docstring)."""

    def __init__(self, sync: FleetSync, scheduler, next_seq, *, poll_s: float = 0.05):
        self.sync, self.scheduler, self.next_seq, self.poll_s = sync, scheduler, next_seq, poll_s
        self._last_poll = -math.inf
        self.attach()

    @classmethod
    def for_engine(cls, engine, url: str, **options) -> FleetLearning:
        """The adapter for a live `Engine` (its scheduler and its seq counter)."""
        return cls(FleetSync(url, journal=engine.events,
                             **{k: v for k, v in options.items() if k in ("namespace", "retry_s")}),
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
            # no snapshot holds one yet: a scheduler that published before (and was killed before its first
            # snapshot) keeps its origin, so the others skip its events when it sends them again
            journal = self.sync.journal
            origin = journal.fleet_origin() if journal is not None else None
            # (its stream position is lost with the state: it reads the stream again, and re-sends its journal)
            state = FleetState() if origin is None else FleetState(origin=origin, epoch="unknown")
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
