"""Fleet benchmark: N scheduler processes on this machine, with and without a shared Redis.

    python bench/fleet.py [--procs 1,2,4,8] [--jobs 60] [--seconds 3] [--out bench/results/fleet.json]

Per N: jobs/s of the whole fleet (all jobs / wall time of the slowest process, each process running its
jobs through `Engine.run` with `--concurrency 4` against deterministic fake models, no network), the p95 of
the engine's own time per job (`engine_ms`: everything but the model call) without and with
`SLS_REDIS_URL`, and reserve+settle pairs per second of N processes hammering one `RedisLedger`. Starts its
own `redis-server` on a free loopback port and stops it by pid. Figures are medians over `--repeats`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "fox", "golf", "hotel"]


def _engine_worker(k: int, n_jobs: int, redis_url: str | None, folder: str, start, out) -> None:
    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", ANONYMIZED_TELEMETRY="False")
    from engine.catalog import Catalog
    from engine.clients.fake import FakeChatModel
    from engine.clients.resilience import ResilientClient
    from engine.jobs import Job
    from engine.service import build_engine
    from engine.settings import load_settings
    from engine.tasks.templates import mask_variables

    def template_of(messages) -> str:
        text = str(messages[-1].content)
        return mask_variables(text.split("Log line:\n", 1)[-1].split("\n\nReply", 1)[0])
    catalog = Catalog.default()
    client = ResilientClient({s.name: FakeChatModel(model_name=s.name, responder=template_of, spec=s)
                              for s in catalog}, catalog)
    engine = build_engine(load_settings(workspace=Path(folder) / f"ws{k}", redis_url=redis_url), catalog=catalog,
                          client=client)
    jobs = [Job(f"p{k}-{i}", "log_parsing", f"{WORDS[i % 8]} {WORDS[(i // 8) % 8]} {WORDS[k % 8]} step{i} "
                f"took {i * 7 % 100} ms", "bench") for i in range(n_jobs)]
    start.wait()
    t0 = time.perf_counter()
    results = engine.run(jobs, budget=100.0, concurrency=4)
    wall = time.perf_counter() - t0
    out.put((wall, [r["engine_ms"] for r in results if r.get("engine_ms") is not None]))
    engine.close()


def _ledger_worker(url: str, seconds: float, start, out) -> None:
    from engine.fleet import RedisLedger
    ledger = RedisLedger(url, 1e6)
    start.wait()
    n, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        ledger.settle(ledger.reserve(1e-4), 5e-5)
        n += 1
    out.put(n)


def _fleet(n: int, n_jobs: int, redis_url: str | None) -> dict:
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(n + 1), ctx.Queue()
    with tempfile.TemporaryDirectory(prefix="sls-fleet-bench-") as folder:
        procs = [ctx.Process(target=_engine_worker, args=(k, n_jobs, redis_url, folder, start, out))
                 for k in range(n)]
        for p in procs:
            p.start()
        start.wait()
        got = [out.get(timeout=600) for _ in procs]
        for p in procs:
            p.join()
    walls = [w for w, _ in got]
    ms = sorted(x for _, xs in got for x in xs)
    return {"jobs_per_s": n * n_jobs / max(walls), "p95_engine_ms": ms[int(0.95 * (len(ms) - 1))]}


def _hook_costs(url: str, n: int = 500) -> dict:
    """Per job, the Redis work the fleet adds (one process, no other load from the engine): reserve+settle,
    publishing one feedback event, and reading/decoding one foreign event. p50/p95 in ms."""
    from engine.catalog import Catalog
    from engine.fleet import FleetState, FleetSync, RedisLedger, feedback_event
    from engine.jobs import Job, Verdict
    from engine.live_backend import LiveBackend
    from engine.updates.manager import Attempt, Feedback
    spec = Catalog.default().get("claude-haiku-4-5")
    ledger = RedisLedger(url, 1e6)
    mine, theirs = FleetSync(url, FleetState(), namespace="bench"), FleetSync(url, FleetState(), namespace="bench")
    job = Job("j", "log_parsing", "worker alpha finished task 12 in 40 ms", "bench")
    worst = LiveBackend(lambda: None, Catalog.default(), 1024).worst_case_usd(job, spec.name)   # what a call holds
    times: dict[str, list[float]] = {"reserve+settle": [], "publish": [], "poll": []}
    for i in range(n):
        t0 = time.perf_counter()
        held = ledger.reserve(worst)
        ledger.settle(held, 5e-5)
        t1 = time.perf_counter()
        fb = Feedback(i, job, "k", (Attempt(spec.name, "worker <*> finished task <*> in <*> ms", Verdict(True), 1.0,
                                            0.8, 5e-5, 0.3, 90.0, 12.0),))
        mine.publish(feedback_event(fb, mine.state.origin))
        t2 = time.perf_counter()
        for sid, event in theirs.poll():
            theirs.advance(sid, event)
        t3 = time.perf_counter()
        for key, dt in (("reserve+settle", t1 - t0), ("publish", t2 - t1), ("poll", t3 - t2)):
            times[key].append(dt * 1000)
    out = {}
    for key, xs in times.items():
        xs.sort()
        out[f"{key}_p50_ms"], out[f"{key}_p95_ms"] = xs[len(xs) // 2], xs[int(0.95 * (len(xs) - 1))]
    return out


def _reservations(n: int, url: str, seconds: float) -> float:
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(n + 1), ctx.Queue()
    procs = [ctx.Process(target=_ledger_worker, args=(url, seconds, start, out)) for _ in range(n)]
    for p in procs:
        p.start()
    start.wait()
    total = sum(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", default="1,2,4,8")
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--hooks-only", action="store_true", help="only the per-job cost of the Redis hooks")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "fleet.json"))
    args = parser.parse_args(argv)
    from tests.fakes.redis_server import RedisServer
    rows, hooks = [], {}
    server = RedisServer()
    server.start()
    try:
        for n in [] if args.hooks_only else [int(x) for x in args.procs.split(",")]:
            def med(fn, key=None):
                vals = [fn() for _ in range(args.repeats)]
                return statistics.median(v[key] if key else v for v in vals)
            local = [_fleet(n, args.jobs, None) for _ in range(args.repeats)]
            shared = [_fleet(n, args.jobs, server.url) for _ in range(args.repeats)]
            row = {"procs": n,
                   "jobs_per_s_local": statistics.median(r["jobs_per_s"] for r in local),
                   "jobs_per_s_redis": statistics.median(r["jobs_per_s"] for r in shared),
                   "p95_engine_ms_local": statistics.median(r["p95_engine_ms"] for r in local),
                   "p95_engine_ms_redis": statistics.median(r["p95_engine_ms"] for r in shared),
                   "reservations_per_s": med(lambda n=n: _reservations(n, server.url, args.seconds))}
            rows.append(row)
            print(" | ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                  flush=True)
        hooks = _hook_costs(server.url)
        print(" | ".join(f"{k} {v:.3f}" for k, v in hooks.items()), flush=True)
    finally:
        server.stop()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "hooks": hooks, "jobs_per_process": args.jobs,
                                          "cpus": os.cpu_count()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
