"""Who owns a store's connection, on a real server: closing one store must not break another."""

from __future__ import annotations

import pytest
import redis.asyncio as redis
from agent_framework import ChatMessage

from redis_chat_message_store import RedisChatMessageStore
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.server


async def test_a_store_for_another_thread_keeps_working_after_the_first_is_closed(
    redis_server: ValkeyProcess,
) -> None:
    first = RedisChatMessageStore(redis_url=redis_server.url, key_prefix="lab11")
    second = first.for_thread("thread_second")
    await first.aclose()

    await second.add_messages([ChatMessage(role="user", text="still here")])

    assert [message.text for message in await second.list_messages()] == ["still here"]
    await second.aclose()


async def test_a_store_for_another_thread_shares_a_client_it_was_given(redis_server: ValkeyProcess) -> None:
    client = redis.from_url(redis_server.url, decode_responses=True)
    first = RedisChatMessageStore(redis_client=client, key_prefix="lab11")
    second = first.for_thread("thread_second")
    await first.aclose()
    await second.aclose()

    await second.add_messages([ChatMessage(role="user", text="the caller's client stays open")])

    assert await client.llen("lab11:thread_second") == 1
    await client.aclose()
