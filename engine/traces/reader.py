"""Read a trace folder and validate it into a `Trace`.

A trace is a folder holding `models.csv`, `queries.csv` and `outcomes.csv`, each either plain or
gzip-compressed (`.csv.gz`). Every cell is read as text and converted here, so that every mistake can
be reported with the file, the row and the column it is in, and what was expected there.

Rows in messages are 1-based *data* rows: the header is not counted, so row 1 is the first line after
the header (blank lines are skipped and not counted; a quoted cell may span several physical lines).

Checks are vectorised over whole columns; Python loops only run once a check has failed, to find the
first offending row for the message.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import logging
import re
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from engine.catalog import MAX_PRICE_USD_PER_MTOK
from engine.errors import TraceError
from engine.traces.model import MODEL_COLUMNS, OUTCOME_COLUMNS, QUERY_COLUMNS, ModelRow, Trace

log = logging.getLogger(__name__)

#: The three files of a trace, in the order they are read, with their required columns.
TRACE_FILES: dict[str, tuple[str, ...]] = {
    "models": MODEL_COLUMNS,
    "queries": QUERY_COLUMNS,
    "outcomes": OUTCOME_COLUMNS,
}
#: What a trace folder holds, for messages.
TRACE_FOLDER_HINT = ("a trace folder holds models.csv, queries.csv and outcomes.csv "
                     "(each may be gzip-compressed as .csv.gz)")

_GZIP_MAGIC = b"\x1f\x8b"
#: The largest cell (the csv module's default is 128 KiB; a raw completion can be longer than that).
MAX_CELL_BYTES = 8 * 1024 * 1024
#: The most data rows and columns one file may hold (the largest real trace file has 220k rows).
MAX_ROWS = 1_000_000
#: The longest physical line (a row may hold a few long cells; a line break inside a quoted cell ends a line).
MAX_LINE_CHARS = 2 * MAX_CELL_BYTES
MAX_COLUMNS = 200
_UTF8_BOM = b"\xef\xbb\xbf"
#: The most text one trace file may hold, decompressed (the largest real trace file is about 25 MB): a small
#: gzip file can expand to gigabytes (a "zip bomb", e.g. an upload). Checked while streaming, before parsing.
MAX_DECOMPRESSED_BYTES = 96 * 1024 * 1024

# What each numeric column must hold, as said in messages.
_EXPECT = {
    "input_usd_per_mtok": "a number >= 0 and at most 1000000 (USD per million input tokens), or empty when unknown",
    "output_usd_per_mtok": "a number >= 0 and at most 1000000 (USD per million output tokens), or empty when unknown",
    "params_b": "a number >= 0 (billions of parameters), or empty when unknown",
    "score": "a number in [0, 1], or empty when ungraded",
    "input_tokens": "a whole number >= 0, or empty when unknown",
    "output_tokens": "a whole number >= 0, or empty when unknown",
    "cost_usd": "a finite number >= 0 (cost_usd is required)",
    "latency_s": "a number of seconds >= 0, or empty when not recorded",
    "latency_base_s": "a number of seconds >= 0, or empty for the default latency model",
    "latency_per_token_s": "a number of seconds >= 0 per output token, or empty for the default latency model",
}
#: Optional models.csv columns that must hold numbers when present (they feed the catalog's latency model).
OPTIONAL_MODEL_NUMBERS = ("latency_base_s", "latency_per_token_s")


def load_trace(path: str | Path) -> Trace:
    """Read and validate the trace folder at `path`.

    Each of models/queries/outcomes may be `.csv` or `.csv.gz`. Empty cells are missing values: an
    empty `score` is an ungraded outcome (NaN, no quality feedback), an empty `reference` is None.
    Extra columns are kept: extra query columns stay in `trace.queries`, extra models.csv columns go to
    `ModelRow.extra` as strings (`available_from`, if present and non-empty, must name a query_id).
    Outcome matrices follow the queries' arrival order and the models.csv order, whatever the row order
    of outcomes.csv.

    Raises `TraceError` naming the file, the 1-based data row (header excluded) and the column where
    known, and what was expected.
    """
    started = time.perf_counter()
    folder = Path(path)
    from engine.traces.workspace import is_workspace, workspace_trace
    if folder.is_dir() and is_workspace(folder):
        return workspace_trace(folder)      # a workspace's own recorded jobs
    files = locate_trace_files(folder)
    frames = {kind: read_table(file) for kind, file in files.items()}
    resolved = folder.resolve()
    trace = frames_to_trace(frames["models"], frames["queries"], frames["outcomes"], name=resolved.name,
                            path=str(resolved), files={kind: file.name for kind, file in files.items()})
    log.debug("loaded trace %s (%d queries x %d models) in %.2f s", trace.name, trace.n_queries,
              len(trace.models), time.perf_counter() - started)
    return trace


def locate_trace_files(folder: Path) -> dict[str, Path]:
    """The models/queries/outcomes files of a trace folder (each `.csv` or `.csv.gz`).

    Raises `TraceError` when the folder is missing, is a file, lacks one of the three files or holds
    both forms of one.
    """
    where = str(folder)
    if not folder.exists():
        raise TraceError(f"trace folder does not exist; {TRACE_FOLDER_HINT}", file=where)
    if not folder.is_dir():
        hint = ""
        if any(folder.name in (f"{k}.csv", f"{k}.csv.gz") for k in TRACE_FILES):
            hint = f" (did you mean its folder '{folder.parent}'?)"
        raise TraceError(f"is a file, expected a trace folder{hint}; {TRACE_FOLDER_HINT}", file=where)
    found: dict[str, Path] = {}
    missing: list[str] = []
    for kind in TRACE_FILES:
        plain, packed = folder / f"{kind}.csv", folder / f"{kind}.csv.gz"
        if plain.is_file() and packed.is_file():
            raise TraceError(f"both {plain.name} and {packed.name} are present, so the trace is ambiguous; "
                             "keep only one of them", file=where)
        if plain.is_file() or packed.is_file():
            found[kind] = plain if plain.is_file() else packed
        else:
            missing.append(f"{kind}.csv")
    if missing:
        raise TraceError(f"not a trace folder: missing {', '.join(missing)} (or .csv.gz); "
                         f"{TRACE_FOLDER_HINT}", file=where)
    return found


def read_table(file: Path) -> pd.DataFrame:
    """Read one CSV (or gzip-compressed CSV) file of a trace with every cell as text ("" when empty).

    Only the structure is checked here — readable, UTF-8, a header with unique non-empty names and
    every data row as long as the header; column contents are checked by `frames_to_trace`.

    Memory is bounded by the limits, not by the file: a first pass streams the file (decompressing and
    decoding it in 1 MiB chunks, holding one row at a time) and checks the structure and the limits —
    `MAX_DECOMPRESSED_BYTES` of text, `MAX_ROWS` rows, `MAX_COLUMNS` columns, `MAX_CELL_BYTES` per cell — so
    a decompression bomb or a file of millions of tiny rows is refused before it costs memory; only a file
    within them is parsed into a table.
    """
    label = file.name
    header, n_rows = _scan(file, label)
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False, index_col=False, encoding="utf-8",
                            compression="gzip" if file.name.endswith(".gz") else None)
    except (pd.errors.ParserError, ValueError) as exc:
        raise TraceError(f"cannot parse as CSV ({exc}); expected comma-separated values with "
                         "double-quoted cells where needed", file=label) from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise TraceError(f"cannot read the file: {exc}", file=label) from exc
    if len(frame) != n_rows or frame.shape[1] != len(header):
        # Both parsers follow RFC 4180; they can only disagree on unusual quoting.
        raise TraceError(f"cannot parse as CSV consistently ({len(frame)} vs {n_rows} data rows); check "
                         "the quoting of cells that hold commas, quotes or line breaks", file=label)
    frame.columns = header
    return frame


_NEWLINE = re.compile(r"\r\n|\n|\r(?!\Z)")   # a final \r may be the first half of a \r\n in the next chunk


class _Text:
    """The text lines of a (possibly gzip-compressed) file, decoded as UTF-8 in chunks, with the byte
    limit enforced as it goes; errors name the file and the line."""

    def __init__(self, file: Path, label: str):
        self.file, self.label = file, label
        self.packed = file.name.endswith(".gz")
        self.total = 0
        self.lines_done = 0           # physical lines handed out so far
        self.non_blank = False
        self.starts_gzip = False

    def _chunks(self):
        limit = MAX_DECOMPRESSED_BYTES
        try:
            opener = gzip.open if self.packed else open
            with opener(self.file, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    self.total += len(chunk)
                    if self.total > limit:
                        what = ("expands to more than {} MiB when decompressed; expected a trace file of a "
                                "sensible size (a decompression bomb?)" if self.packed else
                                "is larger than {} MiB; expected a trace file of a sensible size")
                        raise TraceError(what.format(limit // 2**20), file=self.label)
                    yield chunk
        except FileNotFoundError as exc:
            raise TraceError(f"cannot read the file: {exc.strerror or exc}", file=self.label) from exc
        except (OSError, EOFError, zlib.error) as exc:
            if not self.packed:
                raise TraceError(f"cannot read the file: {exc.strerror or exc}", file=self.label) from exc
            raise TraceError(f"cannot decompress ({exc}); expected a complete gzip-compressed CSV file "
                             f"(a plain CSV file must be named {self.file.name[:-3]})", file=self.label) from exc

    def __iter__(self):
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        pending = ""
        first = True
        for chunk in self._chunks():
            if first:
                self.starts_gzip = chunk.startswith(_GZIP_MAGIC)
                if chunk.startswith(_UTF8_BOM):
                    chunk = chunk[len(_UTF8_BOM):]
                first = False
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = self.lines_done + pending.count("\n") + chunk.count(b"\n", 0, exc.start) + 1
                hint = " (it looks gzip-compressed: name it .csv.gz)" if self.starts_gzip else ""
                raise TraceError(f"not valid UTF-8 text: byte 0x{chunk[exc.start]:02x} on line {line} (header "
                                 f"is line 1){hint}; expected a UTF-8 encoded CSV file", file=self.label) from exc
            if not self.non_blank and text.strip():
                self.non_blank = True
            pending += text
            start = 0
            for match in _NEWLINE.finditer(pending):     # \r\n, \n or \r, kept (as csv expects)
                self.lines_done += 1
                yield pending[start:match.end()]
                start = match.end()
            pending = pending[start:]
            if len(pending) > MAX_LINE_CHARS:
                raise TraceError(f"line {self.lines_done + 1} is longer than {MAX_LINE_CHARS // 2**20} MiB "
                                 "(header is line 1); expected rows of a sensible size", file=self.label)
        try:
            pending += decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise TraceError(f"not valid UTF-8 text: the file ends inside a character on line "
                             f"{self.lines_done + 1} (header is line 1); expected a UTF-8 encoded CSV file",
                             file=self.label) from exc
        if pending:
            self.non_blank = self.non_blank or bool(pending.strip())
            yield pending


def _scan(file: Path, label: str) -> tuple[list[str], int]:
    """The header (names stripped) and the number of data rows, from one streaming pass that checks the
    structure (every row as long as the header) and the limits."""
    if csv.field_size_limit() != MAX_CELL_BYTES:
        csv.field_size_limit(MAX_CELL_BYTES)
    text = _Text(file, label)
    reader = csv.reader(text, strict=True)
    header: list[str] | None = None
    n_rows = 0
    try:
        for row in reader:
            if not row:
                continue                              # blank lines are skipped
            if header is None:
                header = [name.strip() for name in row]
                _check_header(header, label)
                continue
            n_rows += 1
            if len(row) != len(header):
                fields = f"{len(row)} field{'s' if len(row) != 1 else ''}"
                raise TraceError(f"has {fields}, expected {len(header)} like the header ({', '.join(header)}); "
                                 "quote cells that contain commas", file=label, row=n_rows)
            if n_rows > MAX_ROWS:
                raise TraceError(f"has more than {MAX_ROWS} data rows; expected a trace file of a sensible size",
                                 file=label)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise TraceError(f"a cell near line {reader.line_num} is larger than {MAX_CELL_BYTES // 2**20} MiB; "
                             "expected cells of a sensible size", file=label) from exc
        hint = " (an unclosed quote?)" if "end of data" in str(exc) else ""
        raise TraceError(f"cannot parse as CSV near line {reader.line_num} (header is line 1): {exc}{hint}; "
                         "expected comma-separated cells, double-quoted where they hold commas, quotes or "
                         "line breaks", file=label) from exc
    if header is None or not text.non_blank:
        raise TraceError("empty file; expected a header row naming the columns, then the data rows",
                         file=label)
    return header, n_rows


def _check_header(header: list[str], label: str) -> None:
    if len(header) > MAX_COLUMNS:
        raise TraceError(f"the header has {len(header)} columns; expected at most {MAX_COLUMNS}", file=label)
    for k, name in enumerate(header, start=1):
        if not name:
            raise TraceError(f"header column {k} has no name; expected every column to be named",
                             file=label)
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise TraceError("appears twice in the header; expected unique column names",
                             file=label, column=name)
        seen.add(name)


# -- validation of the three tables ---------------------------------------------------------------------


def frames_to_trace(models: pd.DataFrame, queries: pd.DataFrame, outcomes: pd.DataFrame, *, name: str,
                    path: str, files: dict[str, str] | None = None) -> Trace:
    """Validate the three tables of a trace, all cells text ("" = missing), and build the `Trace`.

    `files` maps "models"/"queries"/"outcomes" to the file names used in messages. Used by `load_trace`
    and, on the way out, by the writer.
    """
    files = {kind: f"{kind}.csv" for kind in TRACE_FILES} | (files or {})
    for kind, frame, empty in (("models", models, "no models"), ("queries", queries, "no queries"),
                               ("outcomes", outcomes, "no outcomes")):
        _check_columns(frame, TRACE_FILES[kind], files[kind])
        if frame.empty:
            raise TraceError(f"{empty}: the file has a header but no data rows; expected one row per "
                             f"{kind[:-1] if kind != 'queries' else 'query'}", file=files[kind])
    model_rows = _models(models, files["models"])
    query_frame = _queries(queries, files["queries"])
    _check_available_from(models, query_frame, files)
    return _outcomes(outcomes, model_rows, query_frame, name=name, path=path, files=files)


def _check_columns(frame: pd.DataFrame, required: tuple[str, ...], label: str) -> None:
    columns = [str(c) for c in frame.columns]
    duplicated = pd.Index(columns)[pd.Index(columns).duplicated()]
    if len(duplicated):
        raise TraceError("appears twice in the header; expected unique column names",
                         file=label, column=duplicated[0])
    missing = [c for c in required if c not in columns]
    if missing:
        raise TraceError(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
                         f"expected the columns {', '.join(required)} (extra columns are allowed)",
                         file=label)


def _models(models: pd.DataFrame, label: str) -> list[ModelRow]:
    names = models["model"]
    _check_not_empty(names, label, "model", "a model name")
    _check_unique(names, label, "model", "model names must be unique")
    prices = {c: _numbers(models[c], label, c, low=0.0, high=MAX_PRICE_USD_PER_MTOK if "usd" in c else None)
              for c in MODEL_COLUMNS[2:]}
    for column in OPTIONAL_MODEL_NUMBERS:
        if column in models.columns:
            _numbers(models[column], label, column, low=0.0)
    extra_columns = [c for c in models.columns if c not in MODEL_COLUMNS]
    extras = models[extra_columns].to_dict("records") if extra_columns else [{} for _ in range(len(models))]
    return [
        ModelRow(model=str(model), provider=str(provider),
                 input_usd_per_mtok=_opt(prices["input_usd_per_mtok"][i]),
                 output_usd_per_mtok=_opt(prices["output_usd_per_mtok"][i]),
                 params_b=_opt(prices["params_b"][i]),
                 extra={str(k): str(v) for k, v in extras[i].items()})
        for i, (model, provider) in enumerate(zip(names, models["provider"], strict=True))
    ]


def _queries(queries: pd.DataFrame, label: str) -> pd.DataFrame:
    for column, what in (("query_id", "a query id"), ("task", "a task name"), ("text", "the job's text")):
        _check_not_empty(queries[column], label, column, what)
    _check_unique(queries["query_id"], label, "query_id", "query ids must be unique")
    ordered = list(QUERY_COLUMNS) + [c for c in queries.columns if c not in QUERY_COLUMNS]
    frame = queries[ordered].reset_index(drop=True)
    reference = frame["reference"].to_numpy(dtype=object)
    frame["reference"] = pd.Series(np.where(reference == "", None, reference), dtype=object)
    return frame


def _check_available_from(models: pd.DataFrame, queries: pd.DataFrame, files: dict[str, str]) -> None:
    """The optional models.csv column `available_from`: the query_id from which a model may be used."""
    if "available_from" not in models.columns:
        return
    start = models["available_from"].str.strip()
    unknown = ((start != "") & ~start.isin(queries["query_id"])).to_numpy()
    if unknown.any():
        i = int(np.argmax(unknown))
        raise TraceError(f"{_show(start.iloc[i])} is not a query_id of {files['queries']}; expected the "
                         "query_id from which the model is available, or empty for from the start",
                         file=files["models"], row=i + 1, column="available_from")


def _outcomes(outcomes: pd.DataFrame, models: list[ModelRow], queries: pd.DataFrame, *, name: str,
              path: str, files: dict[str, str]) -> Trace:
    label = files["outcomes"]
    qids, mids = outcomes["query_id"], outcomes["model"]
    _check_not_empty(qids, label, "query_id", "a query id")
    _check_not_empty(mids, label, "model", "a model name")
    model_names = [m.model for m in models]
    n_queries, n_models = len(queries), len(models)
    qi = pd.Index(queries["query_id"]).get_indexer(qids)
    mi = pd.Index(model_names).get_indexer(mids)
    for index, values, column, of in ((qi, qids, "query_id", files["queries"]),
                                      (mi, mids, "model", files["models"])):
        if (index < 0).any():
            i = int(np.argmax(index < 0))
            raise TraceError(f"unknown {column} {_show(values.iloc[i])}; expected a {column} listed in {of}",
                             file=label, row=i + 1, column=column)
    cell = qi.astype(np.int64) * n_models + mi
    repeated = pd.Index(cell).duplicated()
    if repeated.any():
        i = int(np.argmax(repeated))
        first = int(np.argmax(cell == cell[i]))
        raise TraceError(f"second outcome for query {_show(qids.iloc[i])} and model {_show(mids.iloc[i])} "
                         f"(the first is row {first + 1}); expected one outcome per query and model",
                         file=label, row=i + 1)
    if len(cell) < n_queries * n_models:
        present = np.zeros(n_queries * n_models, dtype=bool)
        present[cell] = True
        k = int(np.argmin(present))
        total = n_queries * n_models
        raise TraceError(f"query {_show(queries['query_id'].iloc[k // n_models])} has no outcome for model "
                         f"{_show(model_names[k % n_models])} ({total - len(cell)} of {total} outcomes "
                         f"missing); expected one outcome per query in {files['queries']} and model in "
                         f"{files['models']}", file=label)

    def matrix(values: np.ndarray, dtype) -> np.ndarray:
        out = np.empty(n_queries * n_models, dtype=dtype)
        out[cell] = values
        return out.reshape(n_queries, n_models)

    numbers = {
        "score": _numbers(outcomes["score"], label, "score", low=0.0, high=1.0),
        "cost_usd": _numbers(outcomes["cost_usd"], label, "cost_usd", low=0.0, required=True),
        "input_tokens": _numbers(outcomes["input_tokens"], label, "input_tokens", low=0.0, integer=True),
        "output_tokens": _numbers(outcomes["output_tokens"], label, "output_tokens", low=0.0, integer=True),
        "latency_s": _numbers(outcomes["latency_s"], label, "latency_s", low=0.0),
    }
    return Trace(
        name=name, path=path, models=models, queries=queries,
        scores=matrix(numbers["score"], float), costs=matrix(numbers["cost_usd"], float),
        input_tokens=matrix(numbers["input_tokens"], float),
        output_tokens=matrix(numbers["output_tokens"], float),
        latency_s=matrix(numbers["latency_s"], float),
        outputs=matrix(outcomes["output"].to_numpy(dtype=object), object),
        raw_outputs=matrix(outcomes["raw_output"].to_numpy(dtype=object), object),
    )


# -- column checks ---------------------------------------------------------------------------------------


def _check_not_empty(values: pd.Series, label: str, column: str, what: str) -> None:
    empty = (values.str.strip() == "").to_numpy(dtype=bool)
    if empty.any():
        raise TraceError(f"empty cell; expected {what}", file=label, row=int(np.argmax(empty)) + 1,
                         column=column)


def _check_unique(values: pd.Series, label: str, column: str, rule: str) -> None:
    repeated = values.duplicated().to_numpy(dtype=bool)
    if repeated.any():
        i = int(np.argmax(repeated))
        first = int(np.argmax((values == values.iloc[i]).to_numpy(dtype=bool)))
        raise TraceError(f"duplicate {_show(values.iloc[i])} (first at row {first + 1}); {rule}",
                         file=label, row=i + 1, column=column)


def _numbers(values: pd.Series, label: str, column: str, *, low: float | None = None,
             high: float | None = None, integer: bool = False, required: bool = False) -> np.ndarray:
    """The column as floats, NaN where empty; any other cell that is not an allowed number is an error."""
    text = values.str.strip().to_numpy(dtype=object)
    empty = text == ""
    filled = text.copy()
    filled[empty] = "nan"
    try:
        numbers = filled.astype(float)
        unparsable = np.zeros(len(text), dtype=bool)
    except ValueError:  # locate the culprits (error path only)
        parsed = [_float_or_none(s) for s in filled]
        unparsable = np.array([x is None for x in parsed], dtype=bool)
        numbers = np.array([np.nan if x is None else x for x in parsed], dtype=float)
    with np.errstate(invalid="ignore"):
        bad = unparsable | (~empty & ~np.isfinite(numbers))
        if low is not None:
            bad |= numbers < low
        if high is not None:
            bad |= numbers > high
        if integer:
            bad |= np.isfinite(numbers) & (numbers != np.floor(numbers))
    if required:
        bad |= empty
    if bad.any():
        i = int(np.argmax(bad))
        got = "an empty cell" if empty[i] else _show(text[i])
        raise TraceError(f"expected {_EXPECT[column]}, got {got}", file=label, row=i + 1, column=column)
    return numbers


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _opt(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def _show(value: object, limit: int = 60) -> str:
    """A cell value for a message, quoted and shortened."""
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
