"""Per-job latency of the live path: sequential `build_engine().ask` against the loopback stand-in of the
Anthropic API, next to LiteLLM's `Router` (simple-shuffle) on the same stand-in in the same run.

    python bench/live_latency.py [--jobs 200] [--litellm-python /work/wt/litellm-venv/bin/python]

LiteLLM lives in its own venv (never a dependency of this project); without it only our figures are
printed. Every ask is a cache miss (each line is its own template), so each one makes a model call; the
stand-in answers at once, so the figures are the client + engine overhead per job. Prints one JSON line
per configuration: ours with the default durability (each job logged with what it taught; a snapshot of
the learned state every 100 jobs), ours with a snapshot committed with every job (`SLS_SNAPSHOT_EVERY=1`,
the old default), and LiteLLM.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LITELLM = r"""
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
from litellm import Router
base, n = sys.argv[1], int(sys.argv[2])
router = Router(model_list=[{"model_name": "claude", "litellm_params": {
    "model": "anthropic/claude-haiku-4-5", "api_base": base, "api_key": "sk-bench"}}],
    routing_strategy="simple-shuffle")
times = []
for i in range(n + 5):
    t0 = time.perf_counter()
    router.completion(model="claude", max_tokens=16,
                      messages=[{"role": "user", "content": f"service unit{i} stage {i} took {i} ms"}])
    if i >= 5:
        times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""


def quantiles(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2), "n": len(ordered)}


def ours(base_url: str, n: int, snapshot_every: int) -> dict:
    from engine.clients.settings import ClientSettings
    from engine.service import build_engine
    from engine.settings import load_settings
    os.environ["ANTHROPIC_API_KEY"] = "sk-bench"
    os.environ["ANTHROPIC_BASE_URL"] = base_url
    with tempfile.TemporaryDirectory() as ws:
        engine = build_engine(load_settings(workspace=ws, snapshot_every=snapshot_every),
                              client_settings=ClientSettings(max_tokens=16, timeout_s=10))
        times = []
        try:
            for i in range(n + 5):
                t0 = time.perf_counter()
                result = engine.ask(f"service unit{i} stage {i} took {i} ms", "log_parsing")
                if i >= 5:
                    times.append(time.perf_counter() - t0)
                assert not result["cached"], result
        finally:
            engine.close()
    return quantiles(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--litellm-python", default="/work/wt/litellm-venv/bin/python")
    args = parser.parse_args()
    from engine.tasks.templates import mask_variables
    from tests.fakes.anthropic_server import FakeAnthropicServer, last_user_text
    for name in ("ANTHROPIC_API_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    os.environ["ANONYMIZED_TELEMETRY"] = "False"

    def respond(body: dict) -> str:
        text = last_user_text(body)
        return mask_variables(text.split("Log line:\n", 1)[-1].split("\n\nReply", 1)[0])

    with FakeAnthropicServer(responder=respond) as server:
        rows = [{"router": "sls build_engine().ask (default: SLS_SNAPSHOT_EVERY=100)",
                 **ours(server.base_url, args.jobs, 100)},
                {"router": "sls build_engine().ask (SLS_SNAPSHOT_EVERY=1)", **ours(server.base_url, args.jobs, 1)}]
        if Path(args.litellm_python).exists():
            out = subprocess.run([args.litellm_python, "-c", LITELLM, server.base_url, str(args.jobs)],
                                 capture_output=True, text=True, timeout=600)
            if out.returncode == 0:
                rows.append({"router": "litellm Router simple-shuffle",
                             **quantiles(json.loads(out.stdout.strip().splitlines()[-1]))})
            else:
                print(f"litellm failed: {out.stderr[-500:]}", file=sys.stderr)
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
