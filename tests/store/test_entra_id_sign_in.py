"""Issue 9, point 3: Microsoft Entra ID sign-in, on loopback (see tests/support/entra.py).

A real Valkey plays the Azure cache: its only way in is an ACL user named like an Entra object id
whose password is the current token. The token source rotates it, revokes the old one and kills
live connections, as a revocation on the Azure side would; the next write and read must still go
through, and no token may show up in a repr, a log line, an error or the store's state.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from agent_framework import ChatMessage
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from lab11_persistence.server.entra_id import SCOPE, EntraIdSignInError, redis_credential_provider, sign_in
from tests.support.entra import OBJECT_ID, EntraSignIn, make_token, wait_until
from tests.support.loopback_only import sitecustomize as loopback_guard
from tests.support.valkey import ValkeyProcess


@pytest.fixture
def entra(redis_server: ValkeyProcess, tmp_path: Path) -> EntraSignIn:
    return EntraSignIn(redis_server, tmp_path / "entra")


@pytest.fixture
def off_machine_attempts() -> Iterator[list[str]]:
    """This process may reach only loopback addresses while the test runs; the list holds every attempt."""
    attempts: list[str] = []
    undo = loopback_guard.install(attempts.append)
    yield attempts
    undo()


def _client(server: ValkeyProcess, credential: object) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=server.port,
        credential_provider=redis_credential_provider(credential=credential),  # type: ignore[arg-type]
        decode_responses=True,
    )


@pytest.mark.server
async def test_the_client_signs_in_as_the_tokens_object_id(redis_server: ValkeyProcess, entra: EntraSignIn) -> None:
    client = _client(redis_server, entra)
    assert await client.acl_whoami() == OBJECT_ID
    assert entra.scopes_requested[0] == (SCOPE,)
    await client.aclose()


@pytest.mark.server
async def test_nothing_gets_in_without_signing_in(redis_server: ValkeyProcess, entra: EntraSignIn) -> None:
    """The harness's own check: the default user is off, so a passing test really signed in."""
    anonymous = redis.Redis(host="127.0.0.1", port=redis_server.port, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError):
        await anonymous.ping()
    await anonymous.aclose()


@pytest.mark.server
async def test_the_next_write_and_read_go_through_after_rotation_revocation_and_kill(
    redis_server: ValkeyProcess, entra: EntraSignIn
) -> None:
    client = _client(redis_server, entra)
    await client.rpush("lab11:thread_a", "before")
    assert entra.rotate() >= 1  # the client's live connection was cut
    assert entra.connections() == 0
    await client.rpush("lab11:thread_a", "after")
    assert await client.lrange("lab11:thread_a", 0, -1) == ["before", "after"]
    assert entra.connections() >= 1
    assert entra.failed_sign_ins() == []
    await client.aclose()


@pytest.mark.server
async def test_tokens_are_renewed_before_they_expire_and_idle_connections_sign_in_again(
    redis_server: ValkeyProcess, tmp_path: Path
) -> None:
    """Tokens that live two seconds; each new one revokes the old, and no connection is cut.

    The idle connection stays the same one (no reconnect) and answers AUTH with the token that
    is valid by then: redis-entraid renewed it before it expired and signed the connection in again.
    """
    entra = EntraSignIn(
        redis_server, tmp_path / "entra", lifetime_seconds=2, new_token_per_request=True, revoke_on_issue=True
    )
    client = _client(redis_server, entra)
    await client.rpush("lab11:thread_a", "first")
    connection_ids = await _connection_ids(entra)
    assert await wait_until(lambda: entra.auth_calls() >= 1), "no renewal within the wait"
    assert await _connection_ids(entra) == connection_ids
    assert entra.failed_sign_ins() == []
    await client.rpush("lab11:thread_a", "second")
    assert await client.lrange("lab11:thread_a", 0, -1) == ["first", "second"]
    await client.aclose()


@pytest.mark.server
async def test_a_failed_renewal_says_so_in_one_line_and_the_next_connection_signs_in(
    redis_server: ValkeyProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entra = EntraSignIn(redis_server, tmp_path / "entra", lifetime_seconds=2)
    client = _client(redis_server, entra)
    await client.rpush("lab11:thread_a", "first")
    entra.sign_out()
    assert await wait_until(lambda: "Could not renew the Microsoft Entra ID token" in caplog.text)
    (warning,) = [record for record in caplog.records if "Could not renew" in record.getMessage()]
    assert "\n" not in warning.getMessage() and "az login" in warning.getMessage()
    entra.signed_out = False
    entra.rotate()  # the old token is revoked and the connection cut: only a new sign-in gets back in
    await client.rpush("lab11:thread_a", "second")
    assert await client.lrange("lab11:thread_a", 0, -1) == ["first", "second"]
    await client.aclose()


@pytest.mark.server
async def test_a_failed_sign_in_is_one_line_that_says_to_run_az_login(
    redis_server: ValkeyProcess, entra: EntraSignIn
) -> None:
    entra.sign_out()
    client = _client(redis_server, entra)
    with pytest.raises(EntraIdSignInError) as failed:
        await client.ping()
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("Could not sign in to Redis with Microsoft Entra ID")
    assert "az login" in message
    await client.aclose()


@pytest.mark.server
async def test_a_token_that_names_no_identity_is_refused_in_one_line(redis_server: ValkeyProcess) -> None:
    class NoObjectId:
        def get_token(self, *scopes: str, **kwargs: object) -> object:
            from azure.core.credentials import AccessToken

            return AccessToken(make_token(object_id=""), 4_000_000_000)

    client = _client(redis_server, NoObjectId())
    with pytest.raises(EntraIdSignInError, match="no oid claim"):
        await client.ping()
    await client.aclose()


@pytest.mark.server
async def test_no_token_appears_in_reprs_logs_or_errors(
    redis_server: ValkeyProcess, entra: EntraSignIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = redis_credential_provider(credential=entra)
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, credential_provider=provider)
    await client.set("lab11:x", "1")
    entra.rotate()
    await client.get("lab11:x")
    entra.sign_out()
    entra.revoke_old_tokens()
    errors: list[str] = []
    try:
        await client.get("lab11:x")
    except Exception as error:
        errors.append(f"{type(error).__name__}: {error!r} {error}")
    assert errors, "signed out and cut off, the client should have failed"
    shown = " ".join([*errors, repr(provider), repr(client), repr(client.connection_pool), repr(entra), caplog.text])
    assert [token for token in entra.secrets if token in shown] == []
    await client.aclose()


@pytest.mark.server
def test_sign_in_gives_the_object_id_and_token_for_the_start_up_check(entra: EntraSignIn) -> None:
    assert sign_in(entra) == (OBJECT_ID, entra.current)


@pytest.mark.server
def test_sign_in_failure_is_one_line(entra: EntraSignIn) -> None:
    entra.sign_out()
    with pytest.raises(EntraIdSignInError, match=r"^Could not sign in to Redis with Microsoft Entra ID \(.*az login"):
        sign_in(entra)


@pytest.mark.server
async def test_default_azure_credential_signs_in_through_az_without_leaving_this_machine(
    redis_server: ValkeyProcess,
    entra: EntraSignIn,
    off_machine_attempts: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the app does: DefaultAzureCredential, here with the Azure CLI credential alone (the fake az)."""
    from azure.identity import DefaultAzureCredential

    for name, value in entra.az_environment().items():
        if name != "PYTHONPATH":  # the guard is installed in this process already
            monkeypatch.setenv(name, value)
    client = _client(redis_server, DefaultAzureCredential())
    await client.rpush("lab11:thread_a", "before")
    assert entra.rotate() >= 1
    await client.rpush("lab11:thread_a", "after")
    assert await client.lrange("lab11:thread_a", 0, -1) == ["before", "after"]
    await client.aclose()
    assert off_machine_attempts == []
    calls = entra.az_calls()
    assert calls and all(call[:2] == ["account", "get-access-token"] for call in calls)
    assert all("https://redis.azure.com" in call for call in calls)


@pytest.mark.fast
def test_the_loopback_guard_stops_an_address_off_this_machine_before_connecting(
    off_machine_attempts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard itself: it must refuse before the real connect (which here would fail the test)."""
    import socket

    def real_connect(*_: object) -> None:
        pytest.fail("the guard let a connection to an address off this machine through")

    monkeypatch.setattr(loopback_guard, "_real_connect", real_connect)
    with socket.socket() as sock, pytest.raises(loopback_guard.OffMachineConnection):
        sock.connect(("169.254.169.254", 80))
    with pytest.raises(loopback_guard.OffMachineConnection):
        socket.getaddrinfo("login.microsoftonline.com", 443)
    assert len(off_machine_attempts) == 2


# -- the store, once it takes Microsoft's constructor arguments --------------------------------

TURN = [
    ChatMessage(role="user", text="Hi, my name is Ada and I want to go to Lisbon."),
    ChatMessage(role="assistant", text="Lisbon it is, Ada."),
]


def _entra_store(server: ValkeyProcess, entra: EntraSignIn, thread_id: str = "thread_a"):  # type: ignore[no-untyped-def]
    from redis_chat_message_store import RedisChatMessageStore

    return RedisChatMessageStore(
        credential_provider=redis_credential_provider(credential=entra),
        host="127.0.0.1",
        port=server.port,
        ssl=False,
        thread_id=thread_id,
        key_prefix="lab11",
    )


@pytest.mark.server
async def test_the_store_adds_and_lists_across_a_rotation(redis_server: ValkeyProcess, entra: EntraSignIn) -> None:
    store = _entra_store(redis_server, entra)
    await store.add_messages(TURN[:1])
    assert entra.rotate() >= 1
    await store.add_messages(TURN[1:])
    assert [message.text for message in await store.list_messages()] == [message.text for message in TURN]
    assert entra.failed_sign_ins() == []
    await store.aclose()


@pytest.mark.server
async def test_the_stores_state_and_snapshot_hold_no_token(redis_server: ValkeyProcess, entra: EntraSignIn) -> None:
    store = _entra_store(redis_server, entra)
    await store.add_messages(TURN)
    state = await store.serialize_state()
    snapshot = await store.serialize()
    shown = json.dumps({"state": state, "snapshot": dict(snapshot)}, default=str) + repr(store)
    assert [token for token in entra.secrets if token in shown] == []
    assert OBJECT_ID not in shown  # the state names the thread, not who signed in
    await store.aclose()


@pytest.mark.server
async def test_the_store_as_the_app_builds_it_signs_in_with_default_azure_credential(
    redis_server: ValkeyProcess, entra: EntraSignIn, off_machine_attempts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``REDIS_URL`` without a password plus ``REDIS_ENTRA_ID=1``: the options the app adds to every store."""
    from lab11_persistence import config
    from lab11_persistence.server import entra_id
    from redis_chat_message_store import RedisChatMessageStore

    for name, value in entra.az_environment().items():
        if name != "PYTHONPATH":
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(entra_id, "_credential", None)
    monkeypatch.setattr(entra_id, "_shared_provider", None)
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    settings = config.load_settings({"REDIS_URL": url, "REDIS_ENTRA_ID": "1"}, read_dotenv=False)
    assert settings.problems == ()
    store = RedisChatMessageStore(thread_id="thread_a", key_prefix="lab11", **entra_id.store_connection(settings, url))
    await store.add_messages(TURN[:1])
    entra.rotate()
    await store.add_messages(TURN[1:])
    assert len(await store.list_messages()) == 2
    await store.aclose()
    assert off_machine_attempts == []


@pytest.mark.server
async def test_the_store_as_the_app_builds_it_renews_tokens_on_idle_connections(
    redis_server: ValkeyProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """redis-py signs pooled connections in again only for a client it built with the provider itself.

    ``redis.asyncio.from_url(url, credential_provider=...)`` hands the client a ready pool, and redis-py
    then registers no renewal ("No registered callback for token renewal task"): the store must build
    ``redis.asyncio.Redis(host=..., port=..., credential_provider=...)`` from the URL instead.
    """
    from lab11_persistence import config
    from lab11_persistence.server import entra_id
    from redis_chat_message_store import RedisChatMessageStore

    entra = EntraSignIn(
        redis_server, tmp_path / "entra", lifetime_seconds=2, new_token_per_request=True, revoke_on_issue=True
    )
    monkeypatch.setattr(entra_id, "_credential", entra)  # what DefaultAzureCredential would be
    monkeypatch.setattr(entra_id, "_shared_provider", None)
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    settings = config.load_settings({"REDIS_URL": url, "REDIS_ENTRA_ID": "1"}, read_dotenv=False)
    store = RedisChatMessageStore(thread_id="thread_a", key_prefix="lab11", **entra_id.store_connection(settings, url))
    await store.add_messages(TURN[:1])
    assert await wait_until(lambda: entra.auth_calls() >= 1), "the store's idle connection was never signed in again"
    assert "No registered callback" not in caplog.text
    await store.add_messages(TURN[1:])
    assert len(await store.list_messages()) == 2
    assert entra.failed_sign_ins() == []
    await store.aclose()


async def _connection_ids(entra: EntraSignIn) -> list[str]:
    with entra.admin() as admin:
        listing = admin.execute_command("CLIENT", "LIST")
    return sorted(
        field.split("=", 1)[1]
        for line in listing.splitlines()
        if f" user={entra.object_id} " in f" {line} "
        for field in line.split()
        if field.startswith("id=")
    )
