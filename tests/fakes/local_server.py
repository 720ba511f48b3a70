"""What every real server a test starts on loopback shares: stop it politely or kill it by its pid, and use it
as a context manager. Subclasses set `self.proc` in `start()` and say how to check it in `healthy()`."""

from __future__ import annotations

import subprocess


class LocalServer:
    proc: subprocess.Popen | None = None

    def start(self):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def kill(self) -> None:
        """SIGKILL by pid: the server disappears without a goodbye (connections reset, port closed)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
