"""Helpers of the AppTest suite: where the app is, and a tiny trace written with the engine's own writer."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "dashboard" / "app.py")
TEMPLATES = ("user <*> logged in from <*>", "disk <*> is <*>% full", "connection closed by <*> after <*> ms",
             "service <*> restarted", "cache flush took <*> ms")
MODELS = (("tiny-large", 70.0, 10.0, 30.0, 0.92), ("tiny-mid", 13.0, 1.0, 2.0, 0.75),
          ("tiny-small", 3.0, 0.2, 0.4, 0.45))


def write_tiny_trace(folder: Path, n: int = 90, seed: int = 3) -> Path:
    """A small log-parsing trace: 3 models, `n` lines from 5 templates over two datasets."""
    from engine.traces import write_trace_frames
    rng = random.Random(seed)
    models = pd.DataFrame([{"model": m, "provider": "tiny", "input_usd_per_mtok": pin, "output_usd_per_mtok": pout,
                            "params_b": size} for m, size, pin, pout, _ in MODELS])
    queries, outcomes = [], []
    for i in range(n):
        template = TEMPLATES[rng.randrange(len(TEMPLATES))]
        line = template
        while "<*>" in line:
            line = line.replace("<*>", str(rng.randrange(1, 9999)), 1)
        qid = f"q{i + 1:04d}"
        queries.append({"query_id": qid, "task": "log_parsing", "dataset": f"sys-{'ab'[i % 2]}", "text": line,
                        "reference": template})
        for m, _, pin, pout, acc in MODELS:
            ok = rng.random() < acc
            output = template if ok else template.replace("<*>", "x", 1)
            outcomes.append({"query_id": qid, "model": m, "output": output, "raw_output": output,
                             "score": 1.0 if ok else 0.0, "input_tokens": 60, "output_tokens": 12,
                             "cost_usd": (60 * pin + 12 * pout) / 1e6, "latency_s": None})
    write_trace_frames(folder, models, pd.DataFrame(queries), pd.DataFrame(outcomes))
    return folder
