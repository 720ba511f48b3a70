"""The real development traces, read from SLS_DATA_DIR (default: ../shared/data beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.traces import load_trace
from engine.traces.summary import describe

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("SLS_DATA_DIR", REPO.parent / "shared" / "data"))


def real_trace(name: str):
    folder = DATA_DIR / name
    if not folder.is_dir():
        pytest.skip(f"real trace {folder} not present (set SLS_DATA_DIR)")
    return load_trace(folder)


@pytest.mark.parametrize(("name", "shape"), [("loghub-dev", (16000, 8)), ("mbpp-dev", (299, 11)),
                                             ("arc-dev", (1039, 11))])
def test_real_trace_shapes(name: str, shape: tuple[int, int]):
    trace = real_trace(name)

    assert trace.name == name
    assert (trace.n_queries, len(trace.models)) == shape
    for matrix in (trace.scores, trace.costs, trace.outputs, trace.raw_outputs):
        assert matrix.shape == shape
    assert np.isfinite(trace.costs).all()
    assert describe(trace)["n_queries"] == shape[0]


def test_loghub_mixtral_matches_the_published_figures():
    trace = real_trace("loghub-dev")
    j = trace.model_index("mixtral-8x7b")

    assert trace.scores[:, j].mean() == pytest.approx(0.705, abs=0.001)
    assert trace.costs[:, j].sum() == pytest.approx(1.47, abs=0.01)


def test_arc_has_ungraded_outcomes():
    trace = real_trace("arc-dev")

    assert np.isnan(trace.scores).any()
    assert not np.isnan(trace.scores).all()
