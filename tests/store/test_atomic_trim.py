"""Beyond the lab, point 1: push and trim in one MULTI/EXEC, one round trip, on a real server."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest
import redis.asyncio as redis
from agent_framework import ChatMessage
from redis.crc import key_slot

from redis_chat_message_store import RedisChatMessageStore
from tests.support.lab_release import chat_turn
from tests.support.round_trips import CountingConnection, counting_client
from tests.support.valkey import ValkeyProcess

pytestmark = [pytest.mark.server, pytest.mark.shares_a_server]


_turn = partial(chat_turn, user="q{}")


# What the probe's own connection sends; not part of the store's traffic.
PROBE_COMMANDS = {"hello", "client|setinfo", "info"}


def _command_calls(server: ValkeyProcess) -> dict[str, int]:
    with server.client() as client:
        stats = client.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(values["calls"]) for name, values in stats.items()}
    return {name: count for name, count in calls.items() if name not in PROBE_COMMANDS}


async def test_add_messages_is_one_round_trip_on_a_full_thread(redis_server: ValkeyProcess) -> None:
    client = counting_client(redis_server.port)
    store = RedisChatMessageStore(redis_client=client, key_prefix="lab11", max_messages=4, ttl_seconds=600)
    for number in range(3):
        await store.add_messages(_turn(number))
    CountingConnection.writes = 0
    await store.add_messages(_turn(3))
    assert CountingConnection.writes == 1
    await client.aclose()


async def test_push_trim_and_expiry_run_inside_one_transaction(redis_server: ValkeyProcess) -> None:
    store = RedisChatMessageStore(redis_url=redis_server.url, key_prefix="lab11", max_messages=4, ttl_seconds=600)
    await store.add_messages(_turn(0))
    before = _command_calls(redis_server)
    await store.add_messages(_turn(1))
    after = _command_calls(redis_server)
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    assert {name: count for name, count in delta.items() if count} == {
        "multi": 1,
        "rpush": 1,
        "ltrim": 1,
        "expire": 1,
        "set": 1,
        "zadd": 1,
        "exec": 1,
    }
    await store.aclose()


async def test_a_reader_never_sees_more_than_max_messages(redis_server: ValkeyProcess) -> None:
    limit = 20
    writer = RedisChatMessageStore(redis_url=redis_server.url, thread_id="busy", max_messages=limit)
    reader = redis.from_url(redis_server.url, decode_responses=True)
    largest_seen = 0
    writing = True

    async def read_until_done() -> None:
        nonlocal largest_seen
        while writing:
            largest_seen = max(largest_seen, await reader.llen(writer.redis_key))

    watcher = asyncio.create_task(read_until_done())
    for number in range(300):
        await writer.add_messages(_turn(number))
    writing = False
    await watcher
    assert 0 < largest_seen <= limit
    await writer.aclose()
    await reader.aclose()


async def test_two_writers_leave_exactly_the_newest_max_messages(redis_server: ValkeyProcess) -> None:
    first = RedisChatMessageStore(redis_url=redis_server.url, thread_id="shared", max_messages=50)
    second = first.for_thread("shared")

    async def write(store: RedisChatMessageStore, name: str) -> None:
        for number in range(100):
            await store.add_messages([ChatMessage(role="user", text=f"{name}{number}")])

    await asyncio.gather(write(first, "a"), write(second, "b"))
    texts = [message.text for message in await first.list_messages()]
    assert len(texts) == 50
    assert {"a99", "b99"} <= set(texts)
    for name in "ab":
        mine = [int(text[1:]) for text in texts if text.startswith(name)]
        assert mine == sorted(mine)
    await first.aclose()
    await second.aclose()


async def test_the_write_token_shares_the_thread_keys_hash_slot(redis_server: ValkeyProcess) -> None:
    store = RedisChatMessageStore(redis_url=redis_server.url, thread_id="t1", key_prefix="lab11")
    tagged = RedisChatMessageStore(redis_url=redis_server.url, thread_id="t1", key_prefix="lab{11}")
    assert key_slot(store.history.write_token_key(store.thread_id).encode()) == key_slot(store.redis_key.encode())
    assert key_slot(tagged.history.write_token_key(tagged.thread_id).encode()) == key_slot(tagged.redis_key.encode())
    await store.aclose()
    await tagged.aclose()
