"""write_trace / write_trace_frames: round trips, text form of cells, validation and atomic writes."""

from __future__ import annotations

import gzip
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import MODELS, QUERIES, make_trace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import TraceError
from engine.traces import Trace, load_trace, write_trace, write_trace_frames
from engine.traces.writer import trace_frames

MATRICES = ("scores", "costs", "input_tokens", "output_tokens", "latency_s", "outputs", "raw_outputs")


def assert_same_trace(a: Trace, b: Trace) -> None:
    assert a.models == b.models
    assert [m.extra for m in a.models] == [m.extra for m in b.models]
    pd.testing.assert_frame_equal(a.queries, b.queries)
    for name in MATRICES:
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape, name
        if x.dtype == object:
            assert (x == y).all(), name
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)  # NaN equals NaN here; floats bit-exact


def frames(**changes) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The tiny trace as typed frames (floats, ints, None), with columns replaced by keyword."""
    models = pd.DataFrame({"model": ["small", "big"], "provider": ["acme", "acme"],
                           "input_usd_per_mtok": [0.1, 1.0], "output_usd_per_mtok": [0.2, 2.0],
                           "params_b": [7.0, None]})
    queries = pd.DataFrame({"query_id": ["q1", "q2"], "task": ["log_parsing"] * 2, "dataset": ["A", "A"],
                            "text": ["a 1", "b 2"], "reference": ["a <*>", None]})
    outcomes = pd.DataFrame({"query_id": ["q1", "q1", "q2", "q2"], "model": ["small", "big"] * 2,
                             "output": ["a <*>", "a <*>", "b", "b <*>"], "raw_output": ["x", "y", "z", "w"],
                             "score": [1.0, 1.0, float("nan"), 0.0], "input_tokens": [3, 3, 4, 4],
                             "output_tokens": [1.0, 2.0, float("nan"), 2.0],
                             "cost_usd": [0.1 + 0.2, 1e-7, 0.0, 2.5],
                             "latency_s": [None, 0.5, None, 1.0]})
    tables = {"models": models, "queries": queries, "outcomes": outcomes}
    for key, value in changes.items():
        kind, column = key.split("__")
        tables[kind][column] = value
    return tables["models"], tables["queries"], tables["outcomes"]


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip_of_a_loaded_trace(tmp_path: Path, tiny_trace: Path, compress: bool):
    trace = load_trace(tiny_trace)

    folder = write_trace(trace, tmp_path / "copy", compress=compress)

    suffix = ".csv.gz" if compress else ".csv"
    expected = sorted(f"{kind}{suffix}" for kind in ("models", "queries", "outcomes"))
    assert sorted(p.name for p in folder.iterdir()) == expected
    copy = load_trace(folder)
    assert copy.name == "copy"
    assert_same_trace(trace, copy)


def test_round_trip_keeps_extra_columns(tmp_path: Path):
    models = (MODELS.replace("params_b\n", "params_b,available_from\n").replace("7\n", "7,\n")
              .replace("2.0,\n", "2.0,,q2\n"))
    queries = (QUERIES.replace("reference\n", "reference,labels\n").replace("in\n", "in,\n")
               .replace("out\n", "out,\n").replace('soon",\n', 'soon",,a|b\n'))
    trace = load_trace(make_trace(tmp_path / "extra", models_csv=models, queries_csv=queries))

    copy = load_trace(write_trace(trace, tmp_path / "copy"))

    assert_same_trace(trace, copy)
    assert copy.models[1].extra == {"available_from": "q2"}
    assert copy.job(2).labels == ("a", "b")


def test_floats_keep_repr_precision_and_nan_is_an_empty_cell(tmp_path: Path):
    folder = write_trace_frames(tmp_path / "t", *frames(), compress=False)

    lines = (folder / "outcomes.csv").read_text().splitlines()
    assert lines[1] == "q1,small,a <*>,x,1.0,3,1,0.30000000000000004,"
    assert lines[3] == "q2,small,b,z,,4,,0.0,"  # NaN score and tokens, None latency: empty cells
    assert "small,acme,0.1,0.2,7.0" in (folder / "models.csv").read_text()
    trace = load_trace(folder)
    assert trace.costs[0, 0] == 0.1 + 0.2
    assert trace.costs[0, 1] == 1e-7
    assert math.isnan(trace.scores[1, 0])
    assert trace.queries["reference"].iloc[1] is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(min_size=1).filter(str.strip), min_size=4, max_size=4),
       scores=st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=4, max_size=4),
       costs=st.lists(st.floats(0, 1e6), min_size=4, max_size=4))
def test_any_text_and_numbers_round_trip(tmp_path_factory, texts, scores, costs):
    models, queries, outcomes = frames(outcomes__output=texts, outcomes__raw_output=texts[::-1],
                                       outcomes__score=scores, outcomes__cost_usd=costs,
                                       queries__text=texts[:2])
    folder = write_trace_frames(tmp_path_factory.mktemp("prop") / "t", models, queries, outcomes)

    trace = load_trace(folder)
    assert trace.outputs.ravel().tolist() == texts
    assert trace.raw_outputs.ravel().tolist() == texts[::-1]
    assert trace.queries["text"].tolist() == texts[:2]
    np.testing.assert_array_equal(trace.scores.ravel(), scores)
    np.testing.assert_array_equal(trace.costs.ravel(), costs)


def test_trace_frames_then_write_trace_frames_round_trip(tmp_path: Path, tiny_trace: Path):
    trace = load_trace(tiny_trace)
    models, queries, outcomes = trace_frames(trace)

    assert len(outcomes) == 6
    copy = load_trace(write_trace_frames(tmp_path / "c", models, queries, outcomes.iloc[::-1]))
    assert_same_trace(trace, copy)


def test_gzip_output_is_reproducible(tmp_path: Path, tiny_trace: Path):
    trace = load_trace(tiny_trace)
    a, b = write_trace(trace, tmp_path / "a"), write_trace(trace, tmp_path / "b")

    for name in ("models.csv.gz", "queries.csv.gz", "outcomes.csv.gz"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert gzip.decompress((a / "models.csv.gz").read_bytes()).decode().startswith(MODELS.splitlines()[0])


@pytest.mark.parametrize(("changes", "file", "fragment"), [
    ({"outcomes__score": [1.0, 1.0, 2.0, 0.0]}, "outcomes.csv.gz, row 3, column 'score'", "in [0, 1]"),
    ({"outcomes__cost_usd": [0.1, None, 0.0, 1.0]}, "outcomes.csv.gz, row 2, column 'cost_usd'", "required"),
    ({"outcomes__output_tokens": [1.0, 2.5, 1.0, 2.0]}, "outcomes.csv.gz, row 2, column 'output_tokens'",
     "whole"),
    ({"models__model": ["small", "small"]}, "models.csv.gz, row 2, column 'model'", "unique"),
    ({"queries__query_id": ["q1", "q3"]}, "outcomes.csv.gz, row 3, column 'query_id'",
     "unknown query_id 'q2'"),
])
def test_invalid_frames_are_refused_and_nothing_is_written(tmp_path: Path, changes, file, fragment):
    target = tmp_path / "out"

    with pytest.raises(TraceError, match=re.escape(fragment)) as caught:
        write_trace_frames(target, *frames(**changes))

    assert str(caught.value).startswith(file)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_column_is_refused(tmp_path: Path):
    models, queries, outcomes = frames()

    with pytest.raises(TraceError, match="queries.csv: missing column 'reference'"):
        write_trace_frames(tmp_path / "out", models, queries.drop(columns="reference"), outcomes,
                           compress=False)


def test_writing_into_an_existing_folder_replaces_the_trace_only(tmp_path: Path, tiny_trace: Path):
    (tiny_trace / "README.md").write_text("about this trace")
    models, queries, outcomes = frames()

    write_trace_frames(tiny_trace, models, queries, outcomes, compress=True)

    # the old .csv files are gone and no temporary file is left
    assert sorted(p.name for p in tiny_trace.iterdir()) == [
        "README.md", "models.csv.gz", "outcomes.csv.gz", "queries.csv.gz"]
    assert load_trace(tiny_trace).n_queries == 2


def test_a_failed_write_leaves_the_old_trace_and_no_temporary_files(tiny_trace: Path, monkeypatch):
    before = {p.name: p.read_bytes() for p in tiny_trace.iterdir()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("engine.traces.writer.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_trace_frames(tiny_trace, *frames(), compress=False)

    assert {p.name: p.read_bytes() for p in tiny_trace.iterdir()} == before


def test_a_failed_write_of_a_new_folder_leaves_nothing(tmp_path: Path, monkeypatch):
    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("engine.traces.writer.os.rename", crash)
    with pytest.raises(OSError, match="disk full"):
        write_trace_frames(tmp_path / "new", *frames())

    assert list(tmp_path.iterdir()) == []


def test_target_that_is_a_file_is_refused(tmp_path: Path):
    target = tmp_path / "file.txt"
    target.write_text("x")

    with pytest.raises(TraceError, match="is a file"):
        write_trace_frames(target, *frames())
