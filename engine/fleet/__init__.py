"""A fleet of schedulers on one Redis server (`SLS_REDIS_URL`): one budget, shared learning.

* `RedisLedger` — the `Ledger` protocol on Redis: atomic reserve/settle/release across every process.
* `FleetSync` — the stream of feedback events; `FleetLearning` — folds the other schedulers' events into
  this one's learned state through its update manager, exactly once.
A call's worst case (what it reserves) and its output cap are the pipeline's (`engine.live_backend`).

Nothing here connects at import; `FleetLearning.for_engine` and `RedisLedger(...)` connect when built.
"""

from engine.fleet.learning import FleetLearning
from engine.fleet.ledger import RedisLedger, Reservation
from engine.fleet.sync import FleetState, FleetSync
from engine.updates.codec import event_feedback, feedback_event

__all__ = ["FleetLearning", "FleetState", "FleetSync", "RedisLedger", "Reservation", "event_feedback",
           "feedback_event"]
