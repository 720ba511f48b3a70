"""Uploads bounded by memory (issue 14, finding 13): a .csv.gz of about 255 KiB that expands to 256 MiB — one
endless cell, millions of short rows, or one huge quoted cell — is refused while streaming, with the peak
memory of the whole process (interpreter, numpy, pandas included) at most 300 MB. Each load runs in a fresh
process (`tests/badinput/upload_bomb.py`) so that its peak RSS is its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEAK_RSS_MB = 300


def _bomb(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "tests.badinput.upload_bomb", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("kind", ["zeros", "rows", "cell"])
def test_a_gzip_bomb_is_refused_before_it_costs_memory(tmp_path, kind):
    _bomb("make", kind, str(tmp_path / kind))
    report = json.loads(_bomb("load", str(tmp_path / kind)).strip().splitlines()[-1])
    assert report["expanded_mib"] == 256 and report["compressed_kib"] < 1024, report
    assert report["error"] and report["error"].startswith("TraceError: outcomes.csv.gz"), report
    assert report["peak_rss_mb"] <= PEAK_RSS_MB, report


def test_limits_on_rows_columns_and_cells_name_the_file(tmp_path, monkeypatch):
    from engine.errors import TraceError
    from engine.traces import reader
    monkeypatch.setattr(reader, "MAX_ROWS", 3)
    target = tmp_path / "t.csv"
    target.write_text("a,b\n" + "1,2\n" * 4)
    with pytest.raises(TraceError, match=r"t\.csv: has more than 3 data rows"):
        reader.read_table(target)
    target.write_text(",".join(f"c{k}" for k in range(reader.MAX_COLUMNS + 1)) + "\n")
    with pytest.raises(TraceError, match=r"t\.csv: the header has 201 columns"):
        reader.read_table(target)
    monkeypatch.setattr(reader, "MAX_CELL_BYTES", 1000)
    target.write_text('a,b\n1,"' + "x\n" * 600 + '"\n')
    with pytest.raises(TraceError, match=r"t\.csv: a cell near line \d+ is larger than"):
        reader.read_table(target)
