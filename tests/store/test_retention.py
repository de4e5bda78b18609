"""``redis_history.retention``: deleting threads nobody wrote for a while, from the recency index alone.

On fakeredis and a real Valkey (``redis_backend``): idle threads go with their side keys and index
entries, recent ones stay; a thread written after the page was read is kept; someone else's data
under a thread's key is left alone; a dry run deletes nothing; and the server sees ZRANGEBYSCORE and
one script per thread, never KEYS, SCAN or a read of a message. The cluster run is in tests/cluster.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis
from agent_framework import ChatMessage

from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.retention import _prune_page, count_idle_threads, prune_threads
from redis_chat_message_store import RedisChatMessageStore
from tests.support.backends import ON_THE_REAL_ENGINE, RedisBackend
from tests.support.round_trips import ServerMonitor

DAY = 86400.0
NOW = time.time()


@pytest.fixture
async def history(redis_backend: RedisBackend) -> AsyncIterator[RedisHistory]:
    history = RedisHistory.connect(
        redis_client=redis_backend.client(), key_prefix="lab11", tenant_id="acme", application_id="app"
    )
    yield history
    await history.aclose()


@pytest.fixture
def admin(redis_backend: RedisBackend) -> redis.Redis:
    return redis_backend.admin


async def write(history: RedisHistory, admin: redis.Redis, thread_id: str, days_ago: float, messages: int = 2) -> None:
    """A thread written through the store's own append (write token and all), dated ``days_ago``."""
    await history.append(thread_id, [f'{{"role":"user","text":"{n}"}}' for n in range(messages)])
    admin.zadd(history.index_key, {thread_id: NOW - days_ago * DAY})
    admin.delete(history.write_token_key(thread_id))  # long gone after that many days


async def pruned(history: RedisHistory, cutoff: float, **options: object) -> list:  # type: ignore[type-arg]
    return [result async for page in prune_threads(history, cutoff, **options) for result in page]  # type: ignore[arg-type]


async def test_idle_threads_go_with_their_side_keys_and_index_entries(
    history: RedisHistory, admin: redis.Redis
) -> None:
    for number, days in enumerate((40, 31, 29, 1)):
        await write(history, admin, f"thread_{number}", days, messages=number + 1)
    admin.set(history.summary_key("thread_0"), '{"text": "x", "covers": 2, "in_list": 0}')
    admin.set(history.side_key("thread_0", "notes"), "a side key of another kind")
    cutoff = NOW - 30 * DAY
    assert await count_idle_threads(history, cutoff) == 2
    results = await pruned(history, cutoff)
    assert sorted((result.thread_id, result.messages, result.kept) for result in results) == [
        ("thread_0", 1, False),
        ("thread_1", 2, False),
    ]
    for gone in ("thread_0", "thread_1"):
        assert admin.exists(history.key(gone)) == 0 and admin.zscore(history.index_key, gone) is None
    assert admin.exists(history.summary_key("thread_0")) == 0  # its summary went with it
    assert admin.exists(history.side_key("thread_0", "notes")) == 1  # only SIDE_KEYS are the thread's
    assert sorted(admin.zrange(history.index_key, 0, -1)) == ["thread_2", "thread_3"]
    assert admin.llen(history.key("thread_2")) == 3


async def test_a_thread_written_after_its_page_was_read_is_kept(history: RedisHistory, admin: redis.Redis) -> None:
    await write(history, admin, "thread_busy", 40)
    page = admin.zrangebyscore(history.index_key, "-inf", NOW - 30 * DAY, withscores=True)
    await history.append("thread_busy", ['{"role":"user","text":"back again"}'])  # a turn arrives meanwhile
    (result,) = await _prune_page(history, page, NOW - 30 * DAY)
    assert result.kept
    assert admin.llen(history.key("thread_busy")) == 3


async def test_someone_elses_data_under_a_threads_key_is_left_alone(history: RedisHistory, admin: redis.Redis) -> None:
    admin.set(history.key("thread_x"), "not ours")
    admin.zadd(history.index_key, {"thread_x": NOW - 90 * DAY, "thread_expired": NOW - 90 * DAY})
    results = await pruned(history, NOW - 30 * DAY)
    assert sorted((result.thread_id, result.messages) for result in results) == [("thread_expired", 0), ("thread_x", 0)]
    assert admin.get(history.key("thread_x")) == "not ours"
    assert admin.zcard(history.index_key) == 0


async def test_a_dry_run_deletes_nothing(history: RedisHistory, admin: redis.Redis) -> None:
    for number in range(7):
        await write(history, admin, f"thread_{number}", 40 + number)
    before = {key: admin.type(key) for key in admin.scan_iter()}
    results = await pruned(history, NOW - 30 * DAY, dry_run=True, page_size=3)
    assert sorted(result.thread_id for result in results) == [f"thread_{n}" for n in range(7)]
    assert all(result.messages == 2 for result in results)
    assert {key: admin.type(key) for key in admin.scan_iter()} == before


@ON_THE_REAL_ENGINE
async def test_many_threads_page_by_page_and_only_the_index_and_scripts_on_the_server(
    history: RedisHistory, admin: redis.Redis, redis_backend: RedisBackend
) -> None:
    """Needs the real engine: what the server was sent is read with MONITOR."""
    pipe = admin.pipeline(transaction=False)
    for number in range(120):
        pipe.rpush(history.key(f"thread_{number}"), "{}")
        pipe.zadd(history.index_key, {f"thread_{number}": NOW - (100 if number % 2 else 1) * DAY})
    pipe.execute()
    with ServerMonitor(redis_backend.server.port) as monitor:
        results = await pruned(history, NOW - 30 * DAY, page_size=25)
        sent = {name for _, name in monitor.commands()}
    assert len(results) == 60 and not any(result.kept for result in results)
    assert admin.zcard(history.index_key) == 60 and admin.dbsize() == 61
    assert sent <= {"ZRANGEBYSCORE", "EVAL", "ZSCORE", "TYPE", "LLEN", "DEL", "ZREM", "CLIENT", "HELLO", "PING"}, sent
    assert {"ZRANGEBYSCORE", "EVAL"} <= sent and not sent & {"KEYS", "SCAN", "LRANGE"}


async def test_the_labs_layout_and_the_store_prune_the_same_way(
    redis_backend: RedisBackend, admin: redis.Redis
) -> None:
    store = RedisChatMessageStore(redis_client=redis_backend.client(), thread_id="thread_old", key_prefix="lab11")
    await store.add_messages([ChatMessage(role="user", text="long ago")])
    admin.zadd("lab11.recent-threads", {"thread_old": NOW - 60 * DAY})
    assert [result.thread_id for result in await pruned(store.history, NOW - 30 * DAY)] == ["thread_old"]
    assert admin.dbsize() == 0  # the thread, its write token and the index (empty, so gone)
    await store.aclose()
