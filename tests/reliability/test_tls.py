"""Scenario 4: ``rediss://`` against a TLS-only redis-server with a self-signed CA, on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_framework import ChatMessage

from lab11_persistence.server.probe import RedisProbeError, probe_redis
from redis_chat_message_store import RedisChatMessageStore, RedisUnavailableError
from tests.support.app_driver import LabApp, app_env, has_traceback
from tests.support.tls import Certificates, TLSRedisProcess, make_certificates

pytestmark = pytest.mark.faults

PASSWORD = "tls-pw-Zq7xK2recognisable"


def _turn() -> list[ChatMessage]:
    return [ChatMessage(role="user", text="Where to in May?"), ChatMessage(role="assistant", text="Lisbon.")]


async def _refusal(store: RedisChatMessageStore) -> str:
    """The error a first write gets (that it comes after a bounded number of tries is counted in
    test_lost_connection.py::test_a_server_that_keeps_hanging_up_is_tried_a_bounded_number_of_times)."""
    with pytest.raises(RedisUnavailableError) as raised:
        await store.add_messages(_turn())
    await store.aclose()
    return str(raised.value)


async def test_tls_store_connects_and_saves_when_told_the_ca(tls_server: TLSRedisProcess) -> None:
    store = RedisChatMessageStore(tls_server.url, key_prefix="lab11", ssl_ca_certs=str(tls_server.certificates.ca_cert))
    await store.add_messages(_turn())
    assert [message.text for message in await store.list_messages()] == ["Where to in May?", "Lisbon."]
    await store.aclose()


async def test_tls_store_refuses_an_unknown_ca_with_a_clear_message(tls_server: TLSRedisProcess) -> None:
    message = await _refusal(RedisChatMessageStore(tls_server.url, key_prefix="lab11"))
    assert "certificate verify failed" in message
    assert f"127.0.0.1:{tls_server.port}" in message


async def test_tls_store_refuses_a_certificate_signed_by_another_ca(
    tls_server: TLSRedisProcess, tmp_path: Path
) -> None:
    other = make_certificates(tmp_path / "other-ca")
    message = await _refusal(RedisChatMessageStore(tls_server.url, ssl_ca_certs=str(other.ca_cert)))
    assert "certificate verify failed" in message


async def test_tls_store_refuses_a_certificate_issued_for_another_host(tmp_path: Path, tls_capable: None) -> None:
    """Hostname checking stays on: a trusted CA is not enough if the name does not match."""
    wrong_name = make_certificates(tmp_path / "certs", server_names=("db.example.invalid",))
    server = TLSRedisProcess(tmp_path / "tls-redis", wrong_name).start()
    try:
        message = await _refusal(RedisChatMessageStore(server.url, ssl_ca_certs=str(wrong_name.ca_cert)))
    finally:
        server.kill()
    assert "certificate verify failed" in message or "hostname" in message.lower()


async def test_tls_refusal_never_shows_the_password(
    tmp_path: Path, certificates: Certificates, tls_capable: None
) -> None:
    server = TLSRedisProcess(tmp_path / "tls-redis", certificates, password=PASSWORD).start()
    try:
        store = RedisChatMessageStore(server.url)
        message = await _refusal(store)
    finally:
        server.kill()
    assert PASSWORD not in message
    assert PASSWORD not in repr(store)


async def test_tls_refused_write_leaves_nothing_behind(tls_server: TLSRedisProcess) -> None:
    """The refused write left nothing behind: a trusted client finds no key."""
    await _refusal(RedisChatMessageStore(tls_server.url, key_prefix="lab11"))
    trusted = RedisChatMessageStore(
        tls_server.url, key_prefix="lab11", ssl_ca_certs=str(tls_server.certificates.ca_cert)
    )
    assert await trusted.list_saved_threads() == []
    await trusted.aclose()


def _app_over_tls(tls_server: TLSRedisProcess, tmp_path: Path, **extra: str) -> LabApp:
    env = app_env(tmp_path / "home", tmp_path / "unused-data", REDIS_URL=tls_server.url, **extra)
    return LabApp(env, tmp_path)


def test_tls_app_saves_a_turn_when_redis_ca_cert_names_the_ca(tls_server: TLSRedisProcess, tmp_path: Path) -> None:
    app = _app_over_tls(tls_server, tmp_path, REDIS_CA_CERT=str(tls_server.certificates.ca_cert))
    try:
        app.menu()
        app.say("Over TLS: I want to go to Bergen.")
        app.send("0")
        assert app.finish() == 0
    finally:
        app.kill()
    assert not has_traceback(app.transcript)


def test_tls_app_without_redis_ca_cert_refuses_at_start_with_a_clear_message(
    tls_server: TLSRedisProcess, tmp_path: Path
) -> None:
    """An untrusted certificate stops the app before its menu: nothing can be sent to that server."""
    app = _app_over_tls(tls_server, tmp_path)
    try:
        status = app.finish()
    finally:
        app.kill()
    output = app.transcript.strip()
    assert status == 1
    assert output.count("\n") == 0, output  # one line
    assert "does not trust" in output and "REDIS_CA_CERT" in output
    assert f"127.0.0.1:{tls_server.port}" in output
    assert not has_traceback(app.transcript)


# -- the start-up check (redis_probe) over TLS ---------------------------------------------


def test_tls_probe_passes_when_told_the_ca(tls_server: TLSRedisProcess) -> None:
    probe_redis(tls_server.url, ca_cert=str(tls_server.certificates.ca_cert))


def test_tls_probe_names_an_untrusted_certificate_and_the_variable_to_set(tls_server: TLSRedisProcess) -> None:
    with pytest.raises(RedisProbeError, match=r"does not trust .*Set REDIS_CA_CERT"):
        probe_redis(tls_server.url)


def test_tls_probe_checks_the_host_name(tmp_path: Path, tls_capable: None) -> None:
    wrong_name = make_certificates(tmp_path / "certs", server_names=("db.example.invalid",))
    server = TLSRedisProcess(tmp_path / "tls-redis", wrong_name).start()
    try:
        with pytest.raises(RedisProbeError, match="does not trust") as refused:
            probe_redis(server.url, ca_cert=str(wrong_name.ca_cert))
    finally:
        server.kill()
    assert "127.0.0.1" in str(refused.value)


def test_tls_probe_refuses_a_wrong_password_without_showing_it(
    tmp_path: Path, certificates: Certificates, tls_capable: None
) -> None:
    server = TLSRedisProcess(tmp_path / "tls-redis", certificates, password=PASSWORD).start()
    try:
        wrong = server.url.replace(PASSWORD, "not-the-" + PASSWORD)
        with pytest.raises(RedisProbeError, match="refused the password") as refused:
            probe_redis(wrong, ca_cert=str(certificates.ca_cert))
    finally:
        server.kill()
    assert PASSWORD not in str(refused.value)


def test_plain_redis_url_on_a_tls_port_says_to_use_rediss(tls_server: TLSRedisProcess) -> None:
    plain = tls_server.url.replace("rediss://", "redis://")
    with pytest.raises(RedisProbeError, match=r"did not answer as Redis does; .*use rediss://"):
        probe_redis(plain)
