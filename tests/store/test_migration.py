"""``redis_history.migration``: the lab's threads to Microsoft's scoped keys, on fakeredis and a real Valkey
(``redis_backend``: the scripts run in fakeredis's Lua and in the server's).

Each thread moves whole (entries in 1.x JSON, its index score, its time to live) or not at all; a
second run changes nothing; the source is deleted only once its target is complete and only if it
did not change meanwhile; an unreadable entry, a target holding other messages or something that
is not a list stops that thread alone; a dry run writes nothing. The command over it is tested in
tests/app/test_migrate_and_prune_commands.py, and Microsoft's provider reads the result in tests/v1.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import redis
from agent_framework import ChatMessage

from lab11_persistence.redis_history import migration
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.migration import (
    ALREADY,
    CONFLICT,
    GONE,
    MIGRATED,
    NOT_A_LIST,
    UNREADABLE,
    migrate_all,
    migrate_threads,
)
from redis_chat_message_store import RedisChatMessageStore
from tests.support import message_fixtures as fx
from tests.support.backends import ON_THE_REAL_ENGINE, RedisBackend

SCOPE = {"tenant_id": "acme", "application_id": "travel-app"}


def lab_entry(role: str, text: str) -> str:
    return json.dumps(
        {"type": "chat_message", "role": {"type": "role", "value": role}, "contents": [{"type": "text", "text": text}]}
    )


@pytest.fixture
async def histories(redis_backend: RedisBackend) -> AsyncIterator[tuple[RedisHistory, RedisHistory]]:
    source = RedisHistory.connect(redis_client=redis_backend.client(), key_prefix="lab11")
    yield source, source.with_settings(key_prefix="lab11", **SCOPE)
    await source.aclose()


@pytest.fixture
def admin(redis_backend: RedisBackend) -> redis.Redis:
    return redis_backend.admin


def save(admin: redis.Redis, thread_id: str, *texts: str, score: float | None = 1_700_000_000.25) -> None:
    admin.rpush(
        f"lab11:{thread_id}", *(lab_entry("user" if n % 2 == 0 else "assistant", t) for n, t in enumerate(texts))
    )
    if score is not None:
        admin.zadd("lab11.recent-threads", {thread_id: score})


def everything(admin: redis.Redis) -> dict[str, object]:
    """Every key with its type, value and time to live, to compare before and after."""
    state: dict[str, object] = {}
    for key in admin.scan_iter(count=1000):
        kind = admin.type(key)
        value = (
            admin.lrange(key, 0, -1)
            if kind == "list"
            else admin.zrange(key, 0, -1, withscores=True)
            if kind == "zset"
            else admin.get(key)
            if kind == "string"
            else kind
        )
        state[key] = (kind, value, admin.ttl(key) > 0)
    return state


async def test_a_thread_moves_whole_in_1x_json_with_its_index_score_and_time_to_live(
    histories: tuple[RedisHistory, RedisHistory], admin: redis.Redis
) -> None:
    source, target = histories
    save(admin, "thread_a", "My name is Ana.", "Hello Ana.")
    admin.expire("lab11:thread_a", 3600)
    (result,) = await migrate_threads(source, target, ["thread_a"])
    key = target.key("thread_a")
    assert (result.outcome, result.messages, result.target_key, result.source_deleted) == (MIGRATED, 2, key, False)
    assert key == "lab11|v2|acme|travel-app|~none|redis_memory|thread_a"
    entries = [json.loads(entry) for entry in admin.lrange(key, 0, -1)]
    assert [(entry["type"], entry["role"], entry["contents"][0]["text"]) for entry in entries] == [
        ("message", "user", "My name is Ana."),
        ("message", "assistant", "Hello Ana."),
    ]
    assert admin.zscore(target.index_key, "thread_a") == 1_700_000_000.25
    assert 3500 < admin.ttl(key) <= 3600
    assert admin.llen("lab11:thread_a") == 2  # the source stays without delete_source


@pytest.mark.parametrize("release", fx.RELEASES)
async def test_every_releases_json_is_rewritten_and_reads_back_on_the_labs_release(
    histories: tuple[RedisHistory, RedisHistory], admin: redis.Redis, redis_backend: RedisBackend, release: str
) -> None:
    source, target = histories
    lines = fx.fixture_lines(release)
    admin.rpush("lab11:thread_old", *lines)
    (result,) = await migrate_threads(source, target, ["thread_old"])
    assert (result.outcome, result.messages) == (MIGRATED, len(lines))
    assert all(json.loads(entry)["type"] == "message" for entry in admin.lrange(target.key("thread_old"), 0, -1))
    store = RedisChatMessageStore(
        redis_client=redis_backend.client(), thread_id="thread_old", key_prefix="lab11", **SCOPE
    )
    messages = await store.list_messages()
    assert [fx.essentials(message.to_dict()) for message in messages] == [
        fx.essentials(json.loads(line)) for line in lines
    ]
    await store.aclose()


async def test_a_second_run_changes_nothing(histories: tuple[RedisHistory, RedisHistory], admin: redis.Redis) -> None:
    source, target = histories
    for number in range(3):
        save(admin, f"thread_{number}", f"question {number}", f"answer {number}")
    assert {r.outcome for r in await migrate_threads(source, target, ["thread_0", "thread_1"])} == {MIGRATED}
    before = everything(admin)
    results = await migrate_threads(source, target, ["thread_0", "thread_1", "thread_2"])
    assert [result.outcome for result in results] == [ALREADY, ALREADY, MIGRATED]
    after = everything(admin)
    new_keys = (target.key("thread_2"), target.index_key)
    assert {k: v for k, v in after.items() if k not in new_keys} == {
        k: v for k, v in before.items() if k not in new_keys
    }
    assert [r.outcome for r in await migrate_threads(source, target, ["thread_0", "thread_1", "thread_2"])] == [
        ALREADY
    ] * 3
    assert everything(admin) == after


@ON_THE_REAL_ENGINE
async def test_delete_source_removes_the_thread_its_side_keys_and_its_index_entry(
    histories: tuple[RedisHistory, RedisHistory], admin: redis.Redis, redis_backend: RedisBackend
) -> None:
    """Needs the real engine: deleting the source runs a script that calls redis.sha1hex (not in fakeredis's Lua)."""
    source, target = histories
    store = RedisChatMessageStore(redis_client=redis_backend.client(), thread_id="thread_a", key_prefix="lab11")
    await store.add_messages([ChatMessage(role="user", text="hello")])  # leaves a write token beside the thread
    assert admin.exists(source.write_token_key("thread_a"))
    (result,) = await migrate_threads(source, target, ["thread_a"], delete_source=True)
    assert (result.outcome, result.source_deleted) == (MIGRATED, True)
    assert admin.exists("lab11:thread_a", source.write_token_key("thread_a")) == 0
    assert admin.zscore("lab11.recent-threads", "thread_a") is None
    assert admin.llen(target.key("thread_a")) == 1
    await store.aclose()


@ON_THE_REAL_ENGINE
async def test_an_earlier_copy_is_completed_by_deleting_its_source(
    histories: tuple[RedisHistory, RedisHistory], admin: redis.Redis
) -> None:
    """Stopped between the copy and the delete (or run first without --delete-source): the next run deletes.

    Needs the real engine: deleting the source runs a script that calls redis.sha1hex (not in fakeredis's Lua).
    """
    source, target = histories
    save(admin, "thread_a", "one", "two")
    await migrate_threads(source, target, ["thread_a"])
    (result,) = await migrate_threads(source, target, ["thread_a"], delete_source=True)
    assert (result.outcome, result.source_deleted) == (ALREADY, True)
    assert admin.exists("lab11:thread_a") == 0


@ON_THE_REAL_ENGINE
async def test_a_source_written_after_it_was_copied_is_kept(
    histories: tuple[RedisHistory, RedisHistory], admin: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Needs the real engine: deleting the source runs a script that calls redis.sha1hex (not in fakeredis's Lua)."""
    source, target = histories
    save(admin, "thread_a", "one", "two")
    write_targets = migration._write_targets

    async def then_a_turn_arrives(history: RedisHistory, pending: dict) -> dict[str, str]:  # type: ignore[type-arg]
        outcomes = await write_targets(history, pending)
        admin.rpush("lab11:thread_a", lab_entry("user", "three"))
        return outcomes

    monkeypatch.setattr(migration, "_write_targets", then_a_turn_arrives)
    (result,) = await migrate_threads(source, target, ["thread_a"], delete_source=True)
    assert (result.outcome, result.source_deleted) == (MIGRATED, False)
    assert admin.llen("lab11:thread_a") == 3 and admin.llen(target.key("thread_a")) == 2


@ON_THE_REAL_ENGINE
async def test_an_unreadable_entry_stops_that_thread_alone(
    histories: tuple[RedisHistory, RedisHistory], admin: redis.Redis
) -> None:
    """Needs the real engine: deleting the source runs a script that calls redis.sha1hex (not in fakeredis's Lua)."""
    source, target = histories
    save(admin, "thread_bad", "fine")
    admin.rpush("lab11:thread_bad", "{not json")
    save(admin, "thread_good", "fine")
    bad, good = await migrate_threads(source, target, ["thread_bad", "thread_good"], delete_source=True)
    assert (bad.outcome, bad.detail) == (UNREADABLE, "entry 2 is not a message (not JSON (JSONDecodeError))")
    assert admin.exists(target.key("thread_bad")) == 0 and admin.llen("lab11:thread_bad") == 2
    assert (good.outcome, good.source_deleted) == (MIGRATED, True)


async def test_a_target_that_holds_something_else_is_left_alone(
    histories: tuple[RedisHistory, RedisHistory], admin: redis.Redis
) -> None:
    source, target = histories
    save(admin, "thread_other", "mine")
    save(admin, "thread_string", "mine")
    admin.rpush(target.key("thread_other"), lab_entry("user", "someone else's"))
    admin.set(target.key("thread_string"), "not a list")
    other, string = await migrate_threads(source, target, ["thread_other", "thread_string"], delete_source=True)
    assert (other.outcome, other.source_deleted, string.outcome, string.source_deleted) == (
        CONFLICT,
        False,
        NOT_A_LIST,
        False,
    )
    assert admin.llen(target.key("thread_other")) == 1 and admin.get(target.key("thread_string")) == "not a list"
    assert admin.llen("lab11:thread_other") == 1 and admin.llen("lab11:thread_string") == 1


async def test_a_dry_run_writes_nothing_and_says_what_would_happen(
    histories: tuple[RedisHistory, RedisHistory], admin: redis.Redis
) -> None:
    source, target = histories
    save(admin, "thread_new", "one")
    save(admin, "thread_done", "two")
    save(admin, "thread_clash", "three")
    await migrate_threads(source, target, ["thread_done"])
    admin.rpush(target.key("thread_clash"), lab_entry("user", "other"))
    before = everything(admin)
    results = await migrate_threads(
        source, target, ["thread_new", "thread_done", "thread_clash", "thread_gone"], delete_source=True, dry_run=True
    )
    assert [result.outcome for result in results] == [MIGRATED, ALREADY, CONFLICT, GONE]
    assert not any(result.source_deleted for result in results)
    assert everything(admin) == before


@ON_THE_REAL_ENGINE
async def test_every_thread_page_by_page(histories: tuple[RedisHistory, RedisHistory], admin: redis.Redis) -> None:
    """Needs the real engine: deleting the source runs a script that calls redis.sha1hex (not in fakeredis's Lua)."""
    source, target = histories
    for number in range(11):
        save(admin, f"thread_{number:02d}", f"question {number}", score=None if number == 3 else 1_700_000_000 + number)
    admin.set("lab11:not-a-thread", "a string under the prefix")
    pages = [page async for page in migrate_all(source, target, delete_source=True, page_size=4)]
    assert [len(page) for page in pages] == [4, 4, 3]
    assert sorted(result.thread_id for page in pages for result in page) == [f"thread_{n:02d}" for n in range(11)]
    assert all(result.outcome == MIGRATED and result.source_deleted for page in pages for result in page)
    assert admin.zcard(target.index_key) == 11  # thread_03 had no index entry: it gets one
    assert [key for key in admin.scan_iter(match="lab11:*")] == ["lab11:not-a-thread"]


@ON_THE_REAL_ENGINE
async def test_a_thread_moves_with_its_summary_which_goes_on_where_it_stopped(
    histories: tuple[RedisHistory, RedisHistory], admin: redis.Redis
) -> None:
    """Needs the real engine: deleting the source runs a script that calls redis.sha1hex (not in fakeredis's Lua)."""
    from lab11_persistence.offline_model.reasoning import summarize_messages
    from lab11_persistence.redis_history.summary import Summary
    from lab11_persistence.redis_history.window import ContextWindow

    source, target = histories
    save(admin, "thread_s", "My name is Ana.", "Noted.", "m2", "m3", "m4", "m5")
    await ContextWindow(source, 2, summarize_messages).fold("thread_s")  # folds the first four
    before = Summary.parse(admin.get(source.summary_key("thread_s")))
    assert before is not None and before.in_list == 4

    [result] = await migrate_threads(source, target, ["thread_s"], delete_source=True)
    assert (result.outcome, result.source_deleted) == (MIGRATED, True)
    moved = Summary.parse(admin.get(target.summary_key("thread_s")))
    assert moved is not None and (moved.text, moved.covers, moved.in_list) == (before.text, 4, 4)
    assert admin.exists(source.summary_key("thread_s")) == 0

    await target.append("thread_s", [lab_entry("user", "m6"), lab_entry("assistant", "m7")], summarized=True)
    again = await ContextWindow(target, 2, summarize_messages).fold("thread_s")
    assert again is not None and (again.covers, again.in_list) == (6, 6)  # m4 and m5, not the first four again
