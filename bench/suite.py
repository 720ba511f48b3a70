"""The benchmark suite: which workloads run on which traces, how often, and the figures made from them.

Every workload runs in a fresh process (`bench.workloads`); this module only starts them, one at a time
(so they never compete for the cores), and turns their JSON into figures (`bench.report`).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import workloads
from bench.report import figure, skipped

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "demo"
REAL_TRACE = "loghub-dev"
GROUPS = ("replay", "overhead", "sweep", "whatif")
log = logging.getLogger("bench")

# The targets (full mode only).
TARGET_JOBS_S = 1000.0       # full `sls` replay of loghub-dev, jobs/s
TARGET_P95_MS = 3.0          # engine overhead per job at 50k cache entries, p95
TARGET_WHATIF_S = 1.5        # the What-if re-run on the sample trace
TARGET_PEAK_MIB = 1024.0     # peak memory


@dataclass(frozen=True)
class Plan:
    """How much to measure. `limit` cuts every trace to its first jobs (quick mode). `isolate` runs every
    workload in a fresh process; without it (quick mode, a smoke test of the suite) they share this one,
    which saves an interpreter start per workload but lets warm state carry over."""

    mode: str
    repeats: int
    limit: int | None
    sizes: tuple[int, ...]
    budgets: int = 10
    isolate: bool = True

    @property
    def full(self) -> bool:
        return self.limit is None


FULL = Plan("full", repeats=3, limit=None, sizes=(1_000, 10_000, 50_000))
QUICK = Plan("quick", repeats=1, limit=150, sizes=(1_000, 5_000), isolate=False)


class WorkloadFailed(RuntimeError):
    """A workload process exited with an error."""


def run_workload(name: str, **args) -> dict:
    """Run one workload in a fresh interpreter and return its JSON."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    proc = subprocess.run([sys.executable, "-m", "bench.workloads", name, json.dumps(args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise WorkloadFailed(f"{name} {args}: exit {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def head_of_trace(path: Path, n: int, into: Path) -> Path:
    """The first `n` jobs of the trace at `path`, written as a trace folder under `into` (a temp dir)."""
    import pandas as pd

    from engine.traces import load_trace, write_trace_frames
    from engine.traces.writer import trace_frames
    models, queries, outcomes = trace_frames(load_trace(path))
    queries = queries.iloc[:n]
    kept = set(queries["query_id"])
    outcomes = outcomes[outcomes["query_id"].isin(kept)]
    if "available_from" in models.columns:      # a newcomer that would join after the cut joins at once
        models = models.assign(available_from=[v if v in kept else "" for v in models["available_from"]])
    return write_trace_frames(into / f"{path.name}-head{n}", models, queries, pd.DataFrame(outcomes))


class Suite:
    """Runs the plan and collects figures; `progress(msg)` reports each step."""

    def __init__(self, plan: Plan, data_dir: Path, groups: tuple[str, ...] = GROUPS,
                 progress: Callable[[str], None] = lambda msg: None):
        self.plan, self.data_dir, self.groups, self.progress = plan, Path(data_dir), groups, progress
        self.figures: list[dict] = []
        self.peaks: dict[str, float] = {}           # workload label -> peak RSS MiB of its process(es)
        self.floors: list[float] = []
        self.failures: list[str] = []

    # -- plumbing ----------------------------------------------------------------------------------------
    def _run(self, label: str, name: str, **args) -> dict | None:
        started = time.perf_counter()
        self.progress(f"{label} …")
        try:
            out = run_workload(name, **args) if self.plan.isolate else workloads.run(name, args)
        except Exception as exc:   # recorded and reported (exit status 1); the other figures still run
            reason = f"{type(exc).__name__}: {exc}"
            self.failures.append(f"{label}: {reason}")
            self.progress(f"{label} FAILED: {reason}")
            return None
        self.peaks[label] = max(out.get("peak_rss_mb", 0.0), out.get("children_peak_rss_mb", 0.0))
        self.progress(f"{label} done in {time.perf_counter() - started:.1f} s")
        return out

    def _repeat(self, label: str, name: str, **args) -> list[dict] | None:
        outs = []
        for k in range(self.plan.repeats):
            out = self._run(f"{label} {k + 1}/{self.plan.repeats}", name, **args)
            if out is None:
                return None
            outs.append(out)
        return outs

    # -- the suite ---------------------------------------------------------------------------------------
    def run(self) -> list[dict]:
        traces = {REAL_TRACE: self.data_dir / REAL_TRACE, "sample": SAMPLE}
        per_trace = [g for g in self.groups if g != "whatif"]
        with tempfile.TemporaryDirectory(prefix="sls-bench-") as tmp:
            for name, path in traces.items():
                if not per_trace:
                    break
                if not path.is_dir():
                    self._skip_trace(name, f"skipped: data not found at {path}")
                    continue
                self._trace(name, str(self._cut(path, Path(tmp))))
            if "whatif" in self.groups:
                self._whatif(str(self._cut(SAMPLE, Path(tmp))))
        self._memory()
        return self.figures

    def _cut(self, path: Path, tmp: Path) -> Path:
        """The trace itself, or (quick mode) its first `limit` jobs written under `tmp` (once)."""
        if self.plan.limit is None:
            return path
        cut = tmp / f"{path.name}-head{self.plan.limit}"
        return cut if cut.is_dir() else head_of_trace(path, self.plan.limit, tmp)

    def _skip_trace(self, name: str, reason: str) -> None:
        if "replay" in self.groups:
            self.figures.append(skipped(f"replay.{name}", f"sls replay, {name}", reason, name))
        if "overhead" in self.groups:
            for n in self.plan.sizes:
                for q in ("p50", "p95", "p99"):
                    self.figures.append(skipped(f"overhead.{name}.{n}.{q}", _overhead_title(name, n, q), reason,
                                                name))
        if "sweep" in self.groups:
            self.figures.append(skipped(f"sweep.{name}", f"sls sweep, 10 budgets, {name}", reason, name))

    def _trace(self, name: str, path: str) -> None:
        if "replay" in self.groups:
            self._replay(name, path)
        if "overhead" in self.groups:
            self._overhead(name, path)
        if "sweep" in self.groups:
            self._sweep(name, path)

    def _replay(self, name: str, path: str) -> None:
        outs = self._repeat(f"replay {name}", "replay", trace=path)
        if outs is None:
            return
        self.floors.extend(o["floor_rss_mb"] for o in outs)
        sls = [o["runs"]["sls"] for o in outs]
        ref = [o["runs"]["best-single"] for o in outs]
        self.figures.append(figure(
            f"replay.{name}", f"sls replay, {name}", unit="jobs/s", better="higher",
            values=[r["jobs_per_s"] for r in sls], references=[r["jobs_per_s"] for r in ref],
            reference_what="best-single replay, same trace, same process",
            trace=name, jobs=outs[0]["jobs"],
            target=(">=", TARGET_JOBS_S) if name == REAL_TRACE else None, evaluate_target=self.plan.full,
            details={"measures": "jobs / wall time of replay(trace, policy), as `sls replay` runs it: the "
                                 "environment, every job, the metrics; imports and trace loading excluded "
                                 "(given apart)",
                     "sls_wall_s": [r["wall_s"] for r in sls], "sls_cpu_s": [r["cpu_s"] for r in sls],
                     "sls_step_jobs_per_s": [r["step_jobs_per_s"] for r in sls],
                     "best_single_wall_s": [r["wall_s"] for r in ref],
                     "import_s": [o["import_s"] for o in outs], "load_s": [o["load_s"] for o in outs],
                     "sls_accuracy": sls[0]["accuracy"], "sls_cost_usd": sls[0]["cost_usd"],
                     "sls_llm_calls": sls[0]["llm_calls"], "sls_cache_hit_rate": sls[0]["cache_hit_rate"],
                     "sls_engine_overhead_us": sls[0]["engine_overhead_us"]}))

    def _overhead(self, name: str, path: str) -> None:
        out = self._run(f"overhead {name}", "overhead", trace=path, sizes=list(self.plan.sizes),
                        repeats=self.plan.repeats)
        if out is None:
            return
        empty = out["runs"]["0"]
        for n in self.plan.sizes:
            runs = out["runs"][str(n)]
            for q in ("p50", "p95", "p99"):
                self.figures.append(figure(
                    f"overhead.{name}.{n}.{q}", _overhead_title(name, n, q), unit="ms", better="lower",
                    values=[r[q] for r in runs], references=[r[q] for r in empty],
                    reference_what="same replay, cache empty at start",
                    trace=name, jobs=out["jobs"],
                    target=("<=", TARGET_P95_MS) if (q == "p95" and n == 50_000) else None,
                    evaluate_target=self.plan.full,
                    details={"measures": "StepRecord.engine_us (wall) per job of the full sls replay, cache "
                                         f"pre-filled with {n:,} synthetic verified entries; no modelled API time",
                             "cpu_ms": [r["cpu"][q] for r in runs], "reference_cpu_ms": [r["cpu"][q] for r in empty],
                             "entries_at_start": runs[0]["entries_at_start"],
                             "entries_at_end": runs[0]["entries_at_end"],
                             "hits_p95_ms": [r["hits_p95"] for r in runs],
                             "misses_p95_ms": [r["misses_p95"] for r in runs],
                             "cache_lookup_p95_us": [r["lookup_p95_us"] for r in runs],
                             "cache_hit_rate": runs[0]["cache_hit_rate"],
                             "reference_cache_hit_rate": empty[0]["cache_hit_rate"],
                             "fill_s": out["fill_s"].get(str(n))}))

    def _sweep(self, name: str, path: str) -> None:
        outs = self._repeat(f"sweep {name}", "sweep", trace=path, n_budgets=self.plan.budgets)
        if outs is None:
            return
        self.figures.append(figure(
            f"sweep.{name}", f"sls sweep, {self.plan.budgets} budgets, {name}", unit="s", better="lower",
            values=[o["wall_s"] for o in outs], references=[o["ideal_s"] for o in outs],
            reference_what=f"one serial sls replay × {self.plan.budgets} / {outs[0]['workers']} workers",
            trace=name, jobs=outs[0]["jobs"],
            details={"measures": "wall time of sweep(trace, 'sls', budgets), as `sls sweep` runs it (fork pool, "
                                 "one process per core); trace loaded beforehand",
                     "budgets_usd": outs[0]["budgets"], "workers": outs[0]["workers"],
                     "serial_one_s": [o["serial_one_s"] for o in outs],
                     "serial_budget_usd": outs[0]["serial_budget_usd"],
                     "sum_of_replay_steps_s": [o["sum_of_replay_steps_s"] for o in outs],
                     "within_budget": all(o["within_budget"] for o in outs),
                     "accuracy_by_budget": outs[0]["accuracy"]}))

    def _whatif(self, path: str) -> None:
        outs = self._repeat("what-if sample", "whatif", trace=path)
        if outs is None:
            return
        self.figures.append(figure(
            "whatif.sample", "What-if re-run, sample", unit="s", better="lower",
            values=[o["rerun_s"] for o in outs], references=[o["reference_s"] for o in outs],
            reference_what="same page call with best-single",
            trace="sample", jobs=outs[0]["jobs"],
            target=("<=", TARGET_WHATIF_S), evaluate_target=self.plan.full,
            details={"measures": "gateway.run_policy(trace, 'sls', the What-if page's default parameters) in a "
                                 "fresh dashboard process after the baselines and the current run (as on "
                                 "opening the dashboard, then the What-if page): replay + result shaping, "
                                 "no browser drawing",
                     "budget_usd": outs[0]["budget_usd"], "rerun_cpu_s": [o["rerun_cpu_s"] for o in outs],
                     "reference_cpu_s": [o["reference_cpu_s"] for o in outs],
                     "current_run_s": [o["current_run_s"] for o in outs],
                     "baselines_s": [o["baselines_s"] for o in outs],
                     "accuracy": outs[0]["accuracy"], "cost_usd": outs[0]["cost_usd"]}))
        self.figures.append(figure(
            "whatif.page", "What-if re-run on the page, sample", unit="s", better="lower",
            values=[o["page_rerun_s"] for o in outs], references=[o["page_reference_s"] for o in outs],
            reference_what="same page call with best-single",
            trace="sample", jobs=outs[0]["jobs"],
            target=("<=", TARGET_WHATIF_S), evaluate_target=self.plan.full,
            details={"measures": "as above, then the page's sls frontier (replayed in the background when the "
                                 "page opens) and the budget slider moved one step: the re-run a user waits "
                                 "for on the page once the frontier is drawn",
                     "budget_usd": outs[0]["page_budget_usd"],
                     "rerun_cpu_s": [o["page_rerun_cpu_s"] for o in outs]}))

    def _memory(self) -> None:
        if not self.peaks:
            return
        floor = min(self.floors) if self.floors else None
        worst = max(self.peaks, key=self.peaks.get)
        if floor is None:
            self.figures.append(skipped("memory.peak", "peak memory (RSS)", "skipped: no replay ran to give the "
                                                                            "reference"))
            return
        self.figures.append(figure(
            "memory.peak", "peak memory (RSS)", unit="MiB", better="lower",
            values=[self.peaks[worst]], references=[floor],
            reference_what="engine imported + trace loaded, before any replay",
            target=("<=", TARGET_PEAK_MIB), evaluate_target=self.plan.full,
            details={"measures": "largest peak RSS (getrusage ru_maxrss) of any benchmark process, its "
                                 "children included (sweep workers, sandboxed code)",
                     "worst": worst, "per_workload_mib": self.peaks}))


def _overhead_title(name: str, n: int, q: str) -> str:
    return f"overhead {q}, {n // 1000}k entries, {name}" if n >= 1000 else f"overhead {q}, {n} entries, {name}"
