"""Write a trace folder in the trace format, validated on the way out and atomically.

Cells are turned into text first (floats with `repr` precision so they read back bit-for-bit, NaN and None
as empty cells, whole-number token counts without a decimal point); the text tables are then checked by
the same validation as `load_trace`, so that whatever is written loads back equal. Nothing is written
when a check fails.

Atomicity: a new folder is built under a temporary name beside it and renamed into place in one step.
Into an existing folder (e.g. one that also holds a README), every file is fully written and flushed
under a temporary name first and then renamed over the old one, so no file is ever half written; a
stale file of the other form (`models.csv` when writing `models.csv.gz`) is removed afterwards.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import math
import os
import secrets
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from engine import secrets as engine_secrets
from engine.errors import TraceError
from engine.traces.model import MODEL_COLUMNS, OUTCOME_COLUMNS, QUERY_COLUMNS, Trace
from engine.traces.reader import TRACE_FILES, frames_to_trace

log = logging.getLogger(__name__)

_INTEGER_COLUMNS = frozenset({"input_tokens", "output_tokens"})
_GZIP_LEVEL = 6  # gzip's default; level 9 is several times slower for a few percent


def write_trace(trace: Trace, folder: str | Path, compress: bool = True) -> Path:
    """Write `trace` to `folder` (created if needed) as models/queries/outcomes `.csv.gz` (or `.csv`).

    Returns the folder. Raises `TraceError` if the trace does not validate; nothing is written then.
    """
    models, queries, outcomes = trace_frames(trace)
    return write_trace_frames(folder, models, queries, outcomes, compress=compress)


def trace_frames(trace: Trace) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three tables of `trace` as DataFrames (models, queries, outcomes in arrival x models order).

    Unknown numbers are NaN and unknown prices/sizes None; extra model fields become columns.
    """
    extra_columns = list(dict.fromkeys(k for m in trace.models for k in m.extra))
    models = pd.DataFrame(
        [[m.model, m.provider, m.input_usd_per_mtok, m.output_usd_per_mtok, m.params_b]
         + [m.extra.get(k, "") for k in extra_columns] for m in trace.models],
        columns=list(MODEL_COLUMNS) + extra_columns,
    )
    n_queries, n_models = trace.scores.shape
    outcomes = pd.DataFrame({
        "query_id": np.repeat(trace.queries["query_id"].to_numpy(dtype=object), n_models),
        "model": np.tile(np.array(trace.model_names, dtype=object), n_queries),
        "output": trace.outputs.ravel(),
        "raw_output": trace.raw_outputs.ravel(),
        "score": trace.scores.ravel(),
        "input_tokens": trace.input_tokens.ravel(),
        "output_tokens": trace.output_tokens.ravel(),
        "cost_usd": trace.costs.ravel(),
        "latency_s": trace.latency_s.ravel(),
    })
    return models, trace.queries.copy(), outcomes


def _scrubbed(table: pd.DataFrame) -> pd.DataFrame:
    """The table with every configured API key replaced by [REDACTED] (a trace written is never a leak)."""
    found = engine_secrets.pattern()
    if found is None or not table.columns.is_unique:
        return table
    for column in table.columns:
        values = table[column]
        if values.astype(str).str.contains(found).any():
            table[column] = values.map(lambda v: engine_secrets.scrub(v) if isinstance(v, str) else v)
    return table


def write_trace_frames(folder: str | Path, models_df: pd.DataFrame, queries_df: pd.DataFrame,
                       outcomes_df: pd.DataFrame, compress: bool = True) -> Path:
    """Validate three tables in the trace format and write them to `folder` atomically.

    Cells may be numbers, strings, None or NaN (missing). Required columns come first in the format's
    order, extra columns follow in their given order; outcome rows keep their given order. Returns the
    folder. Raises `TraceError` (naming the file that would be written, the 1-based data row and the
    column) when the tables do not make a valid trace; nothing is written then.
    """
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise TraceError("is a file, expected a folder to write the trace into", file=str(target))
    suffix = ".csv.gz" if compress else ".csv"
    names = {kind: f"{kind}{suffix}" for kind in TRACE_FILES}
    tables = {
        "models": _scrubbed(_as_text(models_df, MODEL_COLUMNS)),
        "queries": _scrubbed(_as_text(queries_df, QUERY_COLUMNS)),
        "outcomes": _scrubbed(_as_text(outcomes_df, OUTCOME_COLUMNS)),
    }
    frames_to_trace(tables["models"], tables["queries"], tables["outcomes"], name=target.name,
                    path=str(target), files=names)
    payloads = {names[kind]: _encode(table, compress) for kind, table in tables.items()}
    if target.is_dir():
        _replace_files(target, payloads)
    else:
        _create_folder(target, payloads)
    log.info("wrote trace %s (%d queries x %d models)", target, len(tables["queries"]),
             len(tables["models"]))
    return target


# -- cells to text ---------------------------------------------------------------------------------------


def _as_text(frame: pd.DataFrame, required: tuple[str, ...]) -> pd.DataFrame:
    """Every cell as text: required columns first (when present), then the others in their order."""
    columns = [str(c) for c in frame.columns]
    ordered = [c for c in required if c in columns] + [c for c in columns if c not in required]
    frame = frame.set_axis(columns, axis=1)
    if len(set(columns)) != len(columns):
        return frame.astype(str)  # the validation names the duplicate column
    return pd.DataFrame({c: _column_text(frame[c], integer=c in _INTEGER_COLUMNS) for c in ordered},
                        index=pd.RangeIndex(len(frame)))


def _column_text(values: pd.Series, integer: bool) -> np.ndarray:
    return np.array([_cell_text(v, integer) for v in values.tolist()], dtype=object)


def _cell_text(value: object, integer: bool) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return ""
        if integer and x.is_integer():
            return str(int(x))
        return repr(x)
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def _encode(table: pd.DataFrame, compress: bool) -> bytes:
    # Python's csv writer quotes a cell holding a line break only if the break is in the line terminator,
    # so a lone "\r" would come back split; CRLF line ends make such cells quoted (RFC 4180 allows both).
    has_cr = any(table[c].str.contains("\r", regex=False).any() for c in table.columns)
    text = table.to_csv(index=False, lineterminator="\r\n" if has_cr else "\n")
    data = text.encode("utf-8")
    # mtime=0 keeps the bytes reproducible, so a regenerated trace does not show up as changed.
    return gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0) if compress else data


# -- atomic file system steps ------------------------------------------------------------------------------


def _temporary_name(folder: Path, name: str) -> Path:
    return folder / f".{name}.tmp-{secrets.token_hex(4)}"


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:  # "x": never clobber; permissions follow the umask
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _create_folder(target: Path, payloads: dict[str, bytes]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _temporary_name(target.parent, target.name)
    staging.mkdir()
    try:
        for name, data in payloads.items():
            _write_file(staging / name, data)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_files(target: Path, payloads: dict[str, bytes]) -> None:
    staged: dict[str, Path] = {}
    try:
        for name, data in payloads.items():
            staged[name] = _temporary_name(target, name)
            _write_file(staged[name], data)
        for name, path in staged.items():
            os.replace(path, target / name)
    except BaseException:
        for path in staged.values():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    for name in payloads:
        other = target / (name[: -len(".gz")] if name.endswith(".gz") else f"{name}.gz")
        with contextlib.suppress(FileNotFoundError):
            other.unlink()
