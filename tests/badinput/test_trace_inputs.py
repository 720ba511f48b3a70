"""Bad input for the trace reader: arbitrary bytes, mutated valid files and awkward cell values.

The reader either returns a `Trace` that satisfies the format's invariants, or raises `TraceError` naming
the file (and the row and column where there is one). Never another exception type, never a NaN or
negative cost, an out-of-range score or a fractional token count in a trace it accepted.

Outcomes asserted here:

* arbitrary bytes (plain or gzip-compressed) as one of the three files → `TraceError` naming a trace file,
  or a valid trace;
* a valid file mutated (bytes inserted, deleted or replaced, lines duplicated, swapped or cut, quotes
  and separators injected) → the same;
* an awkward value in one number cell (NaN, ±inf, 1e309, -1, "1,5", "0x10", "", …) → either the value is
  allowed and read exactly as Python's `float` reads it, or `TraceError` naming exactly that file, row and
  column; a required `cost_usd` may not be empty;
* any text (control characters, NUL, quotes, line breaks, BOM, bidi controls) in a text cell survives
  the round trip unchanged, except that a required id/task/text cell that is blank is a `TraceError` at
  its row and column;
* a `.csv.gz` that expands beyond `MAX_DECOMPRESSED_BYTES` (1 GiB; a decompression bomb) → `TraceError`,
  found without decompressing the rest; a 2 MB cell (beyond the csv module's default limit) is read;
* prices are at most 1,000,000 USD per million tokens (a price near the float limit made a call's cost
  infinite);
* the optional `latency_base_s` / `latency_per_token_s` columns of models.csv are numbers >= 0 or empty
  (they were not checked, and a bad value failed later, without its place, when the catalog was built).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine.catalog import Catalog
from engine.errors import TraceError
from engine.traces import Trace, load_trace
from tests.badinput.strategies import BADINPUT, any_char, messy_text, nasty_char, number_cell

MODELS = [["model", "provider", "input_usd_per_mtok", "output_usd_per_mtok", "params_b"],
          ["small", "acme", "0.1", "0.2", "7"],
          ["big", "acme", "1.0", "2.0", ""]]
QUERIES = [["query_id", "task", "dataset", "text", "reference"],
           ["q1", "log_parsing", "Apache", "user alice logged in", "user <*> logged in"],
           ["q2", "multiple_choice", "arc", "Which? A) x B) y", "B"]]
OUTCOMES = [["query_id", "model", "output", "raw_output", "score", "input_tokens", "output_tokens", "cost_usd",
             "latency_s"],
            ["q1", "small", "user <*> logged in", "user {name} logged in", "1.0", "20", "5", "0.000003", "0.4"],
            ["q1", "big", "user <*> logged in", "Template: user <*> logged in", "1", "20", "9", "0.000038", ""],
            ["q2", "small", "A", "A", "0", "", "", "0.0000031", ""],
            ["q2", "big", "B", "The answer is B", "", "31", "4", "0.000035", "0.9"]]
TABLES = {"models": MODELS, "queries": QUERIES, "outcomes": OUTCOMES}
FILE_NAMES = {f"{kind}.csv" for kind in TABLES} | {f"{kind}.csv.gz" for kind in TABLES}

# What each number column accepts: (low, high, integer, required)
NUMBER_RULES = {
    ("models", "input_usd_per_mtok"): (0.0, 1e6, False, False),
    ("models", "output_usd_per_mtok"): (0.0, 1e6, False, False),
    ("models", "params_b"): (0.0, None, False, False),
    ("models", "latency_base_s"): (0.0, None, False, False),
    ("models", "latency_per_token_s"): (0.0, None, False, False),
    ("outcomes", "score"): (0.0, 1.0, False, False),
    ("outcomes", "input_tokens"): (0.0, None, True, False),
    ("outcomes", "output_tokens"): (0.0, None, True, False),
    ("outcomes", "cost_usd"): (0.0, None, False, True),
    ("outcomes", "latency_s"): (0.0, None, False, False),
}
TEXT_CELLS = {("models", "provider"), ("queries", "dataset"), ("queries", "text"), ("queries", "reference"),
              ("outcomes", "output"), ("outcomes", "raw_output")}
REQUIRED_TEXT = {("queries", "text")}


def to_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def with_latency_columns(models: list[list[str]]) -> list[list[str]]:
    return [models[0] + ["latency_base_s", "latency_per_token_s"]] + [row + ["0.3", "0.01"] for row in models[1:]]


def write(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def base_files(models: list[list[str]] | None = None) -> dict[str, bytes]:
    return {"models.csv": to_csv(models or MODELS), "queries.csv": to_csv(QUERIES),
            "outcomes.csv": to_csv(OUTCOMES)}


def check_trace(trace: Trace) -> None:
    """The invariants of an accepted trace: what the rest of the engine relies on."""
    shape = (trace.n_queries, len(trace.models))
    assert trace.n_queries > 0 and len(trace.models) > 0
    for name in ("scores", "costs", "input_tokens", "output_tokens", "latency_s", "outputs", "raw_outputs"):
        assert getattr(trace, name).shape == shape, name
    assert np.isfinite(trace.costs).all() and (trace.costs >= 0).all(), "a cost is NaN, infinite or negative"
    scores = trace.scores[~np.isnan(trace.scores)]
    assert ((scores >= 0) & (scores <= 1)).all()
    for name in ("input_tokens", "output_tokens", "latency_s"):
        values = getattr(trace, name)
        known = values[~np.isnan(values)]
        assert np.isfinite(known).all() and (known >= 0).all(), name
        if name != "latency_s":
            assert (known == np.floor(known)).all(), name
    for model in trace.models:
        for price in (model.input_usd_per_mtok, model.output_usd_per_mtok, model.params_b):
            assert price is None or (math.isfinite(price) and price >= 0)
    assert len(Catalog.from_trace_models(trace.models)) == len(trace.models)   # the engine can use it
    assert len({j.job_id for j in trace.jobs()}) == trace.n_queries


def load_or_trace_error(folder: Path) -> Trace | TraceError:
    """`load_trace`, with a `TraceError` returned (checked) instead of raised; anything else propagates."""
    try:
        trace = load_trace(folder)
    except TraceError as exc:
        assert exc.file is not None, f"a TraceError without a file: {exc}"
        assert Path(exc.file).name in FILE_NAMES or exc.file == str(folder), exc.file
        assert str(exc).startswith(exc.file)
        assert exc.row is None or (isinstance(exc.row, int) and exc.row >= 1)
        if exc.column is not None:
            assert f"column '{exc.column}'" in str(exc)
        return exc
    check_trace(trace)
    return trace


# -- arbitrary bytes ------------------------------------------------------------------------------------
@BADINPUT
@given(kind=st.sampled_from(sorted(TABLES)), payload=st.binary(max_size=600), compress=st.booleans())
def test_arbitrary_bytes_in_one_file(tmp_path_factory, kind, payload, compress):
    files = base_files()
    del files[f"{kind}.csv"]
    files[f"{kind}.csv.gz" if compress else f"{kind}.csv"] = gzip.compress(payload) if compress else payload
    load_or_trace_error(write(tmp_path_factory.mktemp("t"), files))


@pytest.mark.parametrize("payload", [b"", b"\x00" * 100, b"\xef\xbb\xbf", b"\xff\xfe\x00m\x00o", b"\x1f\x8b\x08",
                                     b"\n\n\n", b",,,\n,,,\n", b'"', b'"""', b"model\n\r\n\r", b"\r\r\r"])
def test_degenerate_files_are_trace_errors(tmp_path, payload):
    for kind in TABLES:
        files = base_files()
        files[f"{kind}.csv"] = payload
        assert isinstance(load_or_trace_error(write(tmp_path / kind, files)), TraceError)


def test_truncated_gzip_is_a_trace_error(tmp_path):
    files = base_files()
    packed = gzip.compress(files.pop("outcomes.csv"))
    files["outcomes.csv.gz"] = packed[: len(packed) // 2]
    error = load_or_trace_error(write(tmp_path / "t", files))
    assert isinstance(error, TraceError) and error.file == "outcomes.csv.gz"


def test_a_decompression_bomb_stops_at_the_size_limit(tmp_path, monkeypatch):
    """A few kilobytes of gzip that expand to 64 MiB; with the limit lowered to 1 MiB the reader stops early
    (the real limit is 1 GiB: a 200 MB upload of zeros expands to about 200 GB)."""
    from engine.traces import reader
    monkeypatch.setattr(reader, "MAX_DECOMPRESSED_BYTES", 1 << 20)
    files = base_files()
    files["outcomes.csv.gz"] = gzip.compress(files.pop("outcomes.csv") + b"0" * (64 << 20))
    error = load_or_trace_error(write(tmp_path / "t", files))
    assert isinstance(error, TraceError) and error.file == "outcomes.csv.gz"
    assert "expands to more than 1 MiB" in str(error)


def test_a_cell_of_two_megabytes_is_read(tmp_path):
    """Beyond the csv module's default field limit (128 KiB): a raw completion can be that long."""
    outcomes = [list(row) for row in OUTCOMES]
    outcomes[1][3] = "x" * (2 << 20)
    trace = load_or_trace_error(write(tmp_path / "t", base_files() | {"outcomes.csv": to_csv(outcomes)}))
    assert isinstance(trace, Trace) and trace.raw_outputs[0, 0] == "x" * (2 << 20)


# -- mutated valid files --------------------------------------------------------------------------------
def mutate(data: bytes, op: str, at: float, size: int, junk: bytes) -> bytes:
    lines = data.split(b"\n")
    k = min(len(data), int(at * len(data)))
    line = min(len(lines) - 1, int(at * len(lines)))
    if op == "insert":
        return data[:k] + junk + data[k:]
    if op == "delete":
        return data[:k] + data[k + size:]
    if op == "replace":
        return data[:k] + junk + data[k + len(junk):]
    if op == "duplicate line":
        return b"\n".join(lines[:line + 1] + lines[line:])
    if op == "drop line":
        return b"\n".join(lines[:line] + lines[line + 1:])
    if op == "swap lines":
        other = (line + 1) % len(lines)
        lines[line], lines[other] = lines[other], lines[line]
        return b"\n".join(lines)
    if op == "truncate":
        return data[:k]
    raise AssertionError(op)


OPS = ("insert", "delete", "replace", "duplicate line", "drop line", "swap lines", "truncate")
junk_bytes = st.one_of(st.binary(min_size=1, max_size=8),
                       st.sampled_from([b'"', b",", b"\n", b"\r", b"\r\n", b'""', b',"', b"\x00", b"\xff", b"\xc3",
                                        b"nan", b"-1", b"inf", b"1e309", b"\xef\xbb\xbf"]),
                       st.text(max_size=6).map(lambda s: s.encode("utf-8")))


@BADINPUT
@given(kind=st.sampled_from(sorted(TABLES)), mutations=st.lists(
    st.tuples(st.sampled_from(OPS), st.floats(0, 1), st.integers(1, 40), junk_bytes), min_size=1, max_size=3),
    latency_columns=st.booleans())
def test_mutated_valid_files(tmp_path_factory, kind, mutations, latency_columns):
    files = base_files(with_latency_columns(MODELS) if latency_columns else None)
    data = files[f"{kind}.csv"]
    for op, at, size, junk in mutations:
        data = mutate(data, op, at, size, junk)
    files[f"{kind}.csv"] = data
    load_or_trace_error(write(tmp_path_factory.mktemp("t"), files))


# -- awkward values in one cell -------------------------------------------------------------------------
def expected_number(cell: str, low: float, high: float | None, integer: bool, required: bool) -> float | None:
    """The value the reader must read from a number cell, NaN for an allowed empty cell, None when the
    cell is not allowed. Numbers are read the way Python's `float` reads them (so "1_000" and "١" are
    numbers, and "1,5" is not)."""
    text = cell.strip()
    if text == "":
        return None if required else math.nan
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        return None
    if integer and value != math.floor(value):
        return None
    return value


@BADINPUT
@given(place=st.sampled_from(sorted(NUMBER_RULES)), row=st.integers(1, 4), cell=number_cell)
def test_one_awkward_number(tmp_path_factory, place, row, cell):
    kind, column = place
    tables = {k: [list(r) for r in rows] for k, rows in TABLES.items()}
    tables["models"] = with_latency_columns(tables["models"])
    table = tables[kind]
    assume(row < len(table))
    index = table[0].index(column)
    table[row][index] = cell
    folder = write(tmp_path_factory.mktemp("t"), {f"{k}.csv": to_csv(v) for k, v in tables.items()})
    expected = expected_number(cell, *NUMBER_RULES[place])
    got = load_or_trace_error(folder)
    if expected is None:
        assert isinstance(got, TraceError), f"{cell!r} in {kind}.csv {column} was accepted"
        assert (got.file, got.row, got.column) == (f"{kind}.csv", row, column), str(got)
        return
    assert isinstance(got, Trace), f"{cell!r} in {kind}.csv {column} was refused: {got}"
    if kind == "models":
        model = got.models[row - 1]
        value = getattr(model, column) if hasattr(model, column) else float(model.extra[column] or "nan")
        value = math.nan if value is None else value
    else:
        matrix = {"score": got.scores, "input_tokens": got.input_tokens, "output_tokens": got.output_tokens,
                  "cost_usd": got.costs, "latency_s": got.latency_s}[column]
        qid, model = OUTCOMES[row][0], OUTCOMES[row][1]
        value = matrix[[q for q in got.queries["query_id"]].index(qid), got.model_index(model)]
    assert value == expected or (math.isnan(value) and math.isnan(expected))


@BADINPUT
@given(place=st.sampled_from(sorted(TEXT_CELLS)), row=st.integers(1, 4),
       cell=st.one_of(messy_text, st.lists(st.one_of(any_char, nasty_char), max_size=20).map("".join)))
def test_any_text_in_a_text_cell_survives(tmp_path_factory, place, row, cell):
    kind, column = place
    tables = {k: [list(r) for r in rows] for k, rows in TABLES.items()}
    table = tables[kind]
    assume(row < len(table))
    table[row][table[0].index(column)] = cell
    got = load_or_trace_error(write(tmp_path_factory.mktemp("t"), {f"{k}.csv": to_csv(v) for k, v in tables.items()}))
    if place in REQUIRED_TEXT and not cell.strip():
        assert isinstance(got, TraceError) and (got.file, got.row, got.column) == (f"{kind}.csv", row, column)
        return
    assert isinstance(got, Trace), str(got)
    if kind == "models":
        assert got.models[row - 1].provider == cell
    elif kind == "queries":
        value = got.queries[column].iloc[row - 1]
        assert value == (None if column == "reference" and cell == "" else cell)
    else:
        matrix = got.outputs if column == "output" else got.raw_outputs
        qid, model = OUTCOMES[row][0], OUTCOMES[row][1]
        assert matrix[list(got.queries["query_id"]).index(qid), got.model_index(model)] == cell


@pytest.mark.parametrize(("column", "value"), [("latency_base_s", "-1"), ("latency_base_s", "nan"),
                                               ("latency_per_token_s", "inf"), ("latency_per_token_s", "fast")])
def test_bad_optional_latency_columns_are_trace_errors(tmp_path, column, value):
    models = with_latency_columns(MODELS)
    models[2][models[0].index(column)] = value
    error = load_or_trace_error(write(tmp_path / "t", base_files(models)))
    assert isinstance(error, TraceError)
    assert (error.file, error.row, error.column) == ("models.csv", 2, column)
    assert "a number of seconds >= 0" in str(error)


def test_empty_optional_latency_columns_mean_the_default_model(tmp_path):
    models = with_latency_columns(MODELS)
    models[1][5:7] = ["", " "]
    trace = load_or_trace_error(write(tmp_path / "t", base_files(models)))
    assert isinstance(trace, Trace)
    spec = Catalog.from_trace_models(trace.models).get("small")
    assert spec.latency_base_s is None and spec.latency_per_token_s is None
