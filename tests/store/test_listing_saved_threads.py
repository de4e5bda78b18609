"""Beyond the lab, point 6: the store lists its own saved threads (SCAN, never KEYS)."""

from __future__ import annotations

import fakeredis
import pytest
from agent_framework import ChatMessage

from redis_chat_message_store import RedisChatMessageStore
from tests.support.round_trips import CountingConnection, counting_client
from tests.support.valkey import ValkeyProcess


async def _save(store: RedisChatMessageStore, *texts: str) -> None:
    await store.add_messages([ChatMessage(role="user", text=text) for text in texts])


@pytest.mark.fast
async def test_listing_gives_each_thread_its_id_and_message_count(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11", thread_id="thread_a")
    await _save(store, "one", "two")
    await _save(store.for_thread("thread_b"), "three")
    listed = {thread.thread_id: thread.message_count for thread in await store.list_saved_threads()}
    assert listed == {"thread_a": 2, "thread_b": 1}


@pytest.mark.fast
async def test_listing_shows_the_start_of_the_first_user_message(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11")
    await store.add_messages(
        [ChatMessage(role="system", text="be brief"), ChatMessage(role="user", text="Plan  a week\nin Kyoto " * 20)]
    )
    (thread,) = await store.list_saved_threads()
    assert thread.preview.startswith("Plan a week in Kyoto")
    assert len(thread.preview) <= 60


@pytest.mark.fast
async def test_listing_puts_the_most_recently_written_thread_first(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11", thread_id="old")
    newer = store.for_thread("new")
    await _save(store, "first")
    await _save(newer, "second")
    assert [thread.thread_id for thread in await store.list_saved_threads(limit=20)] == ["new", "old"]
    await _save(store, "third")
    assert [thread.thread_id for thread in await store.list_saved_threads(limit=20)] == ["old", "new"]
    assert [thread.thread_id for thread in await store.list_saved_threads()] == ["old", "new"]


@pytest.mark.fast
async def test_listing_with_a_limit_returns_at_most_that_many(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11")
    for number in range(30):
        await _save(store.for_thread(f"t{number:02}"), "x")
    recent = await store.list_saved_threads(limit=20)
    assert [thread.thread_id for thread in recent] == [f"t{number:02}" for number in range(29, 9, -1)]


@pytest.mark.fast
async def test_listing_skips_keys_that_are_not_lists(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11", thread_id="real")
    await _save(store, "x")
    await fake_redis.hset("lab11:a-hash", mapping={"k": "v"})
    await fake_redis.set("lab11:a-string", "v")
    assert [thread.thread_id for thread in await store.list_saved_threads()] == ["real"]
    assert await fake_redis.type("lab11:a-hash") == "hash"


@pytest.mark.fast
async def test_glob_characters_in_the_prefix_match_only_themselves(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab[1]*", thread_id="mine")
    await _save(store, "x")
    await fake_redis.rpush("lab1:other", "{}")
    await fake_redis.rpush("lab[1]x:other", "{}")
    assert [thread.redis_key for thread in await store.list_saved_threads()] == ["lab[1]*:mine"]


@pytest.mark.fast
async def test_threads_written_without_the_index_are_found(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    message = ChatMessage(role="user", text="from another tool").to_json()
    await fake_redis.rpush("lab11:thread_elsewhere", message)
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11")
    assert [thread.thread_id for thread in await store.list_saved_threads(limit=20)] == ["thread_elsewhere"]


@pytest.mark.fast
async def test_a_cleared_thread_drops_out_of_the_recent_list(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11", thread_id="keep")
    gone = store.for_thread("gone")
    await _save(store, "x")
    await _save(gone, "y")
    await fake_redis.delete(gone.redis_key)  # as if it expired
    assert [thread.thread_id for thread in await store.list_saved_threads(limit=20)] == ["keep"]
    assert await fake_redis.zrange(store.history.index_key, 0, -1) == ["keep"]


@pytest.mark.server
async def test_listing_uses_scan_and_never_keys(redis_server: ValkeyProcess) -> None:
    store = RedisChatMessageStore(redis_url=redis_server.url, key_prefix="lab11")
    for number in range(5):
        await _save(store.for_thread(f"t{number}"), "x")
    await store.list_saved_threads()
    await store.list_saved_threads(limit=3)
    with redis_server.client() as client:
        stats = client.info("commandstats")
    assert "cmdstat_keys" not in stats
    assert stats["cmdstat_scan"]["calls"] >= 1
    await store.aclose()


@pytest.mark.fast
async def test_a_limit_of_zero_lists_nothing(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11")
    await _save(store, "x")
    assert await store.list_saved_threads(limit=0) == []


@pytest.mark.server
async def test_the_recent_threads_take_two_round_trips(redis_server: ValkeyProcess) -> None:
    client = counting_client(redis_server.port)
    store = RedisChatMessageStore(redis_client=client, key_prefix="lab11")
    for number in range(3):
        await _save(store.for_thread(f"t{number}"), "x")
    CountingConnection.writes = 0
    threads = await store.list_saved_threads(limit=20)
    assert len(threads) == 3
    assert CountingConnection.writes == 2  # ZREVRANGE, then one pipeline of LLEN + LRANGE per thread
    await client.aclose()
