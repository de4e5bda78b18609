"""The store's behaviour as the lab describes it, on fakeredis (fast, no server)."""

from __future__ import annotations

import json
import re

import fakeredis
import pytest
from agent_framework import ChatMessage

from redis_chat_message_store import RedisChatMessageStore, RedisStoreState
from tests.support.messages import texts_of

pytestmark = pytest.mark.fast


def test_a_store_without_redis_url_is_refused() -> None:
    with pytest.raises(ValueError, match="redis_url"):
        RedisChatMessageStore()


def test_a_missing_thread_id_becomes_thread_and_a_uuid4(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis)
    assert re.fullmatch(r"thread_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", store.thread_id)


def test_two_stores_get_different_thread_ids(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    assert (
        RedisChatMessageStore(redis_client=fake_redis).thread_id
        != RedisChatMessageStore(redis_client=fake_redis).thread_id
    )


def test_redis_key_is_prefix_colon_thread_id(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, thread_id="thread_abc", key_prefix="lab11")
    assert store.redis_key == "lab11:thread_abc"


def test_default_key_prefix_is_chat_messages(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    assert RedisChatMessageStore(redis_client=fake_redis, thread_id="t").redis_key == "chat_messages:t"


def test_a_url_store_is_described_by_host_port_and_db() -> None:
    store = RedisChatMessageStore(redis_url="redis://127.0.0.1:1/0")
    assert store.location == "127.0.0.1:1/0"


async def test_add_messages_appends_in_order(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis)
    await store.add_messages([ChatMessage(role="user", text="one"), ChatMessage(role="assistant", text="two")])
    await store.add_messages([ChatMessage(role="user", text="three")])
    assert texts_of(await store.list_messages()) == ["one", "two", "three"]


async def test_list_messages_returns_chat_messages_with_their_roles(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis)
    await store.add_messages([ChatMessage(role="user", text="hi"), ChatMessage(role="assistant", text="hello")])
    messages = await store.list_messages()
    assert all(isinstance(message, ChatMessage) for message in messages)
    assert [message.role.value for message in messages] == ["user", "assistant"]


async def test_an_empty_thread_lists_no_messages(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    assert await RedisChatMessageStore(redis_client=fake_redis).list_messages() == []


async def test_adding_no_messages_writes_nothing(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis)
    await store.add_messages([])
    assert await fake_redis.keys("*") == []


async def test_max_messages_keeps_only_the_newest(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, max_messages=3)
    for number in range(7):
        await store.add_messages([ChatMessage(role="user", text=f"m{number}")])
    assert texts_of(await store.list_messages()) == ["m4", "m5", "m6"]


async def test_max_messages_trims_a_batch_larger_than_the_limit(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, max_messages=2)
    await store.add_messages([ChatMessage(role="user", text=f"m{number}") for number in range(5)])
    assert texts_of(await store.list_messages()) == ["m3", "m4"]


async def test_each_entry_is_compact_json_of_to_dict(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis)
    message = ChatMessage(role="user", text="Lisbon in May", author_name="ana")
    await store.add_messages([message])
    (raw,) = await fake_redis.lrange(store.redis_key, 0, -1)
    assert json.loads(raw) == message.to_dict()
    assert ": " not in raw and ", " not in raw


@pytest.mark.parametrize(
    "entry",
    [
        {"role": "user", "content": "plain OpenAI shape"},
        {"role": "user", "text": "plain OpenAI shape"},
        {"role": {"type": "role", "value": "user"}, "text": "plain OpenAI shape"},
    ],
)
async def test_other_message_shapes_are_read_back(fake_redis: fakeredis.FakeAsyncRedis, entry: dict) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, thread_id="t")
    await fake_redis.rpush(store.redis_key, json.dumps(entry))
    (message,) = await store.list_messages()
    assert (message.role.value, message.text) == ("user", "plain OpenAI shape")


async def test_dicts_and_strings_are_accepted_by_add_messages(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis)
    await store.add_messages([ChatMessage(role="assistant", text="a").to_dict(), "b"])  # type: ignore[list-item]
    assert texts_of(await store.list_messages()) == ["a", "b"]


async def test_count_messages_is_the_list_length(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis)
    await store.add_messages([ChatMessage(role="user", text="x")] * 4)
    assert await store.count_messages() == 4


async def test_clear_deletes_the_thread(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11")
    await store.add_messages([ChatMessage(role="user", text="x")])
    await store.clear()
    assert await store.list_messages() == []
    assert await store.list_saved_threads() == []
    assert await store.list_saved_threads(limit=20) == []


async def test_aclose_leaves_a_client_it_was_given_open(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis)
    await store.aclose()
    assert await fake_redis.ping()


def test_serialize_state_holds_thread_prefix_limit_and_url() -> None:
    store = RedisChatMessageStore(
        redis_url="redis://127.0.0.1:6379/2", thread_id="thread_1", key_prefix="lab11", max_messages=200
    )
    assert store.current_state() == RedisStoreState(
        thread_id="thread_1", key_prefix="lab11", max_messages=200, redis_url="redis://127.0.0.1:6379/2"
    )


def test_deserialize_state_points_a_new_store_at_the_same_thread() -> None:
    state = RedisStoreState(thread_id="thread_1", key_prefix="lab11", max_messages=200, redis_url="redis://h:1/0")
    store = RedisChatMessageStore.from_state(state)
    assert (store.redis_key, store.max_messages, store.location) == ("lab11:thread_1", 200, "h:1/0")


async def test_serialize_returns_empty_messages_and_store_metadata() -> None:
    store = RedisChatMessageStore(redis_url="redis://127.0.0.1:6379/0", thread_id="thread_1", key_prefix="lab11")
    serialized = await store.serialize()
    assert serialized["messages"] == []
    assert serialized["store_metadata"]["thread_id"] == "thread_1"
    assert serialized["store_metadata"]["key_prefix"] == "lab11"
    assert json.loads(json.dumps(dict(serialized)))["store_metadata"]["redis_url"] == "redis://127.0.0.1:6379/0"


async def test_deserialize_rebuilds_the_store_from_store_metadata(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    original = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11", max_messages=5)
    await original.add_messages([ChatMessage(role="user", text="remember me")])
    rebuilt = await RedisChatMessageStore.deserialize(dict(await original.serialize()), redis_client=fake_redis)
    assert (rebuilt.redis_key, rebuilt.max_messages) == (original.redis_key, 5)
    assert texts_of(await rebuilt.list_messages()) == ["remember me"]


async def test_update_from_state_switches_this_store_to_the_saved_thread(
    fake_redis: fakeredis.FakeAsyncRedis,
) -> None:
    saved = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11")
    await saved.add_messages([ChatMessage(role="user", text="saved")])
    current = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11")
    await current.update_from_state(dict(await saved.serialize()), redis_client=fake_redis)
    assert current.thread_id == saved.thread_id
    assert texts_of(await current.list_messages()) == ["saved"]


async def test_deserialize_without_store_metadata_fails_fast() -> None:
    with pytest.raises(ValueError, match="store_metadata"):
        await RedisChatMessageStore.deserialize({"messages": []})


async def test_deserialize_without_any_usable_url_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    serialized = {"messages": [], "store_metadata": {"thread_id": "t", "key_prefix": "lab11"}}
    with pytest.raises(ValueError, match="No usable redis_url"):
        await RedisChatMessageStore.deserialize(serialized)


def test_a_store_can_be_opened_on_another_thread_with_the_same_settings(
    fake_redis: fakeredis.FakeAsyncRedis,
) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, key_prefix="lab11", max_messages=200)
    other = store.for_thread("thread_other")
    assert (other.redis_key, other.max_messages) == ("lab11:thread_other", 200)


async def test_a_thread_named_recent_threads_is_an_ordinary_thread(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = RedisChatMessageStore(redis_client=fake_redis, thread_id="recent-threads")
    await store.add_messages([ChatMessage(role="user", text="hello")])
    assert [thread.thread_id for thread in await store.list_saved_threads(limit=5)] == ["recent-threads"]
