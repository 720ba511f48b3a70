"""A fleet of schedulers on one Redis server (`SLS_REDIS_URL`): one budget, shared learning.

* `RedisLedger` — the `Ledger` protocol on Redis: atomic reserve/settle/release across every process.
* `FleetSync` — the stream of feedback events; `FleetLearning` — folds the other schedulers' events into
  this one's learned state through its update manager, exactly once.
* `call_reservation` — a call's worst-case cost (what a reservation must hold) and the output-token cap
  that keeps it a true bound when less than the full worst case remains.

Nothing here connects at import; `FleetLearning.for_engine` and `RedisLedger(...)` connect when built.
"""

from engine.fleet.learning import FleetLearning, call_reservation, reserve_call
from engine.fleet.ledger import RedisLedger, Reservation
from engine.fleet.sync import FleetState, FleetSync, event_feedback, feedback_event

__all__ = ["FleetLearning", "FleetState", "FleetSync", "RedisLedger", "Reservation", "call_reservation", "reserve_call",
           "event_feedback", "feedback_event"]
