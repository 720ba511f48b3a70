"""Shared synthetic data for the predictor tests: small, deterministic, no network, no real traces."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from engine.catalog import ModelSpec
from engine.jobs import Job

BIG = ModelSpec("big", "acme", 10.0, 30.0, 400.0, tier="top")
TINY = ModelSpec("tiny", "acme", 0.1, 0.1, 1.0, tier="cheap")
UNPRICED = ModelSpec("unpriced", "other")
SPECS = (BIG, TINY, UNPRICED)

TEMPLATES = {
    "A": ("PacketResponder {n} for block blk_{n} terminating", "Received block blk_{n} of size {n} from /10.0.{n}.1"),
    "B": ("session opened for user u{n} by (uid={n})", "connection from 10.1.{n}.2 () at {n}:{n}:{n}"),
}


@dataclass(frozen=True)
class Outcome:
    """What one model did on one job."""

    score: float | None
    output_tokens: float | None
    input_tokens: float | None
    cost_usd: float | None
    latency_s: float | None


def make_stream(n_jobs: int = 60, seed: int = 0) -> list[tuple[Job, dict[str, Outcome]]]:
    """Jobs from two datasets and the outcome of every model in SPECS (big is better than tiny)."""
    rng = random.Random(seed)
    success = {"big": 0.85, "tiny": 0.35, "unpriced": 0.6}
    stream = []
    for i in range(n_jobs):
        dataset = "A" if i % 3 else "B"
        text = rng.choice(TEMPLATES[dataset]).format(n=rng.randint(1, 99999))
        job = Job(f"job-{i}", "log_parsing", text, dataset)
        outcomes = {}
        for spec in SPECS:
            tokens = float(rng.randint(8, 40))
            score = float(rng.random() < success[spec.name]) if i % 11 else None   # some ungraded
            cost = 2e-4 * (1 + rng.random()) if not spec.has_prices else spec.cost(100, tokens)
            outcomes[spec.name] = Outcome(score, tokens, 100.0, cost, 0.3 + 0.01 * tokens)
        stream.append((job, outcomes))
    return stream


@pytest.fixture(scope="session")
def stream() -> list[tuple[Job, dict[str, Outcome]]]:
    return make_stream()
