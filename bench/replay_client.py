"""Replay client throughput (the live engine's `replay` backend, not the replay policy: see `python -m bench`).

    .venv/bin/python -m bench.replay_client [n_jobs]

Builds a synthetic trace of the loghub-dev size (16,000 jobs) in memory and times one thread calling
the replay model every way the engine can: the `answer` fast path, `_generate`, LangChain's `invoke`,
and `ResilientClient.call` with and without the fast path.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from langchain_core.messages import HumanMessage

from engine.clients import ReplayChatModel, ResilientClient
from engine.traces.model import ModelRow, Trace


def synthetic_trace(n: int, seed: int = 0) -> Trace:
    rng = np.random.default_rng(seed)
    ids = [f"job-{i:06d}" for i in range(n)]
    queries = pd.DataFrame({"query_id": ids, "task": "log_parsing", "dataset": "Synthetic",
                            "text": [f"line {i}" for i in range(n)], "reference": ""})
    shape = (n, 1)
    tokens_in = rng.integers(50, 150, shape).astype(float)
    tokens_out = rng.integers(5, 40, shape).astype(float)
    return Trace(name="synthetic", path="<memory>", models=[ModelRow("m", "together", 0.6, 0.6, 47.0)],
                 queries=queries, scores=rng.random(shape), costs=(tokens_in + tokens_out) * 0.6e-6,
                 input_tokens=tokens_in, output_tokens=tokens_out, latency_s=np.full(shape, np.nan),
                 outputs=np.array([[f"T{i}"] for i in range(n)], dtype=object),
                 raw_outputs=np.array([[f"raw template {i} <*>"] for i in range(n)], dtype=object))


def rate(label: str, fn, ids: list[str]) -> None:
    started = time.perf_counter()
    for job_id in ids:
        fn(job_id)
    elapsed = time.perf_counter() - started
    print(f"{label:<44} {len(ids) / elapsed:>12,.0f} calls/s  {elapsed / len(ids) * 1e6:8.1f} µs/call")


def main(n: int = 16_000) -> None:
    trace = synthetic_trace(n)
    ids = trace.queries["query_id"].tolist()
    messages = [HumanMessage("a log line")]

    started = time.perf_counter()
    model = ReplayChatModel(trace, "m")
    print(f"build ReplayChatModel over {n} jobs: {(time.perf_counter() - started) * 1e3:.1f} ms")
    rate("answer(job_id), first pass (builds)", model.answer, ids)
    rate("answer(job_id), cached", model.answer, ids)
    rate("model.table.answer(job_id), cached", model.table.answer, ids)
    rate("_generate(messages, job_id=…)", lambda j: model._generate(messages, job_id=j), ids)
    rate("invoke(messages, job_id=…)", lambda j: model.invoke(messages, job_id=j), ids)
    rate("invoke(messages, config={metadata: job_id})",
         lambda j: model.invoke(messages, config={"metadata": {"job_id": j}}), ids)
    fast = ResilientClient({"m": model})
    slow = ResilientClient({"m": model}, fast_replay=False)
    rate("ResilientClient.call (fast path)", lambda j: fast.call("m", messages, job_id=j), ids)
    rate("ResilientClient.call (via invoke)", lambda j: slow.call("m", messages, job_id=j), ids)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 16_000)
