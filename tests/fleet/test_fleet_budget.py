"""One budget for a fleet: the ledger's ceiling under many threads and processes, TTL expiry of a killed
process's holds, the offline slice while Redis is down, and three real `sls run` processes sharing
`--budget 0.003` against the API stand-in."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fault_helpers import ROOT, live_env

from engine.catalog import Catalog
from engine.fleet import RedisLedger
from engine.fleet.ledger import NANO
from tests.fakes.processes import start_cli, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def hammer(ledger: RedisLedger, seed: int, calls: int, out: list) -> None:
    rng = random.Random(seed)
    for _ in range(calls):
        worst = rng.uniform(1e-5, 4e-4)
        held = ledger.reserve(worst)
        if held is None:
            continue
        if rng.random() < 0.2:
            ledger.release(held)
        else:
            out.append(ledger.settle(held, worst * rng.uniform(0.1, 1.0)))


def test_spend_never_exceeds_the_budget_under_many_threads_and_schedulers(redis_server):
    ledgers = [RedisLedger(redis_server.url, 0.003, 100) for _ in range(4)]   # four schedulers
    charged: list[float] = []
    threads = [threading.Thread(target=hammer, args=(ledgers[k % 4], k, 60, charged)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    view = ledgers[0].view()
    assert view.reserved == 0 and view.spent == sum(round(c * NANO) for c in charged)
    assert view.spent <= 3_000_000
    assert view.spent > 2_000_000        # the budget was used, not refused wholesale
    assert len(ledgers[0].per_process()) == 4 and view.expected == 400


def test_the_ceiling_holds_across_processes(redis_server, tmp_path):
    import inspect
    script = (
        "import sys, random; sys.path.insert(0, sys.argv[1])\n"
        "from engine.fleet import RedisLedger\n"
        + inspect.getsource(hammer) +
        "out = []\n"
        "hammer(RedisLedger(sys.argv[2], 0.002, 10), int(sys.argv[3]), 80, out)\n"
        "print(sum(out))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(ROOT), redis_server.url, str(k)],
                              stdout=subprocess.PIPE, text=True) for k in range(4)]
    totals = [float(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    view = RedisLedger(redis_server.url).view()
    assert view.spent <= 2_000_000 and view.reserved == 0
    assert abs(view.spent / NANO - sum(totals)) < 1e-6


def test_a_killed_process_leaves_no_reservation_after_the_ttl(redis_server):
    script = ("import sys, time; sys.path.insert(0, sys.argv[1])\n"
              "from engine.fleet import RedisLedger\n"
              "led = RedisLedger(sys.argv[2], 0.001, ttl_s=1.0)\n"
              "assert led.settle(led.reserve(0.0002), 0.0001) > 0\n"
              "assert led.reserve(0.0009) is not None\n"
              "print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(ROOT), redis_server.url], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        other = RedisLedger(redis_server.url, 0.001)
        assert other.reserve(0.0001) is None              # the killed process's hold still counts...
        assert wait_until(lambda: other.view().reserved == 0, timeout=10)   # ...until its TTL runs out
        assert other.view().spent == 100_000             # its settled spend stays counted
        assert other.reserve(0.0009) is not None
    finally:
        if proc.poll() is None:
            proc.kill()


def test_redis_down_leaves_each_process_its_share_and_resyncs(redis_server):
    a, b = RedisLedger(redis_server.url, 0.004, retry_s=0.05), RedisLedger(redis_server.url, 0.004, retry_s=0.05)
    a.settle(a.reserve(0.001), 0.001)
    b.view()
    redis_server.kill()
    # 0.003 remained between two live schedulers: each may commit at most 0.0015 while Redis is away
    assert a.reserve(0.0016) is None
    held = a.reserve(0.0010)
    assert held is not None and not a.online
    assert a.reserve(0.0006) is None
    a.settle(held, 0.0004)
    assert a.reserve(0.0011) is not None               # the slice follows the real charge
    assert b.reserve(0.0015) is not None and b.reserve(0.0001) is None
    redis_server.start()                                # same port, empty data set
    assert wait_until(lambda: a.view() is not None and a.online and b.view() is not None and b.online, 10)
    view = a.view()
    assert view.total == 4_000_000
    assert view.spent == 1_400_000                      # a's acknowledged 0.001 + buffered 0.0004; b spent 0
    assert view.reserved == 2_600_000                   # the holds still open: a's 0.0011, b's 0.0015
    assert view.spent + view.reserved <= view.total


def billed_usd(api) -> float:
    prices = {s.api_model: s for s in Catalog.default()}
    return sum(prices[b.model].cost(b.input_tokens, b.output_tokens) for b in api.billed)


LINES = ["worker {k} finished task {n} in {m} ms", "queue {k} drained {n} messages after {m} retries",
         "session {k} opened for user{n} from 10.0.{m}.7", "cache {k} evicted {n} entries after {m} ms",
         "disk {k} at {n} percent after {m} writes", "job {k} retried {n} times in {m} s"]


def job_file(path: Path, seed: int, n: int = 40) -> Path:
    rng = random.Random(seed)
    path.write_text("\n".join(rng.choice(LINES).format(k=f"w{seed}x{i}", n=rng.randint(1, 999),
                                                       m=rng.randint(1, 99)) + f" id{seed}-{i}" for i in range(n))
                    + "\n")
    return path


def test_three_schedulers_given_the_same_budget_are_billed_one_budget(api, redis_server, tmp_path):
    """The issue's figure: three `sls run --budget 0.003 --concurrency 4` were billed $0.0097 alone."""
    api.delay_s = 0.01
    children = []
    for k in range(3):
        jobs = job_file(tmp_path / f"jobs{k}.txt", k)
        env = live_env(api, tmp_path / f"ws{k}", SLS_REDIS_URL=redis_server.url)
        children.append(start_cli(["run", str(jobs), "--task", "log_parsing", "--budget", "0.003",
                                   "--concurrency", "4", "--json"], env, tmp_path / "out", name=f"sls{k}"))
    for child in children:
        assert child.wait(180) == 0, child.stderr
    billed = billed_usd(api)
    view = RedisLedger(redis_server.url).view()
    assert billed <= 0.003 + 1e-12
    assert view.spent / NANO >= billed - 1e-9            # everything billed was charged to the fleet
    # the fleet answered jobs and spent at least half the budget: a call whose worst case (1,024 output
    # tokens) does not fit holds a few times its expected bill, not everything that is left, so the
    # other calls in flight still get theirs
    assert billed >= 0.0015 and len(api.billed) >= 10
    # a call is sent with the output cap its reservation paid for (the full 1,024 tokens never fit $0.003)
    caps = {r.body["max_tokens"] for r in api.requests if isinstance(r.body, dict)}
    assert caps and max(caps) < 1024


def test_a_restarted_scheduler_carries_on_its_spend_and_re_seeds_it_when_redis_lost_its_data(redis_server):
    """A workspace is one scheduler of the fleet (a stable process id): its resumed run neither counts what it
    spent twice (Redis kept it) nor forgets it (Redis restarted empty before the scheduler came back)."""
    first = RedisLedger(redis_server.url, 0.004, process_id="ws-a")
    first.settle(first.reserve(0.001), 0.001)
    again = RedisLedger(redis_server.url, 0.004, process_id="ws-a", jobs_seen=1, spent_usd=0.001)
    assert again.view().spent == 1_000_000                       # Redis kept it: not counted twice
    redis_server.kill()
    redis_server.start()                                          # empty; the first process is gone
    resumed = RedisLedger(redis_server.url, 0.004, process_id="ws-a", jobs_seen=1, spent_usd=0.001)
    view = resumed.view()
    assert view.spent == 1_000_000 and view.jobs == 1             # re-seeded from the resumed run
    assert resumed.reserve(0.0031) is None and resumed.reserve(0.003) is not None
