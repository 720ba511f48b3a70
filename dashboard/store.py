"""Replay results kept on disk, so a restarted dashboard shows what it computed before at once.

What can be computed once is computed once: a replay's result (metrics, per-job frame, the scheduler's
artefacts) and the quick baselines' metrics are written under `<workspace>/dashboard-cache/` as JSON and
Parquet — data, never code (nothing is unpickled). The key covers everything the result depends on: the
trace files (name, size, mtime), the edited catalog, the policy and its parameters, and the engine's code
(every `engine/**/*.py` and `dashboard/data.py` file's name, size and mtime). Change any of them and the
entry is simply not found again; `prune` keeps the folder bounded. Pure: no streamlit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
FORMAT = 1
MAX_ENTRIES = 400
_CODE: tuple[float, str] | None = None
_CODE_LOCK = threading.Lock()


def code_version(ttl_s: float = 5.0) -> str:
    """A digest of the engine's code (file names, sizes, mtimes); re-read at most every `ttl_s` seconds."""
    global _CODE
    now = time.monotonic()
    with _CODE_LOCK:
        if _CODE is not None and now - _CODE[0] < ttl_s:
            return _CODE[1]
        h = hashlib.blake2b(digest_size=10)
        files = sorted((REPO_ROOT / "engine").rglob("*.py")) + [REPO_ROOT / "dashboard" / "data.py"]
        for f in files:
            try:
                st = f.stat()
            except OSError:
                continue
            h.update(f"{f.relative_to(REPO_ROOT)}:{st.st_size}:{st.st_mtime_ns};".encode())
        _CODE = (now, h.hexdigest())
        return _CODE[1]


def entry_key(*parts) -> str:
    """The key of a result: a digest of its inputs (JSON of `parts`) and the engine's code version."""
    text = json.dumps([FORMAT, code_version(), *parts], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class DiskStore:
    """A folder of results by key. Each entry is a folder written to a temporary name and renamed, so a
    reader never sees half an entry; unreadable entries are treated as absent (and removed)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _dir(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError(f"bad store key {key!r}")
        return self.root / key

    # -- JSON values --------------------------------------------------------------------------------------
    def get_json(self, key: str):
        path = self._dir(key) / "value.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.info("dashboard cache entry %s unreadable (%s): dropped", path, exc)
            self.drop(key)
            return None

    def put_json(self, key: str, value) -> None:
        self._write(key, {"value.json": json.dumps(value, default=_plain).encode("utf-8")})

    def get_meta(self, key: str) -> dict | None:
        """An entry's meta.json alone (cheap: no frame is read), or None."""
        try:
            return json.loads((self._dir(key) / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def has(self, key: str) -> bool:
        """Whether an entry is there (without reading it)."""
        return (self._dir(key) / "meta.json").is_file() or (self._dir(key) / "value.json").is_file()

    # -- frames + JSON --------------------------------------------------------------------------------------
    def get_frames(self, key: str) -> tuple[dict, dict[str, pd.DataFrame]] | None:
        """(meta, {name: frame}) or None."""
        folder = self._dir(key)
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in meta.get("frames", [])}
        except FileNotFoundError:
            return None
        except Exception as exc:   # a damaged parquet or JSON file: recompute rather than fail the page
            log.info("dashboard cache entry %s unreadable (%s): dropped", folder, exc)
            self.drop(key)
            return None
        with contextlib.suppress(OSError):
            os.utime(folder)      # recently used: pruned last
        return meta, frames

    def put_frames(self, key: str, meta: dict, frames: dict[str, pd.DataFrame]) -> None:
        files = {}
        for name, df in frames.items():
            files[f"{name}.parquet"] = _parquet_bytes(df)
        files["meta.json"] = json.dumps({**meta, "frames": list(frames)}, default=_plain).encode("utf-8")
        self._write(key, files)

    # -- housekeeping ---------------------------------------------------------------------------------------
    def _write(self, key: str, files: dict[str, bytes]) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.root))
            for name, payload in files.items():
                (tmp / name).write_bytes(payload)
            final = self._dir(key)
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        except OSError as exc:     # a read-only or full disk costs speed, never the page
            log.warning("could not keep a dashboard result on disk in %s: %s", self.root, exc)
            return
        self.prune()

    def drop(self, key: str) -> None:
        shutil.rmtree(self._dir(key), ignore_errors=True)

    def prune(self, keep: int = MAX_ENTRIES) -> None:
        try:
            entries = sorted((p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                             key=lambda p: p.stat().st_mtime)
        except OSError:
            return
        for old in entries[:-keep] if len(entries) > keep else []:
            shutil.rmtree(old, ignore_errors=True)


def _plain(value):
    """JSON for numpy scalars and other odd values inside metrics."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, set | tuple):
        return list(value)
    return str(value)


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    import io
    out = df.copy()
    for col in out.columns:                    # mixed object columns (None / str / bool) as text or numbers
        if out[col].dtype == object:
            sample = out[col].dropna()
            if not sample.map(lambda v: isinstance(v, str)).all():
                kinds = {type(v) for v in sample}
                if kinds <= {bool} or kinds <= {int, float, bool}:
                    continue
                out[col] = out[col].map(lambda v: None if v is None else (v if isinstance(v, str)
                                                                           else json.dumps(v, default=_plain)))
    out.columns = [str(c) for c in out.columns]
    buf = io.BytesIO()
    out.reset_index(drop=True).to_parquet(buf, index=False)
    return buf.getvalue()
