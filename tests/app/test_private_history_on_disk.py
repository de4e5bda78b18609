"""The embedded server's history is private to its user (issue 12): 0700 directory, 0600 files.

Each test starts the real server under the usual umask 022, so nothing here relies on a strict
umask of the developer's: the modes come from the code.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from lab11_persistence.server.embedded_server import EmbeddedServer
from tests.support.app_driver import stop_embedded_server

pytestmark = pytest.mark.app


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def server_dir(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "data"
    yield data_dir
    stop_embedded_server(data_dir)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _save_a_message(server: EmbeddedServer) -> None:
    """A write that reaches the append-only file (fsync on every write)."""
    with redis.Redis(unix_socket_path=str(server.socket_path)) as client:
        client.rpush("lab11:thread_private", '{"text": "my secret"}')


def _everything_under(data_dir: Path) -> list[Path]:
    return [path for path in data_dir.rglob("*") if not path.is_socket()]


def _start_save_and_stop(data_dir: Path) -> dict[Path, int]:
    """Start the server, save one message, stop it; returns ``st_mode`` of everything there while it ran."""
    server = EmbeddedServer(data_dir).acquire()
    try:
        _save_a_message(server)
        return {path: path.stat().st_mode for path in _everything_under(data_dir)}
    finally:
        server.release()


def test_a_new_data_directory_is_created_private(server_dir: Path) -> None:
    _start_save_and_stop(server_dir)
    assert _mode(server_dir) == 0o700


def test_every_file_the_server_writes_is_readable_by_its_owner_only(server_dir: Path) -> None:
    modes = _start_save_and_stop(server_dir)
    files = {path.name: oct(stat.S_IMODE(mode)) for path, mode in modes.items() if stat.S_ISREG(mode)}
    assert {"server.lock", "clients.json", "server.json", "valkey.log", "appendonly.aof.manifest"} <= set(files)
    assert any(name.endswith(".incr.aof") for name in files), files
    assert files == dict.fromkeys(files, oct(0o600))


def test_the_append_only_directory_is_private_too(server_dir: Path) -> None:
    modes = _start_save_and_stop(server_dir)
    assert stat.S_IMODE(modes[server_dir / "appendonlydir"]) == 0o700


def _loose_directory_left_by_an_older_version(data_dir: Path) -> None:
    """What a first run before this fix left: drwxr-xr-x and -rw-r--r-- (issue 12, measured)."""
    _start_save_and_stop(data_dir)
    os.chmod(data_dir, 0o755)
    for path in _everything_under(data_dir):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert (data_dir / "valkey.log").exists() and (data_dir / "appendonlydir").is_dir()


def test_an_existing_loose_directory_is_tightened_with_its_files(server_dir: Path) -> None:
    _loose_directory_left_by_an_older_version(server_dir)
    modes = _start_save_and_stop(server_dir)
    assert _mode(server_dir) == 0o700
    loose = {path.name: oct(stat.S_IMODE(mode)) for path, mode in modes.items() if mode & 0o077}
    assert loose == {}


def test_tightening_is_said_once_in_one_line(server_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    _loose_directory_left_by_an_older_version(server_dir)
    with caplog.at_level(logging.WARNING, logger="lab11_persistence.server.embedded_server"):
        _start_save_and_stop(server_dir)
        _start_save_and_stop(server_dir)
    said = [
        record.getMessage() for record in caplog.records if record.name == "lab11_persistence.server.embedded_server"
    ]
    assert len(said) == 1, said
    assert "\n" not in said[0]
    assert f"The history in {server_dir} was readable by other users: made it private" in said[0]


def test_the_history_survives_the_tightening(server_dir: Path) -> None:
    _loose_directory_left_by_an_older_version(server_dir)
    server = EmbeddedServer(server_dir).acquire()
    try:
        with redis.Redis(unix_socket_path=str(server.socket_path), decode_responses=True) as client:
            assert client.lrange("lab11:thread_private", 0, -1) == ['{"text": "my secret"}']
    finally:
        server.release()
