"""Beyond the lab, point 7: Microsoft's RedisChatMessageStore and this one read each other's threads."""

from __future__ import annotations

import pytest
from agent_framework import ChatMessage
from agent_framework_redis import RedisChatMessageStore as MicrosoftStore

from redis_chat_message_store import RedisChatMessageStore
from tests.support.valkey import ValkeyProcess

pytestmark = [pytest.mark.server, pytest.mark.shares_a_server]

TURN = [
    ChatMessage(role="user", text="Two nights in Porto, please 🍷", message_id="u1"),
    ChatMessage(role="assistant", text="Booked: Porto, two nights.", author_name="planner"),
]


async def test_a_thread_written_by_microsofts_store_reads_back_here(redis_server: ValkeyProcess) -> None:
    theirs = MicrosoftStore(redis_url=redis_server.url, thread_id="thread_ms", key_prefix="lab11")
    await theirs.add_messages(TURN)
    ours = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_ms", key_prefix="lab11")
    assert [message.to_dict() for message in await ours.list_messages()] == [message.to_dict() for message in TURN]
    await theirs.aclose()
    await ours.aclose()


async def test_a_thread_written_here_reads_back_in_microsofts_store(redis_server: ValkeyProcess) -> None:
    ours = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_ours", key_prefix="lab11")
    await ours.add_messages(TURN)
    theirs = MicrosoftStore(redis_url=redis_server.url, thread_id="thread_ours", key_prefix="lab11")
    assert [message.to_dict() for message in await theirs.list_messages()] == [message.to_dict() for message in TURN]
    await theirs.aclose()
    await ours.aclose()


async def test_both_stores_use_the_same_key(redis_server: ValkeyProcess) -> None:
    theirs = MicrosoftStore(redis_url=redis_server.url, thread_id="thread_x", key_prefix="lab11")
    ours = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_x", key_prefix="lab11")
    assert ours.redis_key == theirs.redis_key == "lab11:thread_x"
    await theirs.aclose()
    await ours.aclose()


async def test_a_message_written_by_microsofts_store_is_found_and_removed_here(redis_server: ValkeyProcess) -> None:
    """Messages are matched by content, not by JSON bytes (theirs escapes non-ASCII, ours does not)."""
    theirs = MicrosoftStore(redis_url=redis_server.url, thread_id="thread_a", key_prefix="lab11")
    await theirs.add_messages([ChatMessage(role="user", text="Olá, José")])
    ours = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_a", key_prefix="lab11")
    assert await ours.index(ChatMessage(role="user", text="Olá, José")) == 0
    await ours.remove(ChatMessage(role="user", text="Olá, José"))
    assert await ours.count() == 0
    await theirs.aclose()
    await ours.aclose()
