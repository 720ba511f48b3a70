"""Peak memory of refusing upload bombs. `python -m tests.badinput.upload_bomb make KIND FOLDER` writes a
trace folder whose outcomes file is a bomb of KIND; `python -m tests.badinput.upload_bomb load FOLDER` (a
fresh process) loads it and prints one JSON line: the error, the compressed and expanded sizes and the
process's peak RSS in MB (VmHWM: the interpreter, numpy and pandas included). Kinds:

* ``zeros``  — a valid header and row, then 256 MiB of "0" (≈255 KiB of gzip): one endless cell;
* ``rows``   — a valid header, then short rows up to 256 MiB (millions of rows);
* ``cell``   — a valid header, then one row whose quoted cell is 256 MiB long.
"""

from __future__ import annotations

import gzip
import json
import resource
import sys
import zlib
from pathlib import Path

EXPANDED = 256 * 1024 * 1024
MODELS = b"model,provider,input_usd_per_mtok,output_usd_per_mtok,params_b\nm1,p,1,2,\n"
QUERIES = b"query_id,task,dataset,text,reference\nq1,log_parsing,d,hello,hello\n"
HEADER = b"query_id,model,output,raw_output,score,input_tokens,output_tokens,cost_usd,latency_s\n"
ROW = b"q1,m1,hello,hello,1,1,1,0.1,0.1\n"


def bomb(kind: str) -> bytes:
    """The gzip bytes of an outcomes file that expands to `EXPANDED` bytes, compressed in a stream (this
    process never holds the expanded text)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)       # 31: a gzip container
    out = [packer.compress(HEADER + (ROW if kind != "cell" else b'q1,m1,"'))]
    unit = {"zeros": b"0" * (1 << 20), "rows": ROW * ((1 << 20) // len(ROW)), "cell": b"x" * (1 << 20)}[kind]
    written = len(HEADER)
    while written < EXPANDED:
        out.append(packer.compress(unit))
        written += len(unit)
    out.append(packer.flush())
    return b"".join(out)


def make(kind: str, folder: str) -> None:
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    (target / "models.csv").write_bytes(MODELS)
    (target / "queries.csv").write_bytes(QUERIES)
    (target / "outcomes.csv.gz").write_bytes(bomb(kind))


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: of this program only — `ru_maxrss` would carry over the
    peak of a parent that forked it, e.g. pytest)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def load(folder: str) -> None:
    from engine.traces import load_trace
    target = Path(folder)
    before = peak_rss_mb()
    try:
        load_trace(target)
        error = None
    except Exception as exc:         # noqa: BLE001 - reported, whatever it is
        error = f"{type(exc).__name__}: {exc}"
    with gzip.open(target / "outcomes.csv.gz") as fh:   # the expanded size, counted in chunks
        expanded = sum(len(chunk) for chunk in iter(lambda: fh.read(1 << 20), b""))
    print(json.dumps({"error": error, "rss_before_load_mb": round(before, 1), "compressed_kib": (target / "outcomes.csv.gz").stat().st_size // 1024,
                      "expanded_mib": expanded // 2**20, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    else:
        load(sys.argv[2])
