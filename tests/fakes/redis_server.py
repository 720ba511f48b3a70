"""A real `redis-server` on 127.0.0.1 for fleet tests, that a test can stop and bring back on the same port.

    with RedisServer() as server:          # skips the test when redis-server is not installed
        url = server.url                   # redis://127.0.0.1:PORT/0
        server.kill()                      # SIGKILL: Redis goes away mid-run (nothing persisted)
        server.start()                     # same port, empty data set

No persistence (`--save '' --appendonly no`): a restarted server is empty, the worst case the fleet must
survive. Every process is stopped by its own pid.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from tests.fakes.local_server import LocalServer


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    return found or ("/usr/sbin/redis-server" if os.path.exists("/usr/sbin/redis-server") else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer(LocalServer):
    """One `redis-server` on a fixed loopback port (chosen once, kept across restarts)."""

    def __init__(self, port: int | None = None, *, start_timeout_s: float = 15.0):
        self.port = port or free_port()
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = redis_binary()
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout_s
        while not self.healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.skip(f"could not start redis-server on 127.0.0.1:{self.port}")
            time.sleep(0.02)
        return self

    def healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False
