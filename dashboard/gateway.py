"""The dashboard's one door to the engine: a `st.cache_resource` gateway plus `st.cache_data` loaders.

Pages never import `engine` themselves. Everything they need — traces, replays, live sessions, the
Playground engine, the catalog — comes through here, so that

* work is shared across reruns and sessions (traces and engines are cached resources; replay results are
  cached data keyed by trace, policy and parameters, which makes a repeated what-if instant);
* an engine part that is not installed yet degrades to `Unavailable` with a friendly message instead of a
  traceback;
* nothing is written outside the workspace (uploads go to `<workspace>/uploads/<digest>/`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import data, store

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_TRACE = REPO_ROOT / "sample_data" / "demo"
SAMPLE_ROOT = REPO_ROOT / "sample_data"
TRACE_FILES = ("models.csv", "queries.csv", "outcomes.csv")
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
PUBLISHED = ("optllm", "cascade")
REPLAY_CHUNK = 100       # jobs per step of a replay: the granularity of its progress reports
ABLATIONS = ("sls-no-cache", "sls-frozen", "sls-no-pacing")
WARM_UP_DELAY_S = 5.0    # after the first page: see `Gateway.warm_up`


class Unavailable(Exception):
    """An engine part the page needs is not available (yet); the message says which and what to do."""


# -- trace references ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TraceRef:
    """Which trace the session looks at: the embedded sample, a folder, or uploaded files."""

    kind: str          # "sample" | "folder" | "upload" | "env"
    path: str
    label: str

    @property
    def simulated(self) -> bool:
        """True for the embedded sample (simulated data, and the dashboard says so)."""
        try:
            return Path(self.path).resolve().is_relative_to(SAMPLE_ROOT.resolve())
        except OSError:
            return False

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def default_cost_weight() -> float:
    """The engine's one cost-weight default (λ without a budget)."""
    from engine.config import DEFAULT_COST_WEIGHT
    return DEFAULT_COST_WEIGHT


# SLS_* variables the dashboard reads itself; any other one is an engine setting for `engine.settings` to read.
DASHBOARD_VARIABLES = ("SLS_WORKSPACE", "SLS_TRACE")
_SETTINGS: tuple[tuple, dict] | None = None


def fallback_settings() -> dict:
    """The engine settings' defaults as the dashboard knows them (a test keeps them equal to `engine.settings`)."""
    return {"workspace": os.environ.get("SLS_WORKSPACE", "workspace"),
            "trace": os.environ.get("SLS_TRACE") or str(SAMPLE_TRACE),
            "budget_usd": None, "feedback": "reference", "cost_weight": default_cost_weight(), "latency_weight": 0.0,
            "max_attempts": 3, "when_exhausted": "cheapest"}


def engine_settings_defaults() -> dict:
    """The settings through `engine.settings` (which reads and validates every `SLS_*` variable)."""
    defaults = fallback_settings()
    try:
        from engine.settings import load_settings
        s = load_settings()
    except Exception as exc:  # engine.settings missing or SLS_* invalid: keep the defaults, say why
        log.info("engine settings not used: %s", exc)
        return defaults
    for key in list(defaults):
        value = getattr(s, key, None)
        if value is not None:
            defaults[key] = str(value) if isinstance(value, Path) else value
    if not os.environ.get("SLS_TRACE"):
        defaults["trace"] = str(SAMPLE_TRACE)
    return defaults


def settings_defaults() -> dict:
    """Engine settings (from `SLS_*` variables through `engine.settings` when available).

    Read once per set of `SLS_*` variables. When no engine setting is given in the environment, the defaults
    are known without importing `engine.settings` (and pydantic with it): a restarted dashboard draws its
    first page from kept results without loading the engine."""
    global _SETTINGS
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("SLS_")))
    cached = _SETTINGS
    if cached is not None and cached[0] == env:
        return dict(cached[1])
    engine_vars = [k for k, _ in env if k not in DASHBOARD_VARIABLES]
    defaults = engine_settings_defaults() if engine_vars else fallback_settings()
    _SETTINGS = (env, defaults)
    return dict(defaults)


def default_trace_ref() -> TraceRef | None:
    """`SLS_TRACE` when set, else the embedded sample when it exists, else None."""
    env = os.environ.get("SLS_TRACE")
    if env:
        return TraceRef("env", str(Path(env).expanduser()), Path(env).name or env)
    if SAMPLE_TRACE.is_dir():
        return TraceRef("sample", str(SAMPLE_TRACE), "sample (simulated)")
    return None


def workspace_dir() -> Path:
    """The workspace: `SLS_WORKSPACE` or `./workspace` (relative to the working directory)."""
    return Path(settings_defaults()["workspace"]).expanduser().resolve()


def trace_signature(path: str | Path) -> str:
    """A key for the trace at `path` that changes when any of its files change."""
    folder = Path(path).expanduser()
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file())
        stamp = ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    except OSError:
        stamp = "missing"
    return f"{folder.resolve()}|{hashlib.blake2b(stamp.encode(), digest_size=8).hexdigest()}"


# -- results -------------------------------------------------------------------------------------------
@dataclass
class RunBundle:
    """A finished replay, shaped for the dashboard (pickles fast, so `st.cache_data` can hold it)."""

    policy: str
    metrics: dict
    jobs: pd.DataFrame
    frames: dict = field(default_factory=dict)
    insights: bool = False
    elapsed_s: float = 0.0

    @classmethod
    def from_result(cls, result, elapsed_s: float = 0.0) -> RunBundle:
        extras = getattr(result, "extras", None) or {}
        return cls(result.policy, dict(result.metrics), data.job_frame(result.frame()),
                   data.extras_frames(extras), data.has_insights(extras), elapsed_s)

    def save(self, disk: store.DiskStore, key: str) -> None:
        frames = {f"frame_{k}": v for k, v in self.frames.items() if isinstance(v, pd.DataFrame)}
        extra = {k: v for k, v in self.frames.items() if not isinstance(v, pd.DataFrame)}
        disk.put_frames(key, {"policy": self.policy, "metrics": self.metrics, "insights": self.insights,
                              "elapsed_s": self.elapsed_s, "extra": extra}, {"jobs": self.jobs, **frames})

    @classmethod
    def load(cls, disk: store.DiskStore, key: str) -> RunBundle | None:
        got = disk.get_frames(key)
        if got is None:
            return None
        meta, frames = got
        parts = {k[len("frame_"):]: v for k, v in frames.items() if k.startswith("frame_")}
        parts.update(meta.get("extra") or {})
        return cls(meta["policy"], dict(meta["metrics"]), data.job_frame(frames.get("jobs")), parts,
                   bool(meta.get("insights")), float(meta.get("elapsed_s") or 0.0))


# -- the gateway ---------------------------------------------------------------------------------------
_FEATURES = {
    "traces": ("engine.traces", "load_trace"),
    "summary": ("engine.traces.summary", "describe"),
    "replay": ("engine.simulation.replay", "replay"),
    "catalog": ("engine.catalog", "Catalog"),
    "settings": ("engine.settings", "load_settings"),
    "service": ("engine.service", "build_engine"),
    "writer": ("engine.traces", "write_trace_frames"),
}
FEATURE_HELP = {
    "traces": "The trace reader (engine.traces)",
    "replay": "The replay engine (engine.simulation)",
    "service": "The live engine service (engine.service)",
}


class Gateway:
    """Holds loaded traces and engines for every session of this server process (thread-safe)."""

    def __init__(self, max_traces: int = 4):
        self._lock = threading.RLock()
        self._traces: OrderedDict[str, object] = OrderedDict()
        self._max_traces = max_traces
        self._engines: dict[str, object] = {}
        self._results: OrderedDict[str, RunBundle] = OrderedDict()
        self._result_locks: dict[str, threading.Lock] = {}
        self.max_results = 48
        self._executor = None          # one background worker, started on first use
        self._urgent = None            # one worker for what a user waits for (runs as foreground work)
        self._repriced: dict = {}      # (trace key, catalog JSON) -> re-priced trace
        self._foreground = 0           # replays a page is waiting for right now; background work yields to them
        self._idle = threading.Condition(self._lock)
        self._pending: dict[str, object] = {}      # result key -> Future
        self._failed: dict[str, str] = {}
        self._derived: OrderedDict[tuple[str, str], object] = OrderedDict()   # (result key, name) -> value
        self._prefetching: set[str] = set()
        self._checked: dict[str, str | None] = {}  # feature -> the reason of its last check (None: available)
        self._imports = threading.RLock()          # engine imports one at a time (the warm-up runs beside pages)
        self._warm: threading.Timer | None = None

    @property
    def disk(self) -> store.DiskStore:
        """Results kept on disk across restarts (`<workspace>/dashboard-cache`)."""
        return store.DiskStore(workspace_dir() / "dashboard-cache")

    # -- availability ------------------------------------------------------------------------------------
    def feature(self, name: str) -> str | None:
        """None when the engine part is importable, else a one-line reason."""
        if name == "sls":
            return self.policy_missing("sls")
        module, attr = _FEATURES[name]
        reason = None
        try:
            with self._imports:
                getattr(importlib.import_module(module), attr)
                if name == "replay":      # the registry must load too (it imports every policy module)
                    from engine.simulation.policy import policy_names
                    policy_names()
        except Exception as exc:  # ImportError, AttributeError, or a half-written module
            log.info("engine part %s unavailable: %s", name, exc)
            reason = f"{FEATURE_HELP.get(name, module)} is not available yet ({type(exc).__name__}: {exc})."
        self._checked[name] = reason
        return reason

    def checked_missing(self, names) -> list[str]:
        """Which of `names` were found missing the last time they were checked (never imports: parts not
        checked yet in this process are not listed; the warm-up checks them soon after the first page)."""
        return [n for n in names if self._checked.get(n)]

    def warm_up(self, names=("replay", "sls", "service"), delay_s: float = WARM_UP_DELAY_S) -> None:
        """Import the engine parts in a background thread, once per process, `delay_s` after the first page:
        that page is drawn from kept results without them, and the pages that replay find them loaded. The
        delay leaves the machine to the browser while it draws the page's figures: importing the engine
        takes a core for seconds, and on two cores drawing the first figure took twice as long beside it."""
        with self._lock:
            if self._warm is not None:
                return
            self._warm = threading.Timer(delay_s, self._warm_up, args=(tuple(names),))
            self._warm.daemon = True
            self._warm.name = "sls-dashboard-warm-up"
        self._warm.start()

    def _warm_up(self, names) -> None:
        for name in names:
            self.feature(name)
        self.policy_kinds()

    def require(self, name: str) -> None:
        reason = self.feature(name)
        if reason:
            raise Unavailable(reason)

    def registered_policies(self) -> dict[str, tuple[str, str]]:
        """name -> (kind, description) of every registered policy; {} when the registry does not import."""
        try:
            with self._imports:
                from engine.simulation.policy import POLICIES, policy_names
                policy_names()    # loads the built-in policies
        except Exception as exc:
            log.info("policy registry unavailable: %s", exc)
            return {}
        return {n: (i.kind, i.description) for n, i in POLICIES.items() if n != "single"}

    def policy_kinds(self) -> dict[str, str]:
        """name -> kind of every registered policy. The registry is code: it is kept on disk under the code's
        version, so a restarted server labels the baselines without importing the engine."""
        key = store.entry_key("policy-kinds")
        kept = self.disk.get_json(key)
        if isinstance(kept, dict) and kept:
            return kept
        kinds = {n: k for n, (k, _) in self.registered_policies().items()}
        if kinds:
            self.disk.put_json(key, kinds)
        return kinds

    def policy_missing(self, name: str) -> str | None:
        if self.feature("replay"):
            return self.feature("replay")
        if name.startswith("single:") or name in self.registered_policies():
            return None
        return f"The policy '{name}' is not available yet in this installation."

    # -- traces ------------------------------------------------------------------------------------------
    def load_trace(self, path: str | Path):
        """The trace at `path` (cached until one of its files changes); raises TraceError / Unavailable."""
        self.require("traces")
        from engine.traces import load_trace
        key = trace_signature(path)
        with self._lock:
            trace = self._traces.get(key)
            if trace is not None:
                self._traces.move_to_end(key)
                return trace
        trace = load_trace(path)
        with self._lock:
            self._traces[key] = trace
            while len(self._traces) > self._max_traces:
                self._traces.popitem(last=False)
        return trace

    def trace_for_run(self, trace_key: str, catalog_json: str | None = None):
        """The trace a replay runs on: as recorded, or — with an edited catalog — re-priced: every outcome of a
        model whose prices were edited is charged at the new prices (its recorded tokens × the edited price;
        where tokens are unknown, the recorded cost scaled by the change of the model's blended price). So
        charged costs, the baselines and the best-single comparison all follow a price edit."""
        trace = self.load_trace(trace_key.rsplit("|", 1)[0])
        if not catalog_json:
            return trace
        key = (trace_key, catalog_json)
        with self._lock:
            hit = self._repriced.get(key)
        if hit is not None:
            return hit
        out = repriced(trace, self.catalog(trace, catalog_json))
        with self._lock:
            self._repriced[key] = out
            while len(self._repriced) > 4:
                self._repriced.pop(next(iter(self._repriced)))
        return out

    def describe(self, trace) -> dict:
        try:
            from engine.traces.summary import describe
            return describe(trace)
        except ImportError:
            return {"name": trace.name, "path": trace.path, "n_queries": trace.n_queries,
                    "n_models": len(trace.models), "models": trace.model_names}

    def catalog(self, trace, catalog_json: str | None = None):
        """The trace's catalog, or the edited one (`catalog_json` from the Data & models page)."""
        self.require("catalog")
        from engine.catalog import Catalog
        if catalog_json:
            return Catalog.from_json(catalog_json, source="edited catalog")
        return Catalog.from_trace_models(trace.models)

    # -- replays -----------------------------------------------------------------------------------------
    def options(self, trace, params: dict):
        from engine.simulation.policy import ReplayOptions
        return ReplayOptions(budget_usd=params.get("budget_usd"), seed=int(params.get("seed", 0)),
                             feedback=params.get("feedback", "reference"), workspace=None,
                             exhausted=params.get("exhausted", "cheapest"),
                             policy_params=dict(params.get("policy_params") or {}))

    def run(self, trace, policy: str, params: dict, catalog_json: str | None = None, progress=None, *,
            background: bool = False) -> RunBundle:
        """Replay `policy` over `trace` in this process (stepping a `ReplaySession`, so `progress(done, total)`
        can report) and shape the result. Not cached: see `run_cached`.

        A background replay pauses between chunks while any foreground replay (one a page waits for) runs,
        so on a two-core machine the page in front of the user is never slowed down by work queued behind."""
        t0 = time.perf_counter()
        if not background:
            with self._lock:
                self._foreground += 1
        try:
            session = self.session(trace, policy, params, catalog_json)
            while not session.done:
                if background:
                    with self._idle:
                        self._idle.wait_for(lambda: self._foreground == 0)
                session.step(REPLAY_CHUNK)
                if progress is not None:
                    progress(len(session.records), session.total)
            return RunBundle.from_result(session.result(), time.perf_counter() - t0)
        finally:
            if not background:
                with self._idle:
                    self._foreground -= 1
                    self._idle.notify_all()

    @staticmethod
    def result_key(trace_key: str, policy: str, params: dict, catalog_json: str | None) -> str:
        return json.dumps([trace_key, policy, params, catalog_json], sort_keys=True, default=str)

    def cached_result(self, key: str) -> RunBundle | None:
        """The result in memory, else on disk (then kept in memory too), else None."""
        with self._lock:
            bundle = self._results.get(key)
            if bundle is not None:
                self._results.move_to_end(key)
                return bundle
        bundle = RunBundle.load(self.disk, store.entry_key(key))
        if bundle is not None:
            self._remember(key, bundle)
        return bundle

    def cached_metrics(self, key: str) -> dict | None:
        """The metrics of a remembered result (memory, else the entry's meta on disk), without loading frames."""
        with self._lock:
            bundle = self._results.get(key)
        if bundle is not None:
            return bundle.metrics
        meta = self.disk.get_meta(store.entry_key(key))
        return dict(meta["metrics"]) if meta and isinstance(meta.get("metrics"), dict) else None

    def _remember(self, key: str, bundle: RunBundle) -> None:
        with self._lock:
            self._results[key] = bundle
            self._results.move_to_end(key)
            while len(self._results) > self.max_results:
                self._results.popitem(last=False)

    def run_cached(self, trace_key: str, policy: str, params: dict, catalog_json: str | None = None,
                   progress=None, *, background: bool = False) -> RunBundle:
        """`run`, remembered per (trace files, policy, parameters, catalog) for every session of the server.

        A result held in memory is returned at once; two sessions asking for the same run wait for one
        replay instead of doing it twice. The store keeps the `max_results` most recently used runs."""
        key = self.result_key(trace_key, policy, params, catalog_json)
        hit = self.cached_result(key)
        if hit is not None:
            return hit
        with self._lock:
            lock = self._result_locks.setdefault(key, threading.Lock())
        with lock:
            hit = self.cached_result(key)
            if hit is not None:
                return hit
            bundle = self.run(self.trace_for_run(trace_key, catalog_json), policy, params, catalog_json, progress,
                              background=background)
            bundle.save(self.disk, store.entry_key(key))
            self._remember(key, bundle)
            with self._lock:
                self._result_locks.pop(key, None)
            return bundle

    # -- background work ---------------------------------------------------------------------------------
    def submit(self, trace_key: str, policy: str, params: dict, catalog_json: str | None = None, *,
               urgent: bool = False) -> str:
        """Queue a replay and return its status: "done", "running", "queued" or "failed: <why>".

        Ordinary work goes to the background worker (one at a time, yielding to the foreground); `urgent`
        work (what the user just asked for) runs on its own worker as foreground work, so it overtakes the
        queue and the background pauses for it. A queued ordinary replay asked for urgently is moved over."""
        key = self.result_key(trace_key, policy, params, catalog_json)
        with self._lock:
            state = self._status_locked(key)
            if state == "queued" and urgent and self._pending[key].cancel():
                self._pending.pop(key, None)
                state = "absent"
            if state != "absent":
                return state
            from concurrent.futures import ThreadPoolExecutor
            if urgent:
                if self._urgent is None:
                    self._urgent = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sls-dashboard-fg")
                pool = self._urgent
            else:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sls-dashboard-bg")
                pool = self._executor
            self._pending[key] = pool.submit(self._background_run, key, trace_key, policy, params, catalog_json,
                                             not urgent)
            return self._status_locked(key)

    def _background_run(self, key, trace_key, policy, params, catalog_json, background: bool = True) -> None:
        try:
            self.run_cached(trace_key, policy, params, catalog_json, background=background)
        except Exception as exc:   # remembered and shown by the page; never raised into a thread's void
            log.warning("background replay %s failed: %s", policy, exc)
            with self._lock:
                self._failed[key] = " ".join(str(exc).split())[:300] or type(exc).__name__
        finally:
            with self._lock:
                self._pending.pop(key, None)

    def kept_baselines(self, trace_key: str, params_json: str, catalog_json: str | None = None) -> list[dict] | None:
        """The baselines' metrics kept on disk by an earlier run (this code, trace and catalog), or None; reads
        one small file and imports nothing of the engine."""
        kept = self.disk.get_json(store.entry_key("baselines", trace_key, params_json, catalog_json))
        return kept if isinstance(kept, list) and kept else None

    def baselines(self, trace_key: str, params_json: str, catalog_json: str | None = None) -> list[dict]:
        """Metrics of every quick baseline on the trace: kept on disk, else replayed (and kept)."""
        kept = self.kept_baselines(trace_key, params_json, catalog_json)
        if kept is not None:
            return kept
        trace = self.trace_for_run(trace_key, catalog_json)
        params = json.loads(params_json)
        metrics = [self.run(trace, name, params, catalog_json).metrics for name in self.baseline_policies(trace)]
        self.disk.put_json(store.entry_key("baselines", trace_key, params_json, catalog_json), metrics)
        return metrics

    # -- what pages draw from a result, computed once (and ahead) ------------------------------------------
    def derived(self, key: str, name: str, build):
        """`build()` — something drawn from the result `key` (a frame, a figure) — computed once and remembered
        with the result's key: the same result gives the same value, so reruns and the prefetch share it."""
        with self._lock:
            if (key, name) in self._derived:
                self._derived.move_to_end((key, name))
                return self._derived[(key, name)]
        value = build()
        with self._lock:
            self._derived[(key, name)] = value
            while len(self._derived) > 4 * self.max_results:
                self._derived.popitem(last=False)
        return value

    def prefetch(self, trace_key: str, policy: str, params: dict, catalog_json: str | None, derive: dict) -> None:
        """Queue, behind the replays already queued (so after this one's own replay, when it was submitted):
        load the result into memory and compute `derive` ({name: build(bundle)}) from it with `derived`, so a
        page asking for it next finds it ready. Failures are left to the page, which computes it itself."""
        key = self.result_key(trace_key, policy, params, catalog_json)
        with self._lock:
            if key in self._prefetching or all((key, name) in self._derived for name in derive):
                return
            self._prefetching.add(key)
            from concurrent.futures import ThreadPoolExecutor
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sls-dashboard-bg")
            self._executor.submit(self._prefetch, key, trace_key, policy, params, catalog_json, derive)

    def wait_queued(self, timeout: float | None = None) -> None:
        """Wait until the background worker has done what was queued so far."""
        with self._lock:
            pool = self._executor
        if pool is not None:
            pool.submit(lambda: None).result(timeout)

    def _prefetch(self, key, trace_key, policy, params, catalog_json, derive) -> None:
        try:
            with self._idle:          # like a background replay: not while a page waits for one
                self._idle.wait_for(lambda: self._foreground == 0)
            bundle = self.run_cached(trace_key, policy, params, catalog_json, background=True)
            for name, build in derive.items():
                self.derived(key, name, lambda build=build: build(bundle))
        except Exception as exc:
            log.info("prefetch of %s failed: %s", policy, exc)
        finally:
            with self._lock:
                self._prefetching.discard(key)

    def status(self, trace_key: str, policy: str, params: dict, catalog_json: str | None = None) -> str:
        """Status of a replay without queueing it: "done", "running", "queued", "failed: …" or "absent"."""
        key = self.result_key(trace_key, policy, params, catalog_json)
        with self._lock:
            return self._status_locked(key)

    def _status_locked(self, key) -> str:
        """"done", "failed: …", "running", "queued" or "absent" (call with the lock held)."""
        if key in self._results:
            return "done"
        if key not in self._pending and key not in self._failed and self.disk.has(store.entry_key(key)):
            return "done"        # kept on disk by an earlier server (read when asked for)
        if key in self._failed:
            return f"failed: {self._failed[key]}"
        future = self._pending.get(key)
        if future is None:
            return "absent"
        return "running" if future.running() else ("done" if future.done() else "queued")

    def session(self, trace, policy: str, params: dict, catalog_json: str | None = None):
        """A new `ReplaySession` for the Live run page (stepped in chunks by the page's fragment)."""
        missing = self.policy_missing(policy)
        if missing:
            raise Unavailable(missing)
        from engine.simulation.replay import ReplaySession
        return ReplaySession(trace, policy, self.options(trace, params), catalog=self.catalog(trace, catalog_json))

    def baseline_policies(self, trace) -> list[str]:
        """The quick baselines: every single model, random, cheapest, best-single, oracle (well under a
        second each). The published ones (`slow_baselines`) replay the scheduler's machinery and can take
        minutes on traces with code to run, so pages queue them in the background."""
        self.require("replay")
        from engine.simulation.replay import baseline_names
        return list(baseline_names(trace))

    def slow_baselines(self) -> list[str]:
        registered = self.registered_policies()
        return [p for p in PUBLISHED if p in registered]

    # -- uploads -----------------------------------------------------------------------------------------
    def save_upload(self, files: list[tuple[str, bytes]]) -> Path:
        """Write uploaded trace files into `<workspace>/uploads/<digest>/` and return that folder.

        Only the three trace file names (optionally .gz) are accepted; anything else is a clear error. When a
        name comes twice (a file added again), the later one is used. A name's folder part is ignored (only
        the file name counts), and nothing is written through a symbolic link: each file is written to a
        fresh temporary file in the folder, then renamed over the final name."""
        if not files:
            raise ValueError("No files uploaded yet: add models.csv, queries.csv and outcomes.csv.")
        names = {}
        for name, payload in files:
            base = Path(name).name.lower() if isinstance(name, str) else ""
            if not re.fullmatch(r"(models|queries|outcomes)\.csv(\.gz)?", base):
                raise ValueError(f"{_show_name(name)} is not a trace file: expected models.csv, queries.csv or "
                                 "outcomes.csv (each may be .csv.gz).")
            stem = base.split(".")[0]     # the uploader keeps earlier files: the latest one of a name wins
            if not isinstance(payload, bytes | bytearray | memoryview):
                raise ValueError(f"{_show_name(name)}: expected the file's bytes, got {type(payload).__name__}.")
            if len(payload) > MAX_UPLOAD_BYTES:
                raise ValueError(f"{_show_name(name)} is larger than {MAX_UPLOAD_BYTES // 2**20} MB.")
            names[stem] = (base, bytes(payload))
        missing = [n for n in ("models", "queries", "outcomes") if n not in names]
        if missing:
            raise ValueError("A trace needs three files; missing: " + ", ".join(f"{m}.csv" for m in missing) + ".")
        digest = hashlib.blake2b(digest_size=8)
        for stem in sorted(names):
            digest.update(names[stem][0].encode())
            digest.update(names[stem][1])
        workspace = workspace_dir()
        root = workspace / "uploads"
        folder = root / digest.hexdigest()
        if root.is_symlink() or folder.is_symlink() or not folder.resolve().is_relative_to(workspace):
            raise ValueError("upload folder escapes the workspace (a symbolic link in its path)")
        folder.mkdir(parents=True, exist_ok=True)
        for base, payload in names.values():
            fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=folder)  # O_EXCL: a new file
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(payload)
                os.replace(tmp, folder / base)    # replaces a link at that name, never writes through it
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return folder

    # -- the live engine (Playground) --------------------------------------------------------------------
    def engine(self, backend: str, settings: dict) -> PlaygroundEngine:
        """The Playground's engine (`engine.service.build_engine`), one per workspace and client backend.

        `backend`: "plan" (predictions only, never calls a model), "live" (Anthropic; needs a key) or "fake"
        (deterministic fake models, no network; its own workspace folder so demo answers never teach the
        real engine). "plan" and "live" share the real engine, so feedback on live answers teaches it."""
        if backend not in PLAYGROUND_BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(PLAYGROUND_BACKENDS)}")
        self.require("service")
        workspace = workspace_dir() / "playground-fake" if backend == "fake" else workspace_dir()
        group = "fake" if backend == "fake" else "real"
        key = json.dumps([str(workspace), group])     # one engine per workspace: settings are applied to it
        wanted = {k: settings.get(k) for k in ENGINE_SETTING_KEYS if settings.get(k) is not None}
        with self._lock:
            eng = self._engines.get(key)
            if eng is None:
                eng = self._engines[key] = PlaygroundEngine(self._build_engine(workspace, group, settings))
                eng.settings = dict(wanted)
            eng.apply(wanted)
        return eng

    def _build_engine(self, workspace: Path, group: str, settings: dict):
        from engine.clients.settings import ClientSettings
        from engine.service import build_engine
        from engine.settings import load_settings
        overrides = {k: settings.get(k) for k in ENGINE_SETTING_KEYS if settings.get(k) is not None}
        overrides.pop("budget_usd", None)
        return build_engine(load_settings(workspace=workspace, **overrides),
                            client_settings=ClientSettings(backend="fake" if group == "fake" else "live"))


def repriced_models(trace, catalog) -> list[str]:
    """Models whose input or output price in `catalog` differs from the trace's models.csv."""
    out = []
    for row in trace.models:
        try:
            spec = catalog.get(row.model)
        except Exception:      # a model the edited catalog dropped keeps its recorded costs
            continue
        if (spec.input_usd_per_mtok, spec.output_usd_per_mtok) != (row.input_usd_per_mtok, row.output_usd_per_mtok):
            out.append(row.model)
    return out


def repriced(trace, catalog):
    """A copy of `trace` whose costs follow `catalog`'s prices for the models whose prices changed."""
    import copy

    import numpy as np
    changed = repriced_models(trace, catalog)
    if not changed:
        return trace
    costs = np.array(trace.costs, dtype=float, copy=True)
    for name in changed:
        j = trace.model_index(name)
        spec = catalog.get(name)
        if not spec.has_prices:
            continue
        tin, tout = trace.input_tokens[:, j], trace.output_tokens[:, j]
        known = ~(np.isnan(tin) | np.isnan(tout))
        costs[known, j] = (tin[known] * spec.input_usd_per_mtok + tout[known] * spec.output_usd_per_mtok) / 1e6
        row = trace.models[j]
        if (~known).any() and row.input_usd_per_mtok and row.output_usd_per_mtok:
            old = 0.75 * row.input_usd_per_mtok + 0.25 * row.output_usd_per_mtok
            new = 0.75 * spec.input_usd_per_mtok + 0.25 * spec.output_usd_per_mtok
            costs[~known, j] = costs[~known, j] * (new / old if old else 1.0)
    out = copy.copy(trace)
    out.costs = costs
    return out


ENGINE_SETTING_KEYS = ("cost_weight", "latency_weight", "max_attempts", "feedback")
PLAYGROUND_BACKENDS = {
    "plan": "Predict only (no model is called)",
    "live": "Live models (needs ANTHROPIC_API_KEY)",
    "fake": "Fake models (demo answers, no network)",
}


def _show_name(name: object, limit: int = 80) -> str:
    """An uploaded file's name for a message: quoted, control characters escaped, shortened."""
    text = repr(name)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def live_key_configured() -> bool:
    """Whether an Anthropic key is configured (the key itself is never read here)."""
    return bool(os.environ.get("ANTHROPIC_API_KEY", "").strip())


class PlaygroundEngine:
    """The three calls the Playground makes on an `engine.service.Engine`, with uniform results."""

    def __init__(self, engine):
        self._engine = engine
        self.settings: dict = {}

    def apply(self, settings: dict) -> None:
        """Apply changed engine settings (weights, attempts, feedback mode) to this engine in place: the
        workspace keeps one engine, so nothing it learned is lost and no second engine opens the workspace.
        Uses the engine's own `apply_settings` when it has one."""
        changed = {k: v for k, v in settings.items() if self.settings.get(k) != v}
        if not changed:
            return
        eng = self._engine
        if hasattr(eng, "apply_settings"):
            eng.apply_settings(**changed)
        else:
            lock = getattr(eng, "_lock", None) or contextlib.nullcontext()
            with lock:
                if hasattr(eng, "settings") and hasattr(eng.settings, "model_copy"):
                    eng.settings = eng.settings.model_copy(update=changed)
                sched = getattr(eng, "scheduler", None)
                config = getattr(sched, "config", None)
                if config is not None and dataclasses.is_dataclass(config):
                    fields_ = {k: v for k, v in changed.items() if k in {f.name for f in dataclasses.fields(config)}}
                    sched.config = dataclasses.replace(config, **fields_)
                updates = getattr(sched, "updates", None)
                if "feedback" in changed and updates is not None and hasattr(updates, "mode"):
                    updates.mode = changed["feedback"]
        self.settings.update(changed)

    @property
    def models(self) -> list[str]:
        return list(self._engine.catalog.names)

    def plan(self, text: str, task: str, labels=(), budget=None, model=None) -> dict:
        """Cache lookup, predictions and choice for a job, without calling any model."""
        from engine.scheduling.budget import BudgetLedger
        from engine.service import check_budget
        job = self._engine.make_job(text, task, labels)
        planned = self._engine.plan(job, [model] if model else None, BudgetLedger(check_budget(budget)))
        hit = planned.get("cache_hit")
        decision = planned.get("decision") or {}
        return {"job_id": None, "answer": hit["answer"] if hit else None, "cached": hit is not None,
                "cache_hit": hit, "model": hit["model"] if hit else decision.get("chosen"), "cost_usd": None,
                "latency_s": None, "verdict": None, "decision": None if hit else decision, "planned": True}

    def ask(self, text: str, task: str, labels=(), budget=None, model=None) -> dict:
        """The whole engine: cache → predictions → call → verify → escalate; recorded for feedback."""
        result = dict(self._engine.ask(text, task, labels=tuple(labels), budget=budget, model=model))
        result["planned"] = False
        return result

    def feedback(self, job_id: str, score: float) -> dict:
        return dict(self._engine.feedback(job_id, score) or {})


@st.cache_resource(show_spinner=False)
def get_gateway() -> Gateway:
    """The process-wide gateway (one per server; shared by every session)."""
    return Gateway()


def preload() -> None:
    """Get the server ready for its first page, in the background at start: import what pages need, warm
    Plotly's figure machinery, load the default trace and read its kept first results into memory. Reads
    only: nothing is computed (what is not kept, the page computes as usual)."""
    try:
        from dashboard import charts, components, prepare  # noqa: F401  (pandas, plotly, the dashboard)
        charts.fig_empty("", "")
        ref = default_trace_ref()
        gw = get_gateway()
        if ref is None:
            return
        trace_key = trace_signature(ref.path)
        gw.load_trace(ref.path)
        settings = components.default_engine_settings()
        if kept_baselines(trace_key, params_key(components.baseline_params(settings))) is None:
            return
        for policy, params in prepare.default_jobs(gw, ref):
            gw.cached_result(gw.result_key(trace_key, policy, params, None))
    except Exception as exc:      # the page does all of it itself when needed
        log.info("dashboard preload stopped: %s", exc)


# -- cached loaders (keys are plain strings, so equal parameters hit the cache) ------------------------
def params_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _trace_for(trace_key: str):
    return get_gateway().load_trace(trace_key.rsplit("|", 1)[0])


def run_policy(trace_key: str, policy: str, params_json: str, catalog_json: str | None = None,
               progress=None) -> RunBundle:
    """One replay, remembered by the gateway per (trace files, policy, parameters, catalog)."""
    return get_gateway().run_cached(trace_key, policy, json.loads(params_json), catalog_json, progress)


def cached_run(trace_key: str, policy: str, params_json: str, catalog_json: str | None = None) -> RunBundle | None:
    """The remembered result of that replay, or None when it has not run yet (nothing is computed)."""
    gw = get_gateway()
    return gw.cached_result(gw.result_key(trace_key, policy, json.loads(params_json), catalog_json))


@st.cache_data(show_spinner=False, max_entries=32, ttl=3600)
def baseline_metrics(trace_key: str, params_json: str, catalog_json: str | None = None) -> list[dict]:
    """Metrics of every baseline on the trace (cached per trace, parameters and catalog)."""
    return get_gateway().baselines(trace_key, params_json, catalog_json)


@st.cache_data(show_spinner=False, max_entries=16, ttl=3600)
def trace_summary(trace_key: str) -> dict:
    gw = get_gateway()
    return gw.describe(_trace_for(trace_key))


def policy_kinds() -> dict[str, str]:
    return get_gateway().policy_kinds()


def kept_baselines(trace_key: str, params_json: str, catalog_json: str | None = None) -> list[dict] | None:
    """`Gateway.kept_baselines` of the process's gateway."""
    return get_gateway().kept_baselines(trace_key, params_json, catalog_json)


def trace_events(path: str | Path) -> object | None:
    """The trace's EVENTS.json (what the simulated sample planted, e.g. its drift event), or None."""
    file = Path(path) / "EVENTS.json"
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.info("EVENTS.json unreadable: %s", exc)
        return None


KNOWN_TASKS = ("log_parsing", "code_generation", "text_classification", "multiple_choice")


def task_names(trace=None) -> list[str]:
    """Tasks the engine knows (its registry when available), plus any task of the trace."""
    names: set[str] = set()
    try:
        from engine.tasks import TASKS
        names.update(TASKS)
    except Exception:   # registry not available yet
        names.update(KNOWN_TASKS)
    if trace is not None:
        names.update(str(t) for t in trace.queries["task"].unique())
    return sorted(names)
