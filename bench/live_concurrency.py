"""Does `Engine.run` keep several model calls in flight? Wall time of one live run at concurrency 1 and 8.

A local `FakeAnthropicServer` (127.0.0.1, no real API) answers every call after a fixed delay; the engine is
the real one (`engine.service.build_engine`: Chroma cache and SQLite event log in a fresh temporary
workspace per run, resilient client, ChatAnthropic over HTTP). The jobs are log lines with distinct templates,
so the cache answers none of them and every job costs one call.

    OMP_NUM_THREADS=1 .venv/bin/python bench/live_concurrency.py [--jobs 200] [--delay 0.2] [--concurrency 1 8]

Prints one JSON object: wall time per concurrency, the speedup of the highest over the lowest, and the most
requests the server saw at once. Exits 1 when a job was not answered by a model call.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import string
import sys
import tempfile
import time
from itertools import product
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.clients.settings import ClientSettings, RetryPolicy  # noqa: E402
from engine.service import build_engine  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.tasks.templates import mask_variables  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropicServer, last_user_text  # noqa: E402

KEY = "sk-bench-not-a-real-key-0000"


def respond(body: dict) -> str:
    text = last_user_text(body)
    line = text.split("Log line:\n", 1)[-1].split("\n\nReply", 1)[0]
    return mask_variables(line)


def log_lines(n: int) -> list[str]:
    """`n` lines with pairwise different templates (the service name is literal text, the rest variables)."""
    names = ("".join(p) for p in product(string.ascii_lowercase, repeat=3))
    return [f"service {next(names)} rotated key {1000 + i} after {3 * i + 7} ms" for i in range(n)]


def one_run(server: FakeAnthropicServer, lines: list[str], concurrency: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="sls-bench-") as workspace:
        client = ClientSettings(backend="live", anthropic_api_key=KEY, anthropic_base_url=server.base_url,
                                timeout_s=30.0, max_tokens=64,
                                retry=RetryPolicy(base_delay_s=0.01, max_delay_s=0.1))
        engine = build_engine(load_settings(workspace=workspace), client_settings=client)
        try:
            jobs = [engine.make_job(line, "log_parsing") for line in lines]
            engine.ask("service warmup started after 1 ms", "log_parsing")    # client built, imports done
            before = server.request_count
            started = time.perf_counter()
            results = engine.run(jobs, concurrency=concurrency)
            wall = time.perf_counter() - started
        finally:
            engine.close()
    answered = sum(1 for r in results if r.get("verdict") == "ok" and not r.get("cached") and not r.get("failures"))
    return {"wall_s": round(wall, 3), "answered_by_a_model": answered, "calls": server.request_count - before,
            "max_in_flight": server.max_in_flight}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the fake server takes per call")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

    lines = log_lines(args.jobs)
    runs = {}
    for concurrency in args.concurrency:
        with FakeAnthropicServer(responder=respond, delay_s=args.delay) as server:
            runs[concurrency] = one_run(server, lines, concurrency)
    low, high = min(runs), max(runs)
    report = {
        "jobs": args.jobs,
        "server_delay_s": args.delay,
        "ideal_serial_s": round(args.jobs * args.delay, 3),
        **{f"wall_s_concurrency_{c}": r["wall_s"] for c, r in runs.items()},
        f"speedup_{high}_vs_{low}": round(runs[low]["wall_s"] / runs[high]["wall_s"], 2),
        "runs": {str(c): r for c, r in runs.items()},
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["answered_by_a_model"] == args.jobs for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
