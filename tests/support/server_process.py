"""`etl-assistant serve` as a real subprocess on a free loopback port, for tests that kill or share it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


class Server:
    """`etl-assistant serve` on a free loopback port, killed with SIGKILL or stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], cwd: Path, extra_args: list[str] | None = None) -> None:
        self.env, self.cwd, self.extra_args = env, cwd, extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> Server:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = [str(BIN / "etl-assistant"), "serve", "--port", str(port), *self.extra_args]
        self.proc = subprocess.Popen(command, env=self.env, cwd=self.cwd, stdout=subprocess.DEVNULL,
                                     stderr=open(self.cwd / "server.log", "ab"))  # noqa: SIM115
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert self.proc.poll() is None, (self.cwd / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /health within 90 s"
            time.sleep(0.2)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def children(self) -> set[int]:
        """Pids of the server's worker processes (`--workers`)."""
        assert self.proc is not None
        found = set()
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) \
                        == self.proc.pid:
                    found.add(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
        return found

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
