"""Tiny traces written as raw CSV text, and a table of malformed traces shared by the reader and CLI tests."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MODELS = """\
model,provider,input_usd_per_mtok,output_usd_per_mtok,params_b
small,acme,0.1,0.2,7
big,acme,1.0,2.0,
"""

QUERIES = """\
query_id,task,dataset,text,reference
q1,log_parsing,Apache,user alice logged in,user <*> logged in
q2,log_parsing,Apache,user bob logged out,user <*> logged out
q3,text_classification,reviews,"great, would buy ""again"" soon",
"""

OUTCOMES = """\
query_id,model,output,raw_output,score,input_tokens,output_tokens,cost_usd,latency_s
q1,small,user <*> logged in,user {name} logged in,1.0,20,5,0.000003,0.4
q1,big,user <*> logged in,"Template:
user <*> logged in",1,20,9,0.000038,1.25
q2,small,user bob logged out,user bob logged out,0.0,21,5,0.0000031,
q2,big,user <*> logged out,user <*> logged out,1.0,21,7,0.000035,0.9
q3,small,negative,negative,0,30,1,0.0000032,0.3
q3,big,positive,positive,1,30,1,0.000032,0.8
"""

BASE = {"models.csv": MODELS, "queries.csv": QUERIES, "outcomes.csv": OUTCOMES}


def write_files(folder: Path, files: dict[str, str | bytes | None]) -> Path:
    """Write trace files into `folder` (created): text as UTF-8, bytes as given, gzip for `.gz` names.

    A None content removes the file. Returns the folder.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if content is None:
            path.unlink(missing_ok=True)
            continue
        data = content.encode("utf-8") if isinstance(content, str) else content
        if name.endswith(".gz"):
            data = gzip.compress(data)
        path.write_bytes(data)
    return folder


def make_trace(folder: Path, **overrides: str | bytes | None) -> Path:
    """The base trace in `folder`, with files replaced by keyword (`outcomes_csv=...`, `models_csv_gz=...`).

    Giving a `.gz` variant of a file replaces the plain one; None removes a file.
    """
    files: dict[str, str | bytes | None] = dict(BASE)
    for key, content in overrides.items():
        name = key.replace("_csv", ".csv").replace(".csv_gz", ".csv.gz")
        if name.endswith(".gz"):
            files.pop(name[:-3], None)
        files[name] = content
    return write_files(folder, files)


def edit(text: str, old: str, new: str) -> str:
    """`text` with the single occurrence of `old` replaced (fails loudly if the fixture changed)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


@pytest.fixture
def tiny_trace(tmp_path: Path) -> Path:
    """A valid 3-query x 2-model trace in plain CSV."""
    return make_trace(tmp_path / "tiny")


# -- malformed traces ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Malformed:
    """A broken trace and what the error must say about it.

    `build(tmp_path)` returns the path to load. `file` is the file the message must name ("{path}" for
    the path given to the loader), `row`/`column` the place (None where it does not apply) and `expect`
    fragments of the expectation that must be in the message.
    """

    id: str
    build: Callable[[Path], Path]
    file: str
    expect: tuple[str, ...]
    row: int | None = None
    column: str | None = None
    extra: dict = field(default_factory=dict)


def _trace(**overrides: str | bytes | None) -> Callable[[Path], Path]:
    return lambda tmp: make_trace(tmp / "broken", **overrides)


def _outcomes(old: str, new: str) -> Callable[[Path], Path]:
    return _trace(outcomes_csv=edit(OUTCOMES, old, new))


def _models(old: str, new: str) -> Callable[[Path], Path]:
    return _trace(models_csv=edit(MODELS, old, new))


def _queries(old: str, new: str) -> Callable[[Path], Path]:
    return _trace(queries_csv=edit(QUERIES, old, new))


def _as_file(tmp: Path) -> Path:
    return make_trace(tmp / "broken") / "outcomes.csv"


def _no_trace(tmp: Path) -> Path:
    return write_files(tmp / "broken", {"models.csv": MODELS, "notes.txt": "hello"})


def _gz_lie(tmp: Path) -> Path:
    """outcomes.csv.gz that is plain text, not gzip."""
    folder = make_trace(tmp / "broken", outcomes_csv=None)
    (folder / "outcomes.csv.gz").write_text(OUTCOMES)
    return folder


OUTCOME_Q2_BIG = "q2,big,user <*> logged out,user <*> logged out,1.0,21,7,0.000035,0.9"

HEADER_ONLY_MODELS = MODELS.splitlines()[0] + "\n"
HEADER_ONLY_QUERIES = QUERIES.splitlines()[0] + "\n"
HEADER_ONLY_OUTCOMES = OUTCOMES.splitlines()[0] + "\n"

MALFORMED = [
    # the folder
    Malformed("path-missing", lambda tmp: tmp / "nowhere", "{path}", ("does not exist",)),
    Malformed("path-is-a-file", _as_file, "{path}", ("is a file", "expected a trace folder")),
    Malformed("not-a-trace-folder", _no_trace, "{path}",
              ("missing queries.csv, outcomes.csv", "a trace folder holds models.csv")),
    Malformed("csv-and-csv-gz", _trace(queries_csv_gz=QUERIES, queries_csv=QUERIES), "{path}",
              ("queries.csv and queries.csv.gz", "ambiguous")),
    # unreadable files
    Malformed("empty-file", _trace(outcomes_csv=""), "outcomes.csv", ("empty file", "header row")),
    Malformed("empty-gzip-file", _trace(queries_csv_gz=""), "queries.csv.gz", ("empty file",)),
    Malformed("header-only-models", _trace(models_csv=HEADER_ONLY_MODELS), "models.csv", ("no models",)),
    Malformed("header-only-queries", _trace(queries_csv=HEADER_ONLY_QUERIES), "queries.csv", ("no queries",)),
    Malformed("header-only-outcomes", _trace(outcomes_csv_gz=HEADER_ONLY_OUTCOMES), "outcomes.csv.gz",
              ("no outcomes",)),
    Malformed("bad-utf8", _trace(queries_csv=QUERIES.encode().replace(b"alice", b"al\xe9ce")), "queries.csv",
              ("not valid UTF-8", "line 2")),
    Malformed("not-gzip", _gz_lie, "outcomes.csv.gz", ("cannot decompress", "gzip")),
    Malformed("unclosed-quote", _outcomes('q3,big,positive,positive', 'q3,big,"positive,positive'),
              "outcomes.csv", ("cannot parse as CSV", "unclosed quote")),
    Malformed("too-many-fields", _queries("q2,log_parsing,Apache,user bob logged out,",
                                          "q2,log_parsing,Apache,user bob, logged out,"),
              "queries.csv", ("has 6 fields, expected 5",), row=2),
    Malformed("too-few-fields", _outcomes(OUTCOME_Q2_BIG, OUTCOME_Q2_BIG.replace("out,user <*> logged ", "")),
              "outcomes.csv", ("has 8 fields, expected 9",), row=4),
    # columns
    Malformed("missing-columns", _outcomes("cost_usd,latency_s", "cost,latency"), "outcomes.csv",
              ("missing columns 'cost_usd', 'latency_s'", "expected the columns query_id, model")),
    Malformed("duplicate-column", _models("params_b\n", "params_b,provider\n"), "models.csv",
              ("appears twice",), column="provider"),
    # models.csv
    Malformed("duplicate-model", _models("big,acme", "small,acme"), "models.csv",
              ("duplicate 'small'", "first at row 1", "unique"), row=2, column="model"),
    Malformed("empty-model-name", _models("big,acme", " ,acme"), "models.csv", ("expected a model name",),
              row=2, column="model"),
    Malformed("negative-price", _models("1.0,2.0,", "1.0,-2.0,"), "models.csv",
              ("expected a number >= 0", "got '-2.0'"), row=2, column="output_usd_per_mtok"),
    Malformed("non-numeric-price", _models("0.1,0.2,7", "cheap,0.2,7"), "models.csv",
              ("expected a number >= 0", "got 'cheap'"), row=1, column="input_usd_per_mtok"),
    Malformed("negative-params", _models("0.1,0.2,7", "0.1,0.2,-7"), "models.csv",
              ("billions of parameters",), row=1, column="params_b"),
    Malformed("unknown-available-from",
              _trace(models_csv=MODELS.replace("params_b\n", "params_b,available_from\n")
                     .replace("0.1,0.2,7\n", "0.1,0.2,7,\n").replace("2.0,\n", "2.0,,q9\n")),
              "models.csv", ("'q9' is not a query_id of queries.csv",), row=2, column="available_from"),
    # queries.csv
    Malformed("duplicate-query-id", _queries("q2,log_parsing", "q1,log_parsing"), "queries.csv",
              ("duplicate 'q1'", "first at row 1", "unique"), row=2, column="query_id"),
    Malformed("empty-query-id", _queries("q3,text_classification", ",text_classification"), "queries.csv",
              ("expected a query id",), row=3, column="query_id"),
    Malformed("empty-task", _queries("q2,log_parsing", "q2,"), "queries.csv", ("expected a task name",),
              row=2, column="task"),
    Malformed("empty-text", _queries("user bob logged out,", ","), "queries.csv",
              ("expected the job's text",), row=2, column="text"),
    # outcomes.csv: references
    Malformed("unknown-query", _outcomes("q2,big", "q7,big"), "outcomes.csv",
              ("unknown query_id 'q7'", "listed in queries.csv"), row=4, column="query_id"),
    Malformed("unknown-model", _outcomes("q3,small", "q3,tiny"), "outcomes.csv",
              ("unknown model 'tiny'", "listed in models.csv"), row=5, column="model"),
    Malformed("empty-outcome-model", _outcomes("q3,small", "q3,"), "outcomes.csv", ("expected a model name",),
              row=5, column="model"),
    Malformed("duplicate-outcome", _outcomes("q2,big", "q2,small"), "outcomes.csv",
              ("second outcome for query 'q2' and model 'small'", "first is row 3"), row=4),
    Malformed("missing-outcome", _outcomes(OUTCOME_Q2_BIG + "\n", ""), "outcomes.csv",
              ("query 'q2' has no outcome for model 'big'",)),
    # outcomes.csv: numbers
    Malformed("score-not-a-number", _outcomes("positive,positive,1,", "positive,positive,yes,"),
              "outcomes.csv", ("expected a number in [0, 1]", "got 'yes'"), row=6, column="score"),
    Malformed("score-above-one", _outcomes("logged out,1.0,21", "logged out,1.5,21"), "outcomes.csv",
              ("expected a number in [0, 1]", "got '1.5'"), row=4, column="score"),
    Malformed("score-negative", _outcomes("negative,negative,0,", "negative,negative,-0.5,"), "outcomes.csv",
              ("in [0, 1]",), row=5, column="score"),
    Malformed("score-nan-text", _outcomes("negative,negative,0,", "negative,negative,nan,"), "outcomes.csv",
              ("or empty when ungraded", "got 'nan'"), row=5, column="score"),
    Malformed("cost-empty", _outcomes("0.000038,", ","), "outcomes.csv",
              ("cost_usd is required", "got an empty cell"), row=2, column="cost_usd"),
    Malformed("cost-negative", _outcomes("0.0000031,", "-0.0000031,"), "outcomes.csv",
              ("a finite number >= 0",), row=3, column="cost_usd"),
    Malformed("cost-inf", _outcomes("0.000035,", "inf,"), "outcomes.csv",
              ("a finite number >= 0", "got 'inf'"), row=4, column="cost_usd"),
    Malformed("cost-nan", _outcomes("0.000035,", "NaN,"), "outcomes.csv",
              ("a finite number >= 0", "got 'NaN'"), row=4, column="cost_usd"),
    Malformed("tokens-negative", _outcomes("1,30,1,0.000032", "1,-30,1,0.000032"), "outcomes.csv",
              ("a whole number >= 0",), row=6, column="input_tokens"),
    Malformed("tokens-fractional", _outcomes("1.0,20,5,", "1.0,20,5.5,"), "outcomes.csv",
              ("a whole number >= 0", "got '5.5'"), row=1, column="output_tokens"),
    Malformed("tokens-not-a-number", _outcomes("1.0,20,5,", "1.0,twenty,5,"), "outcomes.csv",
              ("a whole number",), row=1, column="input_tokens"),
    Malformed("latency-negative", _outcomes("0.000032,0.8", "0.000032,-0.8"), "outcomes.csv",
              ("seconds >= 0",), row=6, column="latency_s"),
]


@pytest.fixture(params=MALFORMED, ids=[case.id for case in MALFORMED])
def malformed(request, tmp_path: Path) -> tuple[Path, Malformed, str]:
    """(path to load, the case, the file name the message must contain)."""
    case: Malformed = request.param
    path = case.build(tmp_path)
    return path, case, str(path) if case.file == "{path}" else case.file
