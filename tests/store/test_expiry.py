"""Beyond the lab, point 8: optional expiry, refreshed by every write inside the same transaction."""

from __future__ import annotations

import fakeredis
import pytest
from agent_framework import ChatMessage

from redis_chat_message_store import RedisChatMessageStore

pytestmark = pytest.mark.fast


async def test_threads_do_not_expire_by_default(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis)
    await store.add_messages([ChatMessage(role="user", text="x")])
    assert await fake_redis.ttl(store.redis_key) == -1


async def test_ttl_seconds_sets_an_expiry_on_write(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, ttl_seconds=3600)
    await store.add_messages([ChatMessage(role="user", text="x")])
    assert 3590 < await fake_redis.ttl(store.redis_key) <= 3600


async def test_every_write_refreshes_the_expiry(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, ttl_seconds=3600)
    await store.add_messages([ChatMessage(role="user", text="x")])
    await fake_redis.expire(store.redis_key, 5)  # as if most of the hour had passed
    await store.add_messages([ChatMessage(role="assistant", text="y")])
    assert await fake_redis.ttl(store.redis_key) > 3590


async def test_ttl_survives_serialization(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, ttl_seconds=60)
    rebuilt = await RedisChatMessageStore.deserialize(dict(await store.serialize()), redis_client=fake_redis)
    assert rebuilt.ttl_seconds == 60
