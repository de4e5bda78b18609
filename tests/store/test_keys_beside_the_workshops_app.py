"""Living beside the workshop's own app, which takes every key under ``lab11:*`` for a thread."""

from __future__ import annotations

import fakeredis
import pytest
from agent_framework import ChatMessage

from redis_chat_message_store import RedisChatMessageStore

pytestmark = pytest.mark.fast


async def test_every_key_under_the_prefix_is_a_thread_list(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, thread_id="thread_a", key_prefix="lab11")
    await store.add_messages([ChatMessage(role="user", text="hi")])
    await store.list_saved_threads(limit=20)
    under_prefix = await fake_redis.keys("lab11:*")
    assert under_prefix == ["lab11:thread_a"]
    assert [await fake_redis.type(key) for key in under_prefix] == ["list"]


async def test_the_recency_index_lives_beside_the_prefix(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, thread_id="thread_a", key_prefix="lab11")
    await store.add_messages([ChatMessage(role="user", text="hi")])
    assert await fake_redis.zrange("lab11.recent-threads", 0, -1) == ["thread_a"]


async def test_an_index_of_an_older_release_is_moved_on_first_use_in_its_order(
    fake_redis: fakeredis.FakeAsyncRedis,
) -> None:
    for number, thread_id in enumerate(["oldest", "middle", "newest"]):
        await fake_redis.rpush(f"lab11:{thread_id}", '{"role": "user", "text": "x"}')
        await fake_redis.zadd("lab11:recent-threads", {thread_id: 1000.0 + number})
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11")
    listed = [thread.thread_id for thread in await store.list_saved_threads(limit=20)]
    assert listed == ["newest", "middle", "oldest"]
    assert await fake_redis.exists("lab11:recent-threads") == 0
    assert await fake_redis.zrange("lab11.recent-threads", 0, -1, withscores=True) == [
        ("oldest", 1000.0),
        ("middle", 1001.0),
        ("newest", 1002.0),
    ]


async def test_moving_keeps_the_newer_score_of_a_thread_in_both_indexes(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    await fake_redis.rpush("lab11:t", '{"role": "user", "text": "x"}')
    await fake_redis.zadd("lab11:recent-threads", {"t": 1000.0})
    await fake_redis.zadd("lab11.recent-threads", {"t": 2000.0})
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11")
    await store.list_saved_threads(limit=5)
    assert await fake_redis.zscore("lab11.recent-threads", "t") == 2000.0


async def test_a_thread_called_recent_threads_is_not_taken_for_an_old_index(
    fake_redis: fakeredis.FakeAsyncRedis,
) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, thread_id="recent-threads", key_prefix="lab11")
    await store.add_messages([ChatMessage(role="user", text="a real thread")])
    await store.for_thread("other").list_saved_threads(limit=5)
    assert [message.text for message in await store.list_messages()] == ["a real thread"]
