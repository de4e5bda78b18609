"""``redis_history.history.RedisHistory``, the framework-free core under both adapters: one thread's list,
its side keys and the recency index; how it is built; what a failure means.

The Redis tests run on fakeredis (fast layer) and on the shared real server (server layer) through
``redis_backend``; construction and the failure policy need no Redis.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError

from lab11_persistence.redis_history.connection import RedisPasswordRefusedError, RedisUnavailableError
from lab11_persistence.redis_history.history import RedisHistory, SavedThread
from lab11_persistence.redis_history.recency import OLD_INDEX_SUFFIX
from tests.support.backends import RedisBackend
from tests.support.messages import entry_texts, lab_entry, turn_entries, turn_texts

THREAD = "thread_h"


@pytest.fixture
async def history(redis_backend: RedisBackend) -> AsyncIterator[RedisHistory]:
    history = RedisHistory(redis_backend.client(), key_prefix="lab11")
    yield history
    await history.aclose()


# -- construction ----------------------------------------------------------------------------------


@pytest.mark.fast
@pytest.mark.parametrize(
    ("settings", "wording"),
    [
        ({"max_messages": 0}, "max_messages must be a positive number or None."),
        ({"ttl_seconds": 0}, "ttl_seconds must be a positive number of seconds or None."),
        ({"key_prefix": ""}, "key_prefix must not be empty."),
    ],
)
def test_an_unusable_limit_or_prefix_is_refused_in_one_line(settings: dict[str, object], wording: str) -> None:
    with pytest.raises(ValueError) as refused:
        RedisHistory(object(), **settings)  # type: ignore[arg-type]
    assert str(refused.value) == wording


@pytest.mark.fast
@pytest.mark.parametrize(
    "sources",
    [{}, {"redis_url": "redis://localhost:6379/0", "redis_client": object()}, {"host": "cache.example"}],
    ids=["none", "two", "a host without a credential"],
)
def test_a_history_needs_exactly_one_connection_source(sources: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Redis needs exactly one of: redis_url"):
        RedisHistory.connect(**sources)  # type: ignore[arg-type]


@pytest.mark.fast
def test_a_history_on_a_given_client_borrows_it_and_keeps_its_settings() -> None:
    client = object()
    history = RedisHistory.connect(redis_client=client, key_prefix="lab11", max_messages=8, ttl_seconds=60)  # type: ignore[arg-type]
    assert history.client is client
    assert history.settings == {"key_prefix": "lab11", "max_messages": 8, "ttl_seconds": 60}
    assert history.sibling().client is client  # borrowed: the sibling borrows it too


@pytest.mark.fast
def test_other_settings_on_the_same_client_make_another_layout() -> None:
    history = RedisHistory(object(), key_prefix="lab11")  # type: ignore[arg-type]
    scoped = history.with_settings(key_prefix="lab11", tenant_id="acme", application_id="app")
    assert scoped.client is history.client
    assert scoped.key("t") == "lab11|v2|acme|app|~none|redis_memory|t"
    moved = history.reconfigured(key_prefix="other", max_messages=2)
    assert (moved.key("t"), moved.max_messages) == ("other:t", 2)


@pytest.mark.fast
def test_a_threads_side_keys_share_its_hash_slot() -> None:
    history = RedisHistory(object(), key_prefix="lab11")  # type: ignore[arg-type]
    assert history.thread_keys("t") == ["lab11:t", "{lab11:t}:last-write", "{lab11:t}:summary"]
    assert history.state_of("t") == {
        "thread_id": "t",
        "key_prefix": "lab11",
        "max_messages": None,
        "ttl_seconds": None,
        "redis_url": None,
        "cluster": False,
    }


# -- the failure policy --------------------------------------------------------------------------------


@pytest.mark.fast
async def test_a_lost_connection_is_tried_again_as_often_as_asked_then_named_in_one_line() -> None:
    history = RedisHistory(object(), key_prefix="lab11")  # type: ignore[arg-type]
    tries = 0

    async def unreachable() -> None:
        nonlocal tries
        tries += 1
        raise RedisConnectionError("Connection refused")

    with pytest.raises(RedisUnavailableError) as raised:
        await history.call(unreachable, tries_of_our_own=2)
    assert str(raised.value) == "Cannot reach Redis at redis:?: ConnectionError"  # no endpoint: no text to redact
    assert tries == 3


@pytest.mark.fast
async def test_a_call_that_answers_after_a_lost_connection_returns_its_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    history = RedisHistory(object(), key_prefix="lab11")  # type: ignore[arg-type]
    replies = iter([RedisConnectionError("reset"), "PONG"])

    async def flaky() -> str:
        reply = next(replies)
        if isinstance(reply, Exception):
            raise reply
        return reply

    assert await history.call(flaky, tries_of_our_own=1) == "PONG"
    assert "Redis answered at redis:? after waiting" in caplog.text


@pytest.mark.fast
async def test_a_refused_password_is_never_tried_again() -> None:
    history = RedisHistory(object(), key_prefix="lab11")  # type: ignore[arg-type]
    tries = 0

    async def refused() -> None:
        nonlocal tries
        tries += 1
        raise AuthenticationError("invalid password")

    with pytest.raises(RedisPasswordRefusedError, match=r"it needs a password: redis://:PASSWORD@host:port"):
        await history.call(refused, tries_of_our_own=5)
    assert tries == 1


# -- one thread -------------------------------------------------------------------------------------------


async def test_append_keeps_the_order_and_returns_the_length(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    assert await history.append(THREAD, turn_entries(0)) == 2
    assert await history.append(THREAD, turn_entries(1)) == 4
    assert await history.append(THREAD, []) is None
    assert entry_texts(await history.entries(THREAD)) == turn_texts(range(2))
    assert redis_backend.admin.zscore(history.index_key, THREAD) is not None


async def test_append_trims_to_max_messages_unless_a_summary_will(redis_backend: RedisBackend) -> None:
    capped = RedisHistory(redis_backend.client(), key_prefix="lab11", max_messages=4)
    for number in range(3):
        await capped.append(THREAD, turn_entries(number))
    assert entry_texts(await capped.entries(THREAD)) == turn_texts(range(1, 3))
    await capped.append(THREAD, turn_entries(3), summarized=True)
    assert await capped.count(THREAD) == 6


async def test_append_sets_the_threads_and_its_summarys_time_to_live(redis_backend: RedisBackend) -> None:
    expiring = RedisHistory(redis_backend.client(), key_prefix="lab11", ttl_seconds=600)
    redis_backend.admin.set(expiring.summary_key(THREAD), "{}")
    await expiring.append(THREAD, turn_entries(0), summarized=True)
    assert 0 < redis_backend.admin.ttl(expiring.key(THREAD)) <= 600
    assert 0 < redis_backend.admin.ttl(expiring.summary_key(THREAD)) <= 600


async def test_a_write_leaves_a_token_that_expires_on_its_own(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    await history.append(THREAD, turn_entries(0))
    assert len(redis_backend.admin.get(history.write_token_key(THREAD))) == 32
    assert redis_backend.admin.ttl(history.write_token_key(THREAD)) > 0


async def test_appending_to_a_key_that_is_not_a_list_fails_and_leaves_it(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    redis_backend.admin.set(history.key(THREAD), "someone else's")
    with pytest.raises(Exception, match="WRONGTYPE"):
        await history.append(THREAD, turn_entries(0))
    assert redis_backend.admin.get(history.key(THREAD)) == "someone else's"


async def test_a_thread_is_seeded_only_while_it_is_empty(history: RedisHistory) -> None:
    assert await history.append_if_empty(THREAD, turn_entries(0)) is True
    assert await history.append_if_empty(THREAD, turn_entries(1)) is False
    assert await history.append_if_empty("another", []) is False
    assert entry_texts(await history.entries(THREAD)) == turn_texts(range(1))


async def test_seeding_trims_to_max_messages(redis_backend: RedisBackend) -> None:
    capped = RedisHistory(redis_backend.client(), key_prefix="lab11", max_messages=2)
    await capped.append_if_empty(THREAD, [entry for number in range(3) for entry in turn_entries(number)])
    assert entry_texts(await capped.entries(THREAD)) == turn_texts(range(2, 3))


async def test_one_entry_is_read_replaced_and_removed_by_its_place(history: RedisHistory) -> None:
    await history.append(THREAD, turn_entries(0))
    assert entry_texts([await history.entry_at(THREAD, -1)]) == ["a0"]  # type: ignore[list-item]
    await history.replace_at(THREAD, 0, lab_entry("user", "changed"))
    assert entry_texts(await history.entries(THREAD)) == ["changed", "a0"]
    assert await history.remove_entry(THREAD, lab_entry("user", "changed")) is True
    assert await history.remove_entry(THREAD, lab_entry("user", "never there")) is False
    with pytest.raises(IndexError, match="list index out of range"):
        await history.replace_at(THREAD, 5, lab_entry("user", "x"))
    with pytest.raises(IndexError):
        await history.replace_at("no-such-thread", 0, lab_entry("user", "x"))


async def test_clearing_deletes_the_thread_its_side_keys_and_its_index_entry(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    await history.append(THREAD, turn_entries(0))
    redis_backend.admin.set(history.summary_key(THREAD), "{}")
    await history.clear(THREAD)
    assert redis_backend.admin.exists(*history.thread_keys(THREAD)) == 0
    assert redis_backend.admin.zscore(history.index_key, THREAD) is None


async def test_a_key_that_is_not_a_list_holds_no_entries(
    redis_backend: RedisBackend, history: RedisHistory, caplog: pytest.LogCaptureFixture
) -> None:
    redis_backend.admin.set(history.key(THREAD), "someone else's")
    assert await history.entries(THREAD) == []
    assert "is not a list, so it holds no messages" in caplog.text


async def test_decoding_skips_what_is_not_a_message_with_one_warning_per_entry(
    history: RedisHistory, caplog: pytest.LogCaptureFixture
) -> None:
    entries = [lab_entry("user", "hello"), "not json", "not json"]
    decoded = history.decode(THREAD, entries, lambda message: message["role"])
    assert decoded == ["user"]
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(f"Skipping entry 1 of {history.key(THREAD)}: ")


async def test_decoding_takes_the_adapters_own_reading_first(history: RedisHistory) -> None:
    read = history.decode(
        THREAD, [lab_entry("user", "hi")], lambda message: "normalized", read_as_written=lambda _: "own"
    )
    assert read == ["own"]
    tolerant = history.decode(THREAD, [lab_entry("user", "hi")], lambda message: "normalized", read_as_written=_refuse)
    assert tolerant == ["normalized"]


def _refuse(_: object) -> str:
    raise TypeError("not my shape")


# -- listing ----------------------------------------------------------------------------------------------


async def test_the_newest_threads_come_first_with_count_preview_and_summary(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    for number in range(3):
        await history.append(f"thread_{number}", turn_entries(number, user="question {}"))
        redis_backend.admin.zadd(history.index_key, {f"thread_{number}": 1000 + number})
    redis_backend.admin.set(history.summary_key("thread_1"), '{"text": "t", "covers": 4, "in_list": 0}')
    listed = await history.list_threads(limit=2)
    assert [thread.thread_id for thread in listed] == ["thread_2", "thread_1"]
    assert listed[1] == SavedThread("thread_1", "lab11:thread_1", 2, "question 1", 1001.0, 4)
    assert await history.list_threads(limit=0) == []


async def test_listing_without_a_limit_finds_every_thread_by_scan(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    await history.append("indexed", turn_entries(0))
    redis_backend.admin.rpush("lab11:unindexed", lab_entry("user", "from another tool"))
    redis_backend.admin.set("lab11:a-string", "not a thread")
    listed = await history.list_threads()
    assert sorted(thread.thread_id for thread in listed) == ["indexed", "unindexed"]
    assert listed[0].thread_id == "indexed"  # the one with an index entry is the more recent


async def test_threads_written_by_other_tools_are_indexed_once(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    redis_backend.admin.rpush("lab11:one", lab_entry("user", "a"))
    redis_backend.admin.rpush("lab11:two", lab_entry("user", "b"))
    assert await history.rebuild_index() == 2
    assert await history.rebuild_index() == 0
    assert sorted([key async for key in history.scan_thread_keys()]) == ["lab11:one", "lab11:two"]


async def test_a_thread_cleared_behind_the_index_is_dropped_from_it(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    await history.append("kept", turn_entries(0))
    redis_backend.admin.zadd(history.index_key, {"gone": 9e9})
    assert [thread.thread_id for thread in await history.list_threads(limit=5)] == ["kept"]
    assert redis_backend.admin.zscore(history.index_key, "gone") is None


async def test_the_index_of_older_releases_is_moved_with_its_order(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    old = f"lab11{OLD_INDEX_SUFFIX}"
    for number in range(3):
        redis_backend.admin.rpush(f"lab11:thread_{number}", lab_entry("user", f"q{number}"))
        redis_backend.admin.zadd(old, {f"thread_{number}": 100 + number})
    listed = await history.list_threads(limit=3)
    assert [thread.thread_id for thread in listed] == ["thread_2", "thread_1", "thread_0"]
    assert redis_backend.admin.exists(old) == 0


async def test_an_index_key_holding_something_else_falls_back_to_scan_with_a_warning(
    redis_backend: RedisBackend, history: RedisHistory, caplog: pytest.LogCaptureFixture
) -> None:
    redis_backend.admin.set(history.index_key, "not a sorted set")
    await history.append(THREAD, turn_entries(0))  # saved; only the index is unusable
    assert [thread.thread_id for thread in await history.list_threads(limit=5)] == [THREAD]
    assert "is not the sorted set this store keeps its thread index in" in caplog.text
    assert redis_backend.admin.get(history.index_key) == "not a sorted set"


@pytest.mark.fast
def test_a_key_of_another_layout_names_no_thread() -> None:
    history = RedisHistory(object(), key_prefix="lab11")  # type: ignore[arg-type]
    assert history.thread_id_of("lab11:abc") == "abc"
    with pytest.raises(ValueError, match="is not a thread key of this layout"):
        history.thread_id_of("other:abc")
