"""Beyond the lab, point 4: a corrupt entry is skipped with one warning and left where it is."""

from __future__ import annotations

import logging

import fakeredis
import pytest
from agent_framework import ChatMessage

from redis_chat_message_store import RedisChatMessageStore

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    "corrupt",
    ["this is not json {", '["a", "list"]', '{"no": "role"}', '"just a string"', "42", '{"role": 7, "text": 1}'],
)
async def test_an_entry_that_is_not_a_message_is_skipped_with_one_warning(
    fake_redis: fakeredis.FakeAsyncRedis, caplog: pytest.LogCaptureFixture, corrupt: str
) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11", thread_id="t1")
    await store.add_messages([ChatMessage(role="user", text="before")])
    await fake_redis.rpush(store.redis_key, corrupt)
    await store.add_messages([ChatMessage(role="assistant", text="after")])

    with caplog.at_level(logging.WARNING, logger="redis_chat_message_store"):
        messages = await store.list_messages()

    assert [message.text for message in messages] == ["before", "after"]
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "lab11:t1" in warnings[0] and "entry 1" in warnings[0]


async def test_a_skipped_entry_stays_in_redis_untouched(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, thread_id="t1")
    await fake_redis.rpush(store.redis_key, "garbage")
    await store.list_messages()
    assert await fake_redis.lrange(store.redis_key, 0, -1) == ["garbage"]


async def test_a_corrupt_entry_is_reported_once_not_at_every_read(
    fake_redis: fakeredis.FakeAsyncRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """The agent reads the whole thread on every turn; the warning is not repeated each time."""
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11", thread_id="t1")
    await fake_redis.rpush(store.redis_key, "garbage")
    await store.add_messages([ChatMessage(role="user", text="after")])

    with caplog.at_level(logging.WARNING, logger="redis_chat_message_store"):
        for _ in range(3):
            assert [message.text for message in await store.list_messages()] == ["after"]

    assert len([record for record in caplog.records if record.levelno == logging.WARNING]) == 1


async def test_each_corrupt_entry_gets_its_own_warning(
    fake_redis: fakeredis.FakeAsyncRedis, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11", thread_id="t1")
    await fake_redis.rpush(store.redis_key, "garbage", "[1, 2]")

    with caplog.at_level(logging.WARNING, logger="redis_chat_message_store"):
        await store.list_messages()

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "entry 0" in warnings[0] and "entry 1" in warnings[1]
