"""`build_engine(settings)`: the one place where the parts are wired, and the live `Engine` it returns.

The engine answers jobs one at a time (`ask`) or many at once with a small pool of in-flight calls (`run`):
cache → predictors → policy → client (with retries, breakers, fallback) → parser → verifier → escalation →
update manager. Every job, decision and feedback is written to the workspace's SQLite event log, each job
with what it taught the learned state (its feedback event, the job counters and pacing, the exploration
generator's state); the learned state itself is snapshotted every `SLS_SNAPSHOT_EVERY` jobs and at the end
of a run. A restarted engine restores the last snapshot and applies the jobs logged after it again
(`engine.durability`), so it carries on exactly where it stopped without pickling everything after every job.
"""

from __future__ import annotations

import logging
import math
import numbers
import statistics
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from engine.catalog import Catalog
from engine.durability import rebuild, what_it_taught
from engine.errors import ClientError, EngineError, SettingsError, UnknownNameError, WorkspaceError
from engine.eventlog import EVENTS_FILE, LIVE_RUN, EventLog, Snapshot  # noqa: F401 - LIVE_RUN re-exported
from engine.jobs import Job, Verdict, estimate_input_tokens, is_valid_text
from engine.live_backend import LiveBackend, valid_text  # noqa: F401 - valid_text re-exported
from engine.outcome import Outcome
from engine.pipeline import Backend, Pipeline
from engine.scheduling.budget import BudgetLedger, Ledger
from engine.scheduling.scheduler import Scheduler, SchedulerConfig
from engine.settings import Settings, load_settings
from engine.tasks import get_task
from engine.updates.manager import Attempt, Feedback
from engine.workspace_lock import lock_workspace
from engine.workspace_state import atomic_write_bytes, restore_learned_state

log = logging.getLogger(__name__)
STATE_FILE = "scheduler_state.pkl"


class Engine:
    """The live scheduler. Thread-safe: scheduling and learning happen under one lock, model calls outside."""

    def __init__(self, settings: Settings, catalog: Catalog, *, client_settings=None, trace=None,
                 client=None, backend: Backend | None = None, cache=None):
        self.settings, self.catalog, self.trace = settings, catalog, trace
        self.workspace = Path(settings.workspace)
        try:
            self.workspace.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot use the workspace {self.workspace}: {exc.strerror or exc}") from None
        self._workspace_lock = lock_workspace(self.workspace)   # h14: one engine per workspace
        self.events = EventLog(self.workspace / EVENTS_FILE)
        if cache is None:
            from engine.cache import CacheManager
            try:
                cache = CacheManager.open(self.workspace, chroma_url=settings.chroma_url)
            except Exception as exc:          # a cache that cannot open degrades to no cache, loudly
                log.warning("cache unavailable (%s); continuing without it", exc)
                cache = None
        config = SchedulerConfig.from_settings(settings, use_cache=cache is not None)
        self.scheduler = Scheduler(catalog, config, cache=cache, feedback=settings.feedback, seed=settings.seed)
        saved = self.events.snapshot(LIVE_RUN)   # committed with the last job: never older than the file
        restore_learned_state(self.scheduler.restore, saved and saved.state, self.workspace / STATE_FILE,
                              self.events.path)   # h14: names a broken copy, falls back to the intact one
        if saved is not None and cache is not None:
            cache.recover(saved.cache_pending)   # cache writes committed with that job but never flushed
        elif saved is None and not (self.workspace / STATE_FILE).exists() and settings.warm_start is not None:
            # A workspace without learned state of its own starts from another's (never written to).
            from engine.warmstart import apply_warm_state, read_warm_state
            if Path(settings.warm_start).resolve() == self.workspace.resolve():
                raise SettingsError(f"SLS_WARM_START {settings.warm_start} is the workspace itself: a warm start "
                                    "reads another workspace")
            apply_warm_state(self.scheduler, read_warm_state(settings.warm_start))
        self._client_settings = client_settings
        self._client = client
        self._lock = threading.RLock()
        self.pipeline = Pipeline(self.scheduler, when_exhausted=settings.when_exhausted, lock=self._lock,
                                 on_feedback=self._published)
        max_tokens = (client_settings.max_tokens if client_settings is not None
                      else _default_client_settings().max_tokens)
        self.backend: Backend = backend or LiveBackend(lambda: self.client, catalog, max_tokens)
        self._seq = 0
        self._unsnapshotted = 0
        self._learned: dict[int, tuple[Feedback, list]] = {}   # own feedback (and drift) whose step is not logged yet
        self._ready: dict[int, tuple[Feedback, list]] = {}     # logged, not yet sent to the fleet
        self._trace_jobs: dict[tuple[str, str], Job] | None = None
        self.events.start_run(LIVE_RUN, "live")
        self.fleet = None   # a fleet on SLS_REDIS_URL: one budget, shared learning (engine.fleet)
        if settings.redis_url:
            from engine.fleet import FleetLearning
            self.fleet = FleetLearning.for_engine(self, settings.redis_url)
        rebuild(self.scheduler, self.events, LIVE_RUN, saved, self.catalog,
                publish=None if self.fleet is None else self.fleet.published)

    def new_ledger(self, budget: float | None, expected_jobs: int | None = None, *, jobs_seen: int = 0,
                   spent_usd: float = 0.0) -> Ledger:
        """The budget ledger of a run: the fleet's on Redis with SLS_REDIS_URL, else this process's.
        `jobs_seen`/`spent_usd`: what the run handled and spent before (a resumed run). On Redis this
        workspace is one scheduler of the fleet (its fleet origin), so a restarted process carries on its
        spend, and re-seeds it when Redis lost its data."""
        if self.settings.redis_url:
            from engine.fleet import RedisLedger
            return RedisLedger(self.settings.redis_url, budget, expected_jobs, process_id=self.fleet.state.origin,
                               jobs_seen=jobs_seen, spent_usd=spent_usd)
        return BudgetLedger(budget, expected_jobs, spent_usd=spent_usd, jobs_seen=jobs_seen)

    def _published(self, fb: Feedback, drift: list) -> None:
        """After this scheduler applied one of its own feedback events (under the lock): it is logged with its
        step, and sent to the fleet once that is committed (`_committed`)."""
        self._learned[fb.seq] = (fb, drift)

    def _committed(self, seq: int) -> None:
        """Event `seq` is in the event log: send it to the fleet — in seq order, and only once every event
        before it is logged too, so that no other scheduler learns a job a crash here would run again."""
        item = self._learned.pop(seq, None)
        if item is None or self.fleet is None:
            return
        self._ready[seq] = item
        first_open = min(self._learned, default=math.inf)
        for s in sorted(k for k in self._ready if k < first_open):
            self.fleet.published(*self._ready.pop(s))

    # -- clients -----------------------------------------------------------------------------------------
    @property
    def client(self):
        """The resilient client over every catalog model that has one (built on first use)."""
        if self._client is None:
            from engine.clients.factory import build_resilient_client
            from engine.clients.settings import ClientSettings
            with self._lock:
                if self._client is None:
                    self._client = build_resilient_client(self.catalog, self._client_settings or ClientSettings(),
                                                          self.trace)
        return self._client

    def available_models(self) -> list[str]:
        try:
            return [m for m in self.client.model_names if m in self.catalog]
        except ClientError:
            return []

    # -- one job -----------------------------------------------------------------------------------------
    def make_job(self, text: str, task: str, labels: Iterable[str] = (), reference: str | None = None,
                 dataset: str = "live") -> Job:
        """A new live job; `EngineError` for text that is empty, not a string or not valid Unicode, labels
        given as one string, and `UnknownNameError` for an unknown task."""
        if isinstance(labels, str):
            raise EngineError(f"labels must be a list of label strings, not one string ({_show(labels)}); "
                              "e.g. labels=['spam', 'ham']")
        job = Job(job_id=uuid.uuid4().hex[:12], task=task, text=text, dataset=dataset, reference=reference,
                  labels=tuple(labels))
        check_job(job)
        return job

    def plan(self, job: Job, models: list[str] | None = None, ledger: Ledger | None = None) -> dict:
        """Cache lookup and per-model predictions for a job, without calling anything (the Playground)."""
        with self._lock:
            if self.fleet is not None:
                self.fleet.pull(force=True)
            key, hit = self.scheduler.lookup(job)
            names = models or self.catalog.names
            specs = self.scheduler.candidates(names)
            in_tok = statistics.median(self.backend.input_tokens(job, s.name) for s in specs) if specs else 0.0
            predictions = self.scheduler.predict(job, specs, in_tok)
            decision = self.scheduler.decide(predictions, ledger or BudgetLedger())
        return {"cache_hit": None if hit is None else {"answer": hit.answer, "model": hit.model,
                                                       "kind": hit.kind, "similarity": hit.similarity},
                "decision": {"chosen": decision.chosen, "reason": decision.reason, "explored": decision.explored,
                             "table": [r.as_dict() for r in decision.table]}}

    def ask(self, text: str, task: str, *, labels: Iterable[str] = (), budget: float | None = None,
            model: str | None = None, reference: str | None = None, ledger: Ledger | None = None) -> dict:
        """Run one job through the whole engine and return what happened (see `sls ask --json`)."""
        job = self.make_job(text, task, labels, reference)
        budget = check_budget(budget)
        self._check_model(model)
        job = self._replayable(job, strict=True)
        ledger = ledger or self.new_ledger(budget)
        return self.process(job, ledger, model=model)

    def process(self, job: Job, ledger: Ledger, *, model: str | None = None) -> dict:
        """One job through the pipeline, logged; its outcome as a plain dict (`Outcome.as_result`)."""
        return self.handle(job, ledger, model=model).as_result()

    def handle(self, job: Job, ledger: Ledger, *, model: str | None = None) -> Outcome:
        """One job through the pipeline (cache → scheduler → backend → judge → update manager), logged."""
        check_job(job)
        self._check_model(model)
        if self.fleet is not None:
            with self._lock:
                self.fleet.pull()     # the others' feedback first (at most every poll interval)
        outcome = self.pipeline.handle(job, ledger, self.backend, seq=self._next_seq, model=model)
        with self._lock:
            self._record(outcome)
        return outcome

    def run(self, jobs: list[Job], *, budget: float | None = None, concurrency: int = 4,
            progress: Callable[[int, int], None] | None = None, done_jobs: int = 0,
            done_spend_usd: float = 0.0) -> list[dict]:
        """Process many jobs with up to `concurrency` calls in flight; results in input order. A job the
        engine cannot take (empty text, unknown task) gets a result with an `error` and no answer.
        `done_jobs`/`done_spend_usd`: jobs of the same run handled before (a resumed run) and what they
        spent; the budget is the whole run's."""
        results = self.run_outcomes(jobs, budget=budget, concurrency=concurrency, progress=progress,
                                    done_jobs=done_jobs, done_spend_usd=done_spend_usd)
        return [r.as_result() if isinstance(r, Outcome) else
                {"job_id": job.job_id, "error": str(r), "answer": None, "model": None, "cost_usd": 0.0,
                 "latency_s": 0.0, "verdict": "error", "cached": False}
                for job, r in zip(jobs, results, strict=True)]

    def run_outcomes(self, jobs: list[Job], *, budget: float | None = None, concurrency: int = 4,
                     progress: Callable[[int, int], None] | None = None, done_jobs: int = 0,
                     done_spend_usd: float = 0.0) -> list[Outcome | EngineError]:
        """`run`, returning each job's `Outcome` (or the `EngineError` that kept the engine from taking it)."""
        budget = check_budget(budget)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            raise SettingsError(f"concurrency must be a whole number of calls in flight, got {concurrency!r}")
        ledger = self.new_ledger(budget, done_jobs + len(jobs), jobs_seen=done_jobs, spent_usd=done_spend_usd)
        jobs = [self._replayable(job, strict=False) if _valid_job(job) else job for job in jobs]
        results: list[Outcome | EngineError | None] = [None] * len(jobs)
        done = 0
        stopped: list[WorkspaceError] = []   # a workspace that cannot be written stops the run

        def one(k: int) -> None:
            nonlocal done
            if stopped:
                return
            try:
                results[k] = self.handle(jobs[k], ledger)
            except WorkspaceError as exc:
                stopped.append(exc)
                return
            except EngineError as exc:
                results[k] = exc
            with self._lock:
                done += 1
                ledger.jobs_seen = done_jobs + done
                if progress:
                    progress(done, len(jobs))

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            list(pool.map(one, range(len(jobs))))
        if stopped:
            raise stopped[0]
        if self.fleet is not None:
            with self._lock:
                self.fleet.sync.flush()
                self.fleet.pull(force=True)
        self.checkpoint()
        return results  # type: ignore[return-value]

    def feedback(self, job_id: str, score: float) -> dict:
        """User feedback on an earlier job: updates predictors and cache like any other feedback event."""
        if not (isinstance(score, numbers.Real) and not isinstance(score, bool) and math.isfinite(score)
                and 0.0 <= score <= 1.0):
            raise EngineError(f"feedback score must be a number between 0 and 1, got {score!r}")
        score = float(score)
        if not isinstance(job_id, str) or not is_valid_text(job_id):
            raise EngineError(f"no job with id {_show(job_id)}: a job id is the text `ask`/`run` returned")
        found = self.events.find_step(job_id)
        if found is None:
            raise EngineError(f"no job with id '{job_id}' in the event log {self.events.path}")
        run_id, step = found
        with self._lock:
            if self.events.has_feedback(run_id, job_id, step["seq"]):
                return {"job_id": job_id, "applied": False, "reason": "feedback already recorded for this job"}
            job = Job(job_id, step["task"], step["text"], step.get("dataset", "live"),
                      labels=tuple(step.get("labels") or ()))
            model = step.get("model")
            attempts = ()
            if model and model in self.catalog:
                attempts = (Attempt(model, step.get("answer") or "", Verdict(score >= 1.0, "user feedback"), score,
                                    step.get("predicted_p") or 0.5, 0.0, 0.0, estimate_input_tokens(job.text), None),)
            # The update manager learns from it and, when the answer was wrong, withdraws it from the cache
            # (whether this job was served from it or its answer was stored after the call).
            seq = self._next_seq()
            self.pipeline.learn(Feedback(seq, job, get_task(job.task).cache_key(job), attempts, source="user",
                                         withdraw=(step.get("answer") or "") if score < 1.0 else None))
            snapshot = self._snapshot()    # the feedback row and the state that learned from it, together
            self.events.add_feedback(run_id, job_id, step["seq"], score, "user", snapshot=snapshot)
            self._committed(seq)
            self.checkpoint(snapshot)
        return {"job_id": job_id, "applied": True, "score": score}

    def checkpoint(self, committed: Snapshot | None = None) -> None:
        """Save the learned state (unless `committed` with a job already) and flush the cache; a cache
        store that is down is left alone until its back-off has elapsed."""
        with self._lock:
            snapshot = committed or self._snapshot()
            if committed is None:
                self.events.save_snapshot(snapshot)
            if self.scheduler.cache is not None:
                self.scheduler.cache.flush(force=False)
            atomic_write_bytes(self.workspace / STATE_FILE, snapshot.state)   # h14: unique temp file

    def _snapshot(self) -> Snapshot:
        """The learned state now (call under the lock): every event numbered so far has been applied."""
        cache = self.scheduler.cache
        through = max(self._seq - 1, self.scheduler.updates.last_seq)
        self.scheduler.updates.applied_through = through
        return Snapshot(LIVE_RUN, through, self.scheduler.snapshot(), None if cache is None else cache.unflushed())

    def close(self) -> None:
        self.checkpoint()
        if self.scheduler.cache is not None:
            self.scheduler.cache.close()
        self.events.close()
        self._workspace_lock.release()   # h14

    # -- helpers -----------------------------------------------------------------------------------------
    def _check_model(self, model: str | None) -> None:
        """A forced model must be a catalog name (None lets the policy choose)."""
        if model is not None and (not isinstance(model, str) or model not in self.catalog):
            raise UnknownNameError(f"unknown model {_show(model)}; the catalog has: {', '.join(self.catalog.names)}")

    def _next_seq(self) -> int:
        """The next event sequence number (call under the lock): above every step in the event log and every
        event the learned state has applied (user feedback records no step; other processes and restarts)."""
        seq = max(self._seq, self.events.next_seq(LIVE_RUN), self.scheduler.updates.last_seq + 1)
        self._seq = seq + 1
        return seq

    def _replayable(self, job: Job, *, strict: bool) -> Job:
        """With a trace loaded, a job whose task and text are a recorded job's becomes that job (its id,
        dataset, and reference/labels unless given): a replay answers by job id. `strict`: a job the trace
        lacks is an error when only replayed models are reachable."""
        if self.trace is None:
            return job
        with self._lock:
            if self._trace_jobs is None:
                self._trace_jobs = {}
                for recorded in self.trace.jobs():
                    self._trace_jobs.setdefault((recorded.task, recorded.text), recorded)
        recorded = self._trace_jobs.get((job.task, job.text))
        if recorded is not None:
            return replace(recorded, reference=job.reference or recorded.reference,
                           labels=job.labels or recorded.labels)
        if strict and not set(self.available_models()) - set(self.trace.model_names):
            raise ClientError(f"trace '{self.trace.name}' has no {job.task} job with this text, and a replay "
                              "answers only the jobs it recorded")
        return job

    def _record(self, outcome: Outcome) -> None:
        """Log the job with what it taught the learned state (a crash after the commit loses no learning),
        and every `snapshot_every` jobs a snapshot of that state."""
        learned = self._learned.get(outcome.seq)
        learning = what_it_taught(self.scheduler, outcome.seq, None if learned is None else learned[0])
        self._unsnapshotted += 1
        if self._unsnapshotted < self.settings.snapshot_every:
            self.events.record_step(LIVE_RUN, outcome.as_step(), outcome.decision_row(), learning=learning)
            self._committed(outcome.seq)
            if self.settings.chroma_url and self.scheduler.cache is not None:
                self.scheduler.cache.flush(force=False)   # the other schedulers see new entries at once
            return
        self._unsnapshotted = 0
        snapshot = self._snapshot()
        self.events.record_step(LIVE_RUN, outcome.as_step(), outcome.decision_row(), learning=learning,
                                snapshot=snapshot)
        self._committed(outcome.seq)
        self.checkpoint(snapshot)


# -- input validation -------------------------------------------------------------------------------------
def check_budget(budget: float | None) -> float | None:
    """A budget is None (no budget) or a finite number of USD >= 0; anything else is a `SettingsError`
    (a NaN budget used to refuse every paid call silently, a negative one to leave only free models)."""
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not math.isfinite(budget) or budget < 0:
        raise SettingsError(f"budget must be a finite number >= 0 USD, or None for no budget; got {budget!r}")
    return float(budget)


def check_job(job: Job) -> None:
    """What the engine needs of a job: a known task, a non-blank text and labels/reference that are strings,
    all valid Unicode (a lone surrogate cannot be stored, embedded or sent to a model)."""
    if not isinstance(job.task, str):
        raise UnknownNameError(f"unknown task {_show(job.task)}; a task is a name such as 'log_parsing'")
    get_task(job.task)   # raises UnknownNameError naming the known tasks
    if not isinstance(job.text, str) or not job.text.strip():
        raise EngineError("the job's text is empty" if isinstance(job.text, str) or job.text is None
                          else f"the job's text must be a string, got {type(job.text).__name__}")
    if job.reference is not None and not isinstance(job.reference, str):
        raise EngineError(f"the job's reference must be a string or None, got {type(job.reference).__name__}")
    if not all(isinstance(label, str) for label in job.labels):
        raise EngineError("the job's labels must be strings")
    for what, value in (("text", job.text), ("reference", job.reference or ""), ("labels", "".join(job.labels))):
        if not is_valid_text(value):
            raise EngineError(f"the job's {what} is not valid Unicode text (it holds a lone surrogate); "
                              "decode the input as UTF-8 before sending it")


def _valid_job(job: Job) -> bool:
    try:
        check_job(job)
    except EngineError:
        return False
    return True




def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _default_client_settings():
    from engine.clients.settings import ClientSettings
    return ClientSettings()


def build_engine(settings: Settings | None = None, *, catalog: Catalog | None = None, client_settings=None,
                 trace=None, client=None, backend: Backend | None = None, cache=None) -> Engine:
    """The composition root: settings → catalog → cache, event log, scheduler, clients."""
    settings = settings or load_settings()
    if catalog is None:
        catalog = Catalog.load(settings.catalog) if settings.catalog else Catalog.default()
        if trace is not None:
            catalog = Catalog(list(Catalog.from_trace_models(trace.models)) +
                              [m for m in catalog if m.name not in trace.model_names])
    return Engine(settings, catalog, client_settings=client_settings, trace=trace, client=client, backend=backend,
                  cache=cache)

