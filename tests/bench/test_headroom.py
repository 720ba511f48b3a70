"""bench/headroom.py: the accuracy any online scheduler can reach, on score matrices with known answers."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.headroom import agreement_frontier, cost_aware_frontier, headroom

ROOT = Path(__file__).resolve().parents[2]


def _groups(n: int) -> np.ndarray:
    return np.array(["t/d"] * n)


def test_a_model_that_is_always_right_is_found_by_every_policy():
    scores = np.zeros((400, 4))
    scores[:, 2] = 1.0
    r = headroom(scores, _groups(400), orders=5)
    assert r["best-single"]["median"] == 1.0 and r["oracle"]["median"] == 1.0
    assert r["ftl-full-info"]["median"] >= 0.99          # wrong only on the first job at most
    assert r["thompson"]["median"] > 0.9
    assert r["thompson"]["share_reaching_target"] == 1.0


def test_close_models_on_a_short_trace_defeat_the_bandits_but_not_full_information():
    rng = np.random.default_rng(1)
    rates = np.array([0.69, 0.64, 0.64, 0.6, 0.35, 0.35, 0.35, 0.35])
    scores = (rng.random((300, len(rates))) < rates).astype(float)
    r = headroom(scores, _groups(300), orders=30)
    assert r["thompson"]["median"] < r["ftl-full-info"]["median"] <= r["oracle"]["median"]
    assert r["thompson"]["share_reaching_target"] < 0.5


def test_ungraded_outcomes_are_neither_scored_nor_learned():
    scores = np.ones((50, 2))
    scores[:, 1] = np.nan
    r = headroom(scores, _groups(50), orders=3)
    for policy in ("best-single", "ftl-full-info", "thompson", "ucb1", "oracle"):
        assert r[policy]["median"] == 1.0


def test_each_task_and_dataset_has_its_own_leader():
    scores = np.zeros((200, 2))
    scores[:100, 0] = 1.0            # model 0 is right on the first dataset, model 1 on the second
    scores[100:, 1] = 1.0
    groups = np.array(["t/a"] * 100 + ["t/b"] * 100)
    assert headroom(scores, groups, orders=3)["ftl-full-info"]["median"] >= 0.98


class _Trace:
    model_names = ["a", "b", "c"]
    scores = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 1]], dtype=float)
    costs = np.array([[1, 1, 10], [1, 1, 10], [1, 1, 10]], dtype=float)
    outputs = np.array([["A", "A", "A"], ["B", "C", "B"], ["C", "C", "D"]], dtype=object)


def test_agreement_frontier_counts_the_arbiter_only_on_disagreement():
    frontier = agreement_frontier(_Trace())
    cheapest = frontier[0]
    assert cheapest["cost_usd"] == 6 + 10        # a + b on every job, c on the one disagreement
    assert [p["cost_usd"] for p in frontier] == sorted(p["cost_usd"] for p in frontier)
    assert all(x["accuracy"] < y["accuracy"] for x, y in itertools.pairwise(frontier))


def test_cli_reports_json_for_the_sample():
    out = subprocess.run([sys.executable, "bench/headroom.py", "sample_data/demo", "--orders", "2", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    report = json.loads(out)["demo"]
    assert report["jobs"] == 3000
    assert report["oracle"]["median"] >= report["best-single"]["median"] >= report["thompson"]["p10"]


def test_cost_aware_thompson_spends_less_as_lambda_grows():
    rng = np.random.default_rng(2)
    scores = (rng.random((300, 3)) < np.array([0.6, 0.7, 0.8])).astype(float)
    costs = np.tile([1.0, 3.0, 30.0], (300, 1))
    free, dear = cost_aware_frontier(scores, costs, _groups(300), lambdas=(0.0, 1.0), orders=5)
    assert dear["cost_usd"] < free["cost_usd"] / 3
    assert free["accuracy"] > dear["accuracy"]
