"""The measured workloads. Each runs in a fresh process of its own:

    python -m bench.workloads NAME '{"trace": "...", ...}'     # prints one JSON object on stdout

A fresh process per run means that one workload's warm state (imports, the memoised sandbox verdicts of
code jobs, the dashboard's result store) never flatters another's, that every run starts like the command
it stands for (`sls replay`, `sls sweep`, a dashboard server), and that each reports the peak RSS of its
own process. Within a workload the measured run and its reference run side by side, in the same process.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import random
import resource
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench.workloads")


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (Linux reports KiB) of this process, or of its waited-for children."""
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def _timed(fn: Callable[[], object]) -> tuple[object, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


def _warm_engine_imports() -> float:
    """Import what any replay imports lazily (the policy registry pulls in River), timed apart."""
    started = time.perf_counter()
    import engine.cache  # noqa: F401
    import engine.simulation.replay  # noqa: F401
    from engine.simulation.policy import policy_names
    from engine.tasks import get_task  # noqa: F401
    policy_names()
    return time.perf_counter() - started


def _percentiles_ms(values_us: list[float]) -> dict[str, float]:
    if not values_us:
        return {"p50": math.nan, "p95": math.nan, "p99": math.nan}
    ordered = sorted(values_us)

    def q(p: float) -> float:
        k = (len(ordered) - 1) * p
        lo, hi = math.floor(k), math.ceil(k)
        return (ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)) / 1000

    return {"p50": round(q(0.50), 4), "p95": round(q(0.95), 4), "p99": round(q(0.99), 4)}


# -- replay throughput ----------------------------------------------------------------------------------
def replay_pair(trace: str, policies: tuple[str, ...] = ("best-single", "sls")) -> dict:
    """`replay(trace, policy)` (what `sls replay TRACE --policy P` runs) for each policy, in this order.

    Imports and trace loading are timed apart and excluded; a run's wall time includes building the
    replay environment and the policy, every job, and the metrics."""
    import_s = _warm_engine_imports()
    from engine.simulation.replay import replay
    from engine.traces import load_trace
    loaded, load_s, _ = _timed(lambda: load_trace(trace))
    floor = peak_rss_mb()
    runs = {}
    for policy in policies:
        result, wall, cpu = _timed(lambda p=policy: replay(loaded, p))
        m = result.metrics
        runs[policy] = {"wall_s": round(wall, 4), "cpu_s": round(cpu, 4), "jobs_per_s": round(m["queries"] / wall, 1),
                        "step_jobs_per_s": m.get("throughput_jobs_s"), "accuracy": m["accuracy"],
                        "cost_usd": m["cost_usd"], "llm_calls": m["llm_calls"],
                        "cache_hit_rate": m["cache_hit_rate"], "engine_overhead_us": m.get("engine_overhead_us")}
    return {"trace": loaded.name, "jobs": loaded.n_queries, "import_s": round(import_s, 3), "load_s": round(load_s, 3),
            "floor_rss_mb": floor, "runs": runs}


# -- engine overhead per job with a pre-filled cache ----------------------------------------------------
def fill_cache(cache, trace, n: int, seed: int = 0) -> int:
    """Store `n` synthetic verified entries in `cache`, split over the trace's tasks (and, for template
    tasks, its datasets) like its jobs: log templates (`engine.cache.bench.synthetic_templates`) for
    template tasks, question-like keys for semantic ones. Returns the entries held afterwards."""
    from engine.cache.bench import instantiate, synthetic_questions, synthetic_templates
    from engine.jobs import Job
    tasks = trace.queries["task"].value_counts()
    shares = {task: int(n * count / tasks.sum()) for task, count in tasks.items()}
    shares[tasks.index[0]] += n - sum(shares.values())
    rng = random.Random(seed)
    k = 0
    for task, share in shares.items():
        if share <= 0:
            continue
        of_task = trace.queries.loc[trace.queries["task"] == task, "dataset"]
        datasets = sorted(of_task.unique())
        if task in cache.template_tasks:
            names = {f"ds{i:02d}": d for i, d in enumerate(datasets)}
            for ds, template in synthetic_templates(share, seed=seed + k, datasets=len(datasets)):
                line = instantiate(template, rng)
                cache.store(Job(f"prefill-{k}", task, line, names[ds]), line, template, "prefill", 1.0, seq=0)
                k += 1
        else:
            dataset = of_task.mode().iloc[0]
            for text in synthetic_questions(share, seed=seed + k):
                cache.store(Job(f"prefill-{k}", task, text, dataset), text, f"prefilled answer {k}", "prefill",
                            1.0, seq=0)
                k += 1
    return cache.size()


def overhead(trace: str, sizes: list[int], repeats: int = 3, seed: int = 0) -> dict:
    """Engine overhead per job of the full `sls` replay with the cache pre-filled to each size before the
    first job, against the same replay with an empty cache.

    The overhead is `StepRecord.engine_us`, the wall time of a job's scheduling work (lookup, predictions,
    decision, parse, verify, learning); the modelled API time is never slept, so it is not in it. The CPU
    time of the same work (`time.thread_time_ns` around each job) is reported beside it: a job that loses
    its core to another process for a few milliseconds shows in the wall time, not in the CPU time.

    One untimed warm-up replay first (imports, memoised sandbox verdicts of code jobs: those cost the same
    at every cache size). Sizes are interleaved within each repeat, so slow spells hit all of them; the
    cache is filled afresh (untimed) for every run, through `CacheManager.store`."""
    _warm_engine_imports()
    from engine.simulation.policy import ReplayOptions
    from engine.simulation.replay import ReplaySession, replay
    from engine.traces import load_trace
    loaded = load_trace(trace)
    _, warm_s, _ = _timed(lambda: replay(loaded, "sls"))
    runs: dict[int, list[dict]] = {n: [] for n in [0, *sizes]}
    fills: dict[int, list[float]] = {n: [] for n in sizes}
    cpu_clock = time.thread_time_ns
    for _ in range(repeats):
        for n in [0, *sizes]:
            gc.collect()     # the previous run's cache is garbage now: free it before the next fill
            session = ReplaySession(loaded, "sls", ReplayOptions())
            cache = session.runner.core.cache
            if n:
                # the per-task cap must hold the pre-fill plus what the replay learns, or eviction undoes it
                cache.max_entries_per_task = max(cache.max_entries_per_task, n + loaded.n_queries + 1)
                _, fill_s, _ = _timed(lambda c=cache, n=n: fill_cache(c, loaded, n, seed))
                fills[n].append(round(fill_s, 2))
            at_start = cache.size()
            cpu_us = []
            while not session.done:
                c0 = cpu_clock()
                session.step(1)
                cpu_us.append((cpu_clock() - c0) / 1000)
            records = session.records
            wall_us = [r.engine_us for r in records]
            stats = cache.stats()
            runs[n].append({
                **_percentiles_ms(wall_us),
                "cpu": _percentiles_ms(cpu_us),
                "hits_p95": _percentiles_ms([r.engine_us for r in records if r.source == "cache"])["p95"],
                "misses_p95": _percentiles_ms([r.engine_us for r in records if r.source != "cache"])["p95"],
                "lookup_p95_us": round(stats["timings"].get("p95_total_us", math.nan), 1),
                "entries_at_start": at_start, "entries_at_end": cache.size(),
                "cache_hit_rate": round(sum(r.source == "cache" for r in records) / len(records), 4),
                "max_ms": round(max(wall_us) / 1000, 3),
            })
            del session, cache, records
    return {"trace": loaded.name, "jobs": loaded.n_queries, "warmup_s": round(warm_s, 3), "fill_s": fills,
            "runs": {str(n): r for n, r in runs.items()}}


# -- budget sweep ---------------------------------------------------------------------------------------
def budget_grid(top: float, n: int = 10) -> list[float]:
    """`n` budgets spread geometrically from top/100 to top, 4 significant figures."""
    if top <= 0:
        return [round(0.01 * (k + 1), 4) for k in range(n)]
    lo = top / 100
    return [float(f"{lo * (top / lo) ** (k / (n - 1)):.4g}") for k in range(n)]


def sweep_pair(trace: str, n_budgets: int = 10) -> dict:
    """`sweep(trace, "sls", budgets)` (what `sls sweep` runs: a fork pool, one process per core), then one
    serial replay at the middle budget, in the same process. Budgets: `budget_grid` up to what the
    best-single model costs on the trace."""
    _warm_engine_imports()
    from engine.simulation.policy import ReplayOptions
    from engine.simulation.replay import replay
    from engine.simulation.sweep import sweep
    from engine.traces import load_trace
    loaded = load_trace(trace)
    budgets = budget_grid(replay(loaded, "best-single").metrics["cost_usd"], n_budgets)
    workers = min(len(budgets), os.cpu_count() or 1)
    results, wall, cpu = _timed(lambda: sweep(loaded, "sls", budgets))
    middle = budgets[len(budgets) // 2]
    _, serial, _ = _timed(lambda: replay(loaded, "sls", ReplayOptions(budget_usd=middle)))
    return {"trace": loaded.name, "jobs": loaded.n_queries, "budgets": budgets, "workers": workers,
            "wall_s": round(wall, 3), "parent_cpu_s": round(cpu, 3), "serial_one_s": round(serial, 3),
            "serial_budget_usd": middle,
            "ideal_s": round(serial * len(budgets) / workers, 3),
            "sum_of_replay_steps_s": round(sum(m.get("wall_time_s") or 0.0 for m in results), 3),
            "within_budget": all(m["cost_usd"] <= b + 1e-9 for m, b in zip(results, budgets, strict=True)),
            "accuracy": [m["accuracy"] for m in results],
            "children_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN)}


# -- the dashboard's What-if re-run ---------------------------------------------------------------------
def whatif_pair(trace: str) -> dict:
    """The What-if page's re-run, through the dashboard's own code path, in a fresh "server" process.

    As when a user opens the dashboard and then the What-if page: the quick baselines
    (`gateway.baseline_metrics`) and the current run (`gateway.run_policy` with the engine settings) run
    first, untimed; the budget is the page's default (`data.budget_options` of the baselines). Timed:
    `gateway.run_policy(trace key, "sls", what-if parameters)` — the call `ui.replay` makes on the page
    (replay plus result shaping, no browser drawing) — and, as the reference, the same call with the
    policy `best-single` and the same parameters."""
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    from dashboard import components as ui
    from dashboard import data, gateway
    import_s = time.perf_counter() - started
    settings = ui.default_engine_settings()
    key = gateway.trace_signature(trace)
    base = ui.baseline_params(settings)
    quick, baselines_s, _ = _timed(lambda: gateway.baseline_metrics(key, gateway.params_key(base), None))
    current = ui.run_params(settings)
    _, current_s, _ = _timed(lambda: gateway.run_policy(key, ui.current_policy(settings),
                                                       gateway.params_key(current), None))
    _, budget = data.budget_options(ui.metrics_table(quick))
    # the What-if page's parameters at its defaults (pages/what_if.py, `controls`)
    policy_params = {"cost_weight": round(float(min(1.0, settings.get("cost_weight", gateway.default_cost_weight()))), 4),
                     "latency_weight": round(float(min(1.0, settings.get("latency_weight", 0.0))), 4),
                     "cache": bool(settings.get("cache", True)), "max_attempts": int(settings.get("max_attempts", 3))}
    params = {**base, "budget_usd": round(float(budget), 6), "policy_params": policy_params}
    ref, ref_s, ref_cpu = _timed(lambda: gateway.run_policy(key, "best-single", gateway.params_key(params), None))
    bundle, wall, cpu = _timed(lambda: gateway.run_policy(key, "sls", gateway.params_key(params), None))
    # On the page: opening it replays the sls frontier in the background (pages/what_if.py, `frontier`); once
    # that has landed, the user moves the budget slider one step and the page re-runs.
    table = ui.metrics_table(quick)
    for point in data.frontier_budgets(table):
        gateway.run_policy(key, "sls", gateway.params_key({**current, "budget_usd": point}), None)
    options, _ = data.budget_options(table)
    moved = options[min(len(options) - 1, options.index(budget) + 1)] if budget in options else budget * 1.5
    params_moved = {**params, "budget_usd": round(float(moved), 6)}
    page_ref, page_ref_s, _ = _timed(lambda: gateway.run_policy(key, "best-single", gateway.params_key(params_moved),
                                                                None))
    page, page_s, page_cpu = _timed(lambda: gateway.run_policy(key, "sls", gateway.params_key(params_moved), None))
    return {"page_rerun_s": round(page_s, 4), "page_rerun_cpu_s": round(page_cpu, 4),
            "page_reference_s": round(page_ref_s, 4), "page_budget_usd": params_moved["budget_usd"],
            "trace": Path(trace).name, "jobs": int(bundle.metrics["queries"]), "import_s": round(import_s, 3),
            "baselines_s": round(baselines_s, 3), "current_run_s": round(current_s, 3), "budget_usd": params["budget_usd"],
            "rerun_s": round(wall, 4), "rerun_cpu_s": round(cpu, 4), "reference_s": round(ref_s, 4),
            "reference_cpu_s": round(ref_cpu, 4), "accuracy": bundle.metrics["accuracy"],
            "cost_usd": bundle.metrics["cost_usd"], "reference_accuracy": ref.metrics["accuracy"]}


WORKLOADS: dict[str, Callable[..., dict]] = {
    "replay": replay_pair, "overhead": overhead, "sweep": sweep_pair, "whatif": whatif_pair,
}


def run(name: str, args: dict) -> dict:
    """Run one workload in this process; its JSON plus the peak RSS of this process and its children."""
    result = WORKLOADS[name](**args)
    result["peak_rss_mb"] = peak_rss_mb()
    result["children_peak_rss_mb"] = max(result.get("children_peak_rss_mb", 0.0),
                                         peak_rss_mb(resource.RUSAGE_CHILDREN))
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in WORKLOADS:
        sys.stderr.write(f"usage: python -m bench.workloads {{{','.join(WORKLOADS)}}} ARGS_JSON\n")
        return 2
    logging.basicConfig(level=logging.WARNING)
    sys.stdout.write(json.dumps(run(argv[0], json.loads(argv[1])), default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

