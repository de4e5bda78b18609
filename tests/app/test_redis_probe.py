"""The start-up check of REDIS_URL (``redis_probe``), against a real Valkey on loopback.

Each first-run mistake with a real Redis gets its own one-line message before the menu.
The TLS cases are in tests/reliability/test_tls.py (they need a TLS-capable server).
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from lab11_persistence.server.embedded_server import EmbeddedServer
from lab11_persistence.server.probe import RedisProbeError, probe_redis
from tests.support.valkey import ValkeyProcess, free_port

PASSWORD = "probe-Pw-3xQ9recognisable"


@pytest.fixture
def server_with_password(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = ValkeyProcess(tmp_path / "valkey", password=PASSWORD).start()
    yield server
    server.kill()


@pytest.mark.app
def test_a_server_without_a_password_passes(redis_server: ValkeyProcess) -> None:
    probe_redis(redis_server.url)


@pytest.mark.app
def test_the_right_password_passes(server_with_password: ValkeyProcess) -> None:
    probe_redis(server_with_password.url)


@pytest.mark.app
def test_a_username_and_password_pass(server_with_password: ValkeyProcess) -> None:
    probe_redis(f"redis://default:{PASSWORD}@127.0.0.1:{server_with_password.port}/0")


@pytest.mark.app
def test_a_wrong_password_is_refused_without_showing_it(server_with_password: ValkeyProcess) -> None:
    with pytest.raises(RedisProbeError, match="refused the password in REDIS_URL") as refused:
        probe_redis(f"redis://:Wrong-{PASSWORD}@127.0.0.1:{server_with_password.port}/0")
    assert PASSWORD not in str(refused.value)
    assert f"127.0.0.1:{server_with_password.port}" in str(refused.value)


@pytest.mark.app
def test_a_missing_password_says_one_is_needed(server_with_password: ValkeyProcess) -> None:
    with pytest.raises(RedisProbeError, match="needs a password"):
        probe_redis(f"redis://127.0.0.1:{server_with_password.port}/0")


@pytest.mark.app
def test_nothing_listening_names_host_and_port() -> None:
    port = free_port()
    with pytest.raises(RedisProbeError, match=f"Cannot reach Redis at 127.0.0.1:{port}/0"):
        probe_redis(f"redis://:{PASSWORD}@127.0.0.1:{port}/0")


@pytest.mark.app
def test_rediss_on_a_plain_port_says_to_use_redis(redis_server: ValkeyProcess) -> None:
    with pytest.raises(RedisProbeError, match=r"No TLS handshake.*use redis://"):
        probe_redis(f"rediss://127.0.0.1:{redis_server.port}/0", timeout=1.0)  # a plain server never answers


@pytest.mark.app
def test_a_server_that_does_not_speak_redis_is_named_with_the_tls_hint() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def hang_up() -> None:
        connection, _ = listener.accept()
        connection.recv(1024)
        connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    with pytest.raises(RedisProbeError, match=r"did not answer as Redis does; .*use rediss://"):
        probe_redis(f"redis://127.0.0.1:{port}/0")
    listener.close()


@pytest.mark.app
def test_a_unix_socket_passes(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "data").acquire()  # the app's own server listens on a unix socket
    try:
        probe_redis(server.url)
    finally:
        server.release()


@pytest.mark.fast
@pytest.mark.parametrize("url", ["http://localhost:6379", "redis://:pw@[::1"])
def test_a_url_that_is_not_redis_is_refused(url: str) -> None:
    with pytest.raises(RedisProbeError, match="REDIS_URL"):
        probe_redis(url)


@pytest.mark.fast
def test_a_missing_ca_bundle_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(RedisProbeError, match=f"REDIS_CA_CERT \\({missing}\\) is not a readable PEM CA bundle"):
        probe_redis("rediss://127.0.0.1:6380/0", ca_cert=str(missing))
