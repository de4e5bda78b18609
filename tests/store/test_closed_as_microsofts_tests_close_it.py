"""Microsoft's own integration tests for its store close every store with ``await store._redis_client.aclose()``
(the lab's listing names the client that way too). The same lines run on this store, on a real Valkey,
beside Microsoft's ``agent_framework_redis.RedisChatMessageStore`` 1.0.0b260130.
"""

from __future__ import annotations

import uuid

import pytest
from agent_framework import ChatMessage
from agent_framework_redis import RedisChatMessageStore as MicrosoftStore

from redis_chat_message_store import RedisChatMessageStore
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.server

STORES = [pytest.param(RedisChatMessageStore, id="ours"), pytest.param(MicrosoftStore, id="microsoft")]


def _turn() -> list[ChatMessage]:
    return [ChatMessage(role="user", text="Hello", message_id="m1"), ChatMessage(role="assistant", text="Hi!")]


def _connections(redis_server: ValkeyProcess) -> int:
    """Client connections the server holds, besides the one asking."""
    return len(redis_server.client().client_list()) - 1


@pytest.mark.parametrize("store_class", STORES)
async def test_closing_the_client_as_microsofts_tests_do_closes_the_stores_connections(
    store_class: type, redis_server: ValkeyProcess
) -> None:
    store = store_class(redis_url=redis_server.url, thread_id=f"thread_{uuid.uuid4()}")
    await store.add_messages(_turn())
    assert _connections(redis_server) >= 1
    await store.clear()
    await store._redis_client.aclose()
    assert _connections(redis_server) == 0


async def test_state_survives_a_store_closed_that_way(redis_server: ValkeyProcess) -> None:
    """(Microsoft's 1.0.0b260130 store no longer has serialize_state, which its own test of this still calls.)"""
    store_class = RedisChatMessageStore
    first = store_class(redis_url=redis_server.url, thread_id=f"thread_{uuid.uuid4()}", key_prefix="t", max_messages=50)
    await first.add_messages(_turn())
    state = await first.serialize_state()
    await first._redis_client.aclose()

    second = store_class(redis_url=redis_server.url)
    await second.deserialize_state(state)
    assert (second.key_prefix, second.max_messages) == ("t", 50)
    assert [message.text for message in await second.list_messages()] == ["Hello", "Hi!"]
    await second.clear()
    await second._redis_client.aclose()


@pytest.mark.parametrize("store_class", STORES)
async def test_initial_messages_then_closed_that_way(store_class: type, redis_server: ValkeyProcess) -> None:
    store = store_class(redis_url=redis_server.url, thread_id=f"thread_{uuid.uuid4()}", messages=_turn())
    assert [message.text for message in await store.list_messages()] == ["Hello", "Hi!"]
    await store.clear()
    await store._redis_client.aclose()
    assert _connections(redis_server) == 0
