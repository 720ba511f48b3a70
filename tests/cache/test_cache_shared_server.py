"""Shared-cache mode: two engines on one real `chroma run` server (starts a local server, ~3 s)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cache_helpers import log_job

from engine.cache.manager import CacheManager

pytestmark = pytest.mark.integration

LINE = "Received block blk_123 of size 67108864 from /10.250.19.102"
TEMPLATE = "Received block <*> of size <*> from <*>"


def _chroma_cli() -> str | None:
    local = Path(sys.executable).with_name("chroma")
    return str(local) if local.exists() else shutil.which("chroma")


@pytest.fixture
def chroma_server(tmp_path):
    cli = _chroma_cli()
    if cli is None:
        pytest.skip("the chroma CLI is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([cli, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.skip("could not start a local chroma server")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_two_engines_share_one_server(tmp_path, chroma_server):
    first = CacheManager.open(tmp_path / "engine1", chroma_url=chroma_server)
    eid = first.store(log_job(LINE), LINE, TEMPLATE, "mixtral", 1.0, seq=1)
    first.close()
    second = CacheManager.open(tmp_path / "engine2", chroma_url=chroma_server)
    hit = second.lookup(log_job("x"), "Received block blk_7 of size 3 from /10.0.0.2")
    assert hit is not None and hit.entry_id == eid and second.stats()["store"]["healthy"]
    second.close()
