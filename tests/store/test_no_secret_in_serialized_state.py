"""Beyond the lab, point 2: the password never leaves the process in state, reprs or errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_framework import AgentThread, ChatMessage

from redis_chat_message_store import (
    RedisChatMessageStore,
    RedisUnavailableError,
    describe_redis_url,
    url_without_credentials,
)
from tests.support.valkey import ValkeyProcess, free_port

PASSWORD = "S3cret-Pa55word-for-lab11"


@pytest.fixture
def locked_server(tmp_path: Path) -> ValkeyProcess:
    server = ValkeyProcess(tmp_path / "locked", password=PASSWORD).start()
    yield server
    server.kill()


@pytest.mark.fast
def test_url_without_credentials_drops_user_and_password() -> None:
    assert (
        url_without_credentials(f"rediss://default:{PASSWORD}@cache.example:6380/0") == "rediss://cache.example:6380/0"
    )


@pytest.mark.fast
def test_describe_redis_url_names_host_port_and_db_only() -> None:
    assert describe_redis_url(f"rediss://:{PASSWORD}@cache.example:6380/3") == "cache.example:6380/3"


@pytest.mark.fast
def test_serialized_state_has_no_password() -> None:
    store = RedisChatMessageStore(redis_url=f"rediss://user:{PASSWORD}@cache.example:6380/0")
    assert store.current_state().redis_url == "rediss://cache.example:6380/0"
    assert PASSWORD not in store.current_state().model_dump_json()


@pytest.mark.fast
async def test_thread_snapshot_has_no_password() -> None:
    store = RedisChatMessageStore(redis_url=f"redis://:{PASSWORD}@127.0.0.1:6379/0")
    snapshot = await AgentThread(message_store=store).serialize()
    assert PASSWORD not in json.dumps(snapshot)


@pytest.mark.fast
def test_repr_has_no_password() -> None:
    store = RedisChatMessageStore(redis_url=f"redis://admin:{PASSWORD}@127.0.0.1:6379/0")
    assert PASSWORD not in repr(store)
    assert "admin" not in repr(store)


@pytest.mark.server
async def test_an_unreachable_server_error_names_host_and_port_but_not_the_password() -> None:
    port = free_port()
    store = RedisChatMessageStore(redis_url=f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    with pytest.raises(RedisUnavailableError) as raised:
        await store.add_messages([ChatMessage(role="user", text="x")])
    assert f"127.0.0.1:{port}" in str(raised.value)
    assert PASSWORD not in str(raised.value)
    await store.aclose()


@pytest.mark.server
async def test_a_wrong_password_error_does_not_echo_it(locked_server: ValkeyProcess) -> None:
    store = RedisChatMessageStore(redis_url=f"redis://:wrong-{PASSWORD}@127.0.0.1:{locked_server.port}/0")
    with pytest.raises(RedisUnavailableError) as raised:
        await store.count()  # ping() answers False instead, as Microsoft's store does
    assert PASSWORD not in str(raised.value)
    await store.aclose()


async def _saved_thread(server: ValkeyProcess) -> dict:
    store = RedisChatMessageStore(redis_url=server.url, key_prefix="lab11")
    await store.add_messages([ChatMessage(role="user", text="kept")])
    serialized = json.loads(json.dumps(dict(await store.serialize())))
    await store.aclose()
    return serialized


@pytest.mark.server
async def test_rebuilding_takes_credentials_from_an_explicit_url_first(
    locked_server: ValkeyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:wrong@127.0.0.1:1/0")
    store = await RedisChatMessageStore.deserialize(await _saved_thread(locked_server), redis_url=locked_server.url)
    assert [message.text for message in await store.list_messages()] == ["kept"]
    await store.aclose()


@pytest.mark.server
async def test_rebuilding_takes_credentials_from_redis_url_in_the_environment(
    locked_server: ValkeyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", locked_server.url)
    store = await RedisChatMessageStore.deserialize(await _saved_thread(locked_server))
    assert [message.text for message in await store.list_messages()] == ["kept"]
    await store.aclose()


@pytest.mark.server
async def test_rebuilding_falls_back_to_the_stored_url_as_it_is(
    redis_server: ValkeyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    store = await RedisChatMessageStore.deserialize(await _saved_thread(redis_server))
    assert [message.text for message in await store.list_messages()] == ["kept"]
    await store.aclose()


@pytest.mark.server
async def test_rebuilding_with_no_url_that_connects_is_a_clear_error(
    locked_server: ValkeyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://:not-{PASSWORD}@127.0.0.1:{locked_server.port}/0")
    with pytest.raises(RedisUnavailableError, match="Could not reconnect") as raised:
        await RedisChatMessageStore.deserialize(await _saved_thread(locked_server))
    assert PASSWORD not in str(raised.value)
