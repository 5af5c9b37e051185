"""Run `leadq serve` as a real process on 127.0.0.1 for service tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

LEADQ = [sys.executable, "-m", "leadq"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leadq(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LEADQ, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def create_key(url: str, kind: str) -> str:
    done = leadq("keys", "create", kind, "--database", url)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class Server:
    database: str
    port: int
    log: Path
    process: subprocess.Popen | None = None
    # Variables added to the test process's environment for the server.
    env: dict[str, str] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> Server:
        command = [*LEADQ, "serve", "--database", self.database, "--port", str(self.port), *extra]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(self.env or {})})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"leadq serve exited: {self.log.read_text()[-2000:]}")
            try:
                httpx.get(f"{self.base}/openapi.json", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("leadq serve did not start within 60 s")

    def kill(self) -> None:
        """Stop the process at once, as a crash would (SIGKILL)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
