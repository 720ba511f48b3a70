"""A real `chroma run` server on 127.0.0.1 for integration tests, that a test can kill and bring back.

    with ChromaServer(tmp_path / "server") as server:      # skips the test when the CLI is missing
        CacheManager.open(ws, chroma_url=server.url)
        server.kill()                                      # SIGKILL: the server goes away mid-run
        server.start()                                     # same port, same data directory

Start-up waits for `/api/v2/heartbeat` (about 2 s here). Every process is stopped by its own pid.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fakes.local_server import LocalServer


def chroma_cli() -> str | None:
    """The `chroma` CLI of this virtualenv, else the one on PATH."""
    local = Path(sys.executable).with_name("chroma")
    return str(local) if local.exists() else shutil.which("chroma")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer(LocalServer):
    """One `chroma run --path <path>` on a fixed loopback port (chosen once, kept across restarts)."""

    def __init__(self, path: Path, port: int | None = None, *, start_timeout_s: float = 30.0):
        self.path = Path(path)
        self.port = port or free_port()
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ChromaServer:
        cli = chroma_cli()
        if cli is None:
            pytest.skip("the chroma CLI is not installed")
        self.proc = subprocess.Popen([cli, "run", "--path", str(self.path), "--host", "127.0.0.1",
                                      "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout_s
        while not self.healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.skip(f"could not start a local chroma server on port {self.port}")
            time.sleep(0.05)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False
