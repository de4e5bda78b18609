"""Scenario 5, the store's part: what other tools (or people) left under the key prefix.

Keys that are not lists, entries that are not messages, thread ids and prefixes with
glob characters: listed or skipped with a warning, never a crash, never deleted.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest
import redis
from agent_framework import ChatMessage

from lab11_persistence.redis_history.message_json import encode_entry
from redis_chat_message_store import RedisChatMessageStore
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.faults

PREFIX = "lab11"
GLOB_THREAD = "a*b?[c]\\d"
NOT_MESSAGES = [
    "not json at all",
    '{"no": "role"}',
    "[1, 2, 3]",
    '{"role": "user", "contents": "not a list"}',
    '{"role": 42, "text": "role is not a string"}',
    "",
    "\x00\x01\x02 binary-ish",
]


def _message(role: str, text: str) -> str:
    return encode_entry(ChatMessage(role=role, text=text).to_dict())


def _plant(client: redis.Redis) -> None:
    """Every kind of key a shared Redis may hold under (and next to) the prefix."""
    client.rpush(f"{PREFIX}:thread_good", _message("user", "plan Porto"), _message("assistant", "Two days."))
    client.hset(f"{PREFIX}:as_hash", mapping={"role": "user", "text": "I am a hash"})
    client.set(f"{PREFIX}:as_string", "I am a string")
    client.sadd(f"{PREFIX}:as_set", "one", "two")
    client.xadd(f"{PREFIX}:as_stream", {"field": "value"})
    client.rpush(f"{PREFIX}:thread_garbage", *NOT_MESSAGES, _message("user", "the only real message"))
    client.rpush(f"{PREFIX}:thread_all_garbage", *NOT_MESSAGES)
    client.rpush(f"{PREFIX}:{GLOB_THREAD}", _message("user", "glob thread"), _message("assistant", "still mine"))
    client.rpush("lab11x:thread_other_prefix", _message("user", "not ours"))
    client.rpush("lab1:thread_shorter_prefix", _message("user", "not ours either"))


def _dump_everything(client: redis.Redis) -> dict[bytes, bytes]:
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


@pytest.fixture
def raw(redis_server: ValkeyProcess) -> Iterator[redis.Redis]:
    """A plain client on the server, with the hostile keys planted."""
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    _plant(client)
    yield client
    client.close()


@pytest.fixture
async def store(redis_server: ValkeyProcess, raw: redis.Redis):  # type: ignore[no-untyped-def]
    opened = RedisChatMessageStore(redis_server.url, key_prefix=PREFIX, max_messages=200)
    yield opened
    await opened.aclose()


@pytest.mark.parametrize("limit", [None, 20], ids=["scan", "recency-index"])
async def test_listing_shows_only_list_keys_under_the_prefix(store: RedisChatMessageStore, limit: int | None) -> None:
    listed = {thread.thread_id for thread in await store.list_saved_threads(limit=limit)}
    assert listed == {"thread_good", "thread_garbage", "thread_all_garbage", GLOB_THREAD}


async def test_listing_counts_entries_that_are_not_messages_but_previews_only_real_ones(
    store: RedisChatMessageStore,
) -> None:
    threads = {thread.thread_id: thread for thread in await store.list_saved_threads()}
    assert threads["thread_garbage"].message_count == len(NOT_MESSAGES) + 1
    assert threads["thread_all_garbage"].preview == ""
    assert threads["thread_good"].preview == "plan Porto"


async def test_a_thread_id_with_glob_characters_reads_only_its_own_entries(store: RedisChatMessageStore) -> None:
    glob_store = store.for_thread(GLOB_THREAD)
    assert [message.text for message in await glob_store.list_messages()] == ["glob thread", "still mine"]
    await glob_store.aclose()


async def test_a_prefix_with_glob_characters_lists_only_its_own_threads(
    redis_server: ValkeyProcess, raw: redis.Redis
) -> None:
    raw.rpush("lab[1]*:thread_x", _message("user", "inside the odd prefix"))
    odd = RedisChatMessageStore(redis_server.url, key_prefix="lab[1]*")
    assert [thread.thread_id for thread in await odd.list_saved_threads()] == ["thread_x"]
    await odd.aclose()


async def test_entries_that_are_not_messages_are_skipped_with_one_warning_each(
    store: RedisChatMessageStore, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = store.for_thread("thread_garbage")
    with caplog.at_level(logging.WARNING):
        messages = await garbage.list_messages()
    await garbage.aclose()
    assert [message.text for message in messages] == ["the only real message"]
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == len(NOT_MESSAGES)
    assert all(f"{PREFIX}:thread_garbage" in record.getMessage() for record in warnings)


@pytest.mark.parametrize("thread_id", ["as_hash", "as_string", "as_set", "as_stream"])
async def test_reading_a_key_that_is_not_a_list_does_not_crash(store: RedisChatMessageStore, thread_id: str) -> None:
    wrong = store.for_thread(thread_id)
    try:
        assert await wrong.list_messages() == []
    finally:
        await wrong.aclose()


async def test_an_index_key_of_the_wrong_type_does_not_break_listing(
    store: RedisChatMessageStore, raw: redis.Redis
) -> None:
    raw.set(f"{PREFIX}.recent-threads", "someone else's string")
    listed = {thread.thread_id for thread in await store.list_saved_threads(limit=20)}
    assert listed == {"thread_good", "thread_garbage", "thread_all_garbage", GLOB_THREAD}


async def test_nothing_hostile_is_deleted_or_changed(store: RedisChatMessageStore, raw: redis.Redis) -> None:
    before = _dump_everything(raw)
    await store.list_saved_threads()
    await store.list_saved_threads(limit=20)
    for thread_id in ("thread_garbage", "thread_all_garbage", GLOB_THREAD, "as_hash", "as_string", "as_set"):
        other = store.for_thread(thread_id)
        with contextlib.suppress(Exception):  # reading a non-list may be refused; the key must stay as it is
            await other.list_messages()
        await other.aclose()
    after = _dump_everything(raw)
    index = f"{PREFIX}.recent-threads".encode()
    assert {key: value for key, value in after.items() if key != index} == before


async def test_a_turn_is_saved_once_and_reported_saved_when_the_index_key_has_the_wrong_type(
    store: RedisChatMessageStore, raw: redis.Redis
) -> None:
    """The recency index is a convenience: a foreign key in its place must not fail a saved turn."""
    raw.set(f"{PREFIX}.recent-threads", "someone else's string")
    writer = store.for_thread("thread_new")
    await writer.add_messages([ChatMessage(role="user", text="hello"), ChatMessage(role="assistant", text="hi")])
    assert [message.text for message in await writer.list_messages()] == ["hello", "hi"]
    await writer.aclose()
    assert raw.get(f"{PREFIX}.recent-threads") == b"someone else's string"
