"""Durability of the live engine's learned state: the last snapshot plus the jobs logged after it.

Each live job is committed to the event log with what it taught the learned state (`what_it_taught`): its
feedback event as JSON (`engine.updates.codec`), the job counters and pacing after it, the models admitted
by then and the exploration generator's state. The learned state itself is snapshotted only every
`SLS_SNAPSHOT_EVERY` jobs. On start, `rebuild` applies the jobs logged after the restored snapshot again, as
they were applied the first time — the task's judge sees the same answers, the update manager the same
events — so a process killed at any point carries on exactly where it stopped, without pickling the
learned state after every job.
"""

from __future__ import annotations

import json
import logging
import math
from array import array
from collections.abc import Callable

from engine.catalog import Catalog
from engine.eventlog import EventLog, Learning, Snapshot
from engine.pipeline import CALL_FAILED, TRUNCATED
from engine.scheduling.scheduler import Scheduler
from engine.updates.codec import event_feedback, feedback_event
from engine.updates.manager import Feedback

log = logging.getLogger(__name__)


def what_it_taught(scheduler: Scheduler, seq: int, fb: Feedback | None) -> Learning:
    """The learning row of job `seq` (its feedback `fb`, None for a job refused without one), taken right
    after the job under the engine's lock."""
    updates = scheduler.updates
    pacer = updates.pacer
    version, words, gauss = scheduler.rng.getstate()
    counters = {"jobs_done": updates.jobs_done, "jobs_called": updates.jobs_called, "rng_version": version,
                "models": updates.predictors.models, "gauss": gauss,
                "lam": None if pacer is None else pacer.lam,
                "pacer_spent": None if pacer is None else pacer.spent_usd}
    return Learning(seq, None if fb is None else json.dumps(feedback_event(fb, "")), json.dumps(counters),
                    array("I", words).tobytes())


def rebuild(scheduler: Scheduler, events: EventLog, run_id: str, saved: Snapshot | None, catalog: Catalog, *,
            publish: Callable[[Feedback, list], None] | None = None) -> int:
    """Apply the jobs of `run_id` logged after the restored snapshot `saved` again; returns how many.
    `publish` is told of each re-applied event (a fleet sends it again; the others skip what they had)."""
    updates = scheduler.updates
    after = getattr(updates, "applied_through", None)
    if after is None:
        after = saved.seq if saved is not None else -1
    rows = events.learning_after(run_id, after)
    if not rows:
        return 0
    for row in rows:
        for name in json.loads(row.counters).get("models", ()):   # candidates admitted by then, in order
            if name in catalog:
                updates.admit(catalog.get(name))
        if row.event is None:
            continue
        fb = event_feedback(json.loads(row.event), row.seq)
        for attempt in fb.attempts:            # the judge saw every answer the job's calls gave
            if attempt.verdict.reason not in (CALL_FAILED.reason, TRUNCATED.reason):
                judge = scheduler.verifier(fb.job)
                if judge is not None:
                    judge.verify(fb.job, attempt.output)
        if fb.hit is not None:
            scheduler.hit_verdict(fb.job, fb.hit.answer, math.nan)
        drift = scheduler.feedback(fb)
        if publish is not None:
            publish(fb, drift)
    last = json.loads(rows[-1].counters)
    updates.jobs_done, updates.jobs_called = last["jobs_done"], last["jobs_called"]
    if updates.pacer is not None and last["lam"] is not None:
        updates.pacer.lam, updates.pacer.spent_usd = last["lam"], last["pacer_spent"]
    if rows[-1].rng:
        scheduler.rng.setstate((last["rng_version"], tuple(array("I", rows[-1].rng)), last["gauss"]))
    updates.applied_through = rows[-1].seq
    log.info("learned state: the snapshot after event %d plus %d jobs logged after it", after, len(rows))
    return len(rows)
