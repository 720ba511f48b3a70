"""load_trace on valid traces: values, alignment, both file forms, missing values and extra columns."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import MODELS, OUTCOMES, QUERIES, edit, make_trace

from engine.traces import ModelRow, Trace, load_trace


def test_tiny_trace_values(tiny_trace: Path):
    trace = load_trace(tiny_trace)

    assert isinstance(trace, Trace)
    assert trace.name == "tiny"
    assert trace.path == str(tiny_trace.resolve())
    assert trace.model_names == ["small", "big"]
    assert trace.models[0] == ModelRow("small", "acme", 0.1, 0.2, 7.0)
    assert trace.models[1].params_b is None
    assert trace.queries["query_id"].tolist() == ["q1", "q2", "q3"]
    assert trace.queries["text"].iloc[2] == 'great, would buy "again" soon'
    for matrix in (trace.scores, trace.costs, trace.input_tokens, trace.output_tokens, trace.latency_s,
                   trace.outputs, trace.raw_outputs):
        assert matrix.shape == (3, 2)
    np.testing.assert_array_equal(trace.scores, [[1, 1], [0, 1], [0, 1]])
    assert trace.costs[1, 0] == 0.0000031
    assert trace.output_tokens[0, 1] == 9
    assert math.isnan(trace.latency_s[1, 0])  # empty cell = not recorded
    assert trace.raw_outputs[0, 1] == "Template:\nuser <*> logged in"  # quoted line break kept
    assert trace.outputs[2, 1] == "positive"


def test_empty_reference_becomes_none(tiny_trace: Path):
    trace = load_trace(tiny_trace)

    assert trace.queries["reference"].iloc[2] is None
    assert trace.job(2).reference is None
    assert trace.job(0).reference == "user <*> logged in"


@pytest.mark.parametrize("compressed", [(), ("models",), ("queries", "outcomes"),
                                        ("models", "queries", "outcomes")])
def test_csv_and_csv_gz_both_accepted(tmp_path: Path, tiny_trace: Path, compressed: tuple[str, ...]):
    texts = {"models": MODELS, "queries": QUERIES, "outcomes": OUTCOMES}
    overrides = {f"{kind}_csv_gz": texts[kind] for kind in compressed}
    folder = make_trace(tmp_path / "mixed", **overrides)

    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{kind}.csv.gz" if kind in compressed else f"{kind}.csv" for kind in texts)
    trace, plain = load_trace(folder), load_trace(tiny_trace)
    np.testing.assert_array_equal(trace.costs, plain.costs)
    np.testing.assert_array_equal(trace.raw_outputs, plain.raw_outputs)


def test_outcome_row_order_does_not_matter(tmp_path: Path, tiny_trace: Path):
    header, *rows = OUTCOMES.replace('"Template:\n', '"Template:\\n').splitlines()
    shuffled = [rows[i].replace("\\n", "\n") for i in (5, 2, 0, 4, 1, 3)]
    folder = make_trace(tmp_path / "shuffled", outcomes_csv="\n".join([header, *shuffled]) + "\n")

    trace, ordered = load_trace(folder), load_trace(tiny_trace)
    for name in ("scores", "costs", "input_tokens", "output_tokens", "latency_s", "outputs", "raw_outputs"):
        np.testing.assert_array_equal(getattr(trace, name), getattr(ordered, name), err_msg=name)


def test_models_keep_models_csv_order(tmp_path: Path):
    swapped = MODELS.splitlines()
    swapped[1], swapped[2] = swapped[2], swapped[1]
    trace = load_trace(make_trace(tmp_path / "swapped", models_csv="\n".join(swapped) + "\n"))

    assert trace.model_names == ["big", "small"]
    np.testing.assert_array_equal(trace.output_tokens[0], [9, 5])


def test_empty_score_is_ungraded_nan_not_zero(tmp_path: Path):
    outcomes = edit(OUTCOMES, "positive,positive,1,", "positive,positive,,")
    folder = make_trace(tmp_path / "ungraded", outcomes_csv=outcomes)
    trace = load_trace(folder)

    assert math.isnan(trace.scores[2, 1])
    assert np.isfinite(np.delete(trace.scores.ravel(), 5)).all()


def test_extra_columns_are_kept(tmp_path: Path):
    models = (MODELS.replace("params_b\n", "params_b,available_from,region\n")
              .replace("0.1,0.2,7\n", "0.1,0.2,7,,eu\n").replace("2.0,\n", "2.0,,q2,us\n"))
    queries = (QUERIES.replace("reference\n", "reference,labels,source\n")
               .replace("logged in\n", "logged in,,syslog\n").replace("logged out\n", "logged out,,syslog\n")
               .replace("soon\",\n", "soon\",,positive|negative,reviews\n"))
    outcomes = OUTCOMES.replace("latency_s\n", "latency_s,note\n").replace("\n", ",x\n").replace(
        "latency_s,note,x\n", "latency_s,note\n").replace('"Template:,x\n', '"Template:\n')
    folder = make_trace(tmp_path / "extra", models_csv=models, queries_csv=queries, outcomes_csv=outcomes)
    trace = load_trace(folder)

    assert trace.models[0].extra == {"available_from": "", "region": "eu"}
    assert trace.models[1].extra == {"available_from": "q2", "region": "us"}
    assert list(trace.queries.columns) == [
        "query_id", "task", "dataset", "text", "reference", "labels", "source"]
    assert trace.queries["source"].tolist() == ["syslog", "syslog", "reviews"]
    assert trace.job(2).labels == ("positive", "negative")
    assert trace.job(0).labels == ()


def test_header_whitespace_bom_and_blank_lines_are_tolerated(tmp_path: Path, tiny_trace: Path):
    queries = "\ufeff" + QUERIES.replace("query_id,task", "query_id , task") + "\n"
    trace = load_trace(make_trace(tmp_path / "loose", queries_csv=queries))

    assert list(trace.queries.columns[:2]) == ["query_id", "task"]
    assert trace.queries["query_id"].tolist() == load_trace(tiny_trace).queries["query_id"].tolist()


def test_cells_are_text_not_guessed_types(tmp_path: Path):
    queries = edit(QUERIES, "q2,log_parsing,Apache,user bob logged out,", "007,log_parsing,NA,null,")
    outcomes = OUTCOMES.replace("q2,", "007,")
    trace = load_trace(make_trace(tmp_path / "text", queries_csv=queries, outcomes_csv=outcomes))

    assert trace.queries["query_id"].tolist() == ["q1", "007", "q3"]
    assert trace.queries["dataset"].iloc[1] == "NA"
    assert trace.queries["text"].iloc[1] == "null"
