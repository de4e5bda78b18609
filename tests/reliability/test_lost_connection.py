"""Scenario 3, the store's part: the server goes away and comes back in the middle of a session.

The same store object is used throughout, as the app does: it must reconnect by
itself (redis-py ``Retry`` with bounded exponential backoff), report a turn that
could not be saved, and never keep half of one.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from functools import partial
from pathlib import Path

import pytest

from lab11_persistence.redis_history.connection import RETRIES
from redis_chat_message_store import RedisChatMessageStore, RedisUnavailableError
from tests.reliability.faults import ReplyLosingProxy
from tests.reliability.settings import record_figure, scaled
from tests.support.app_driver import LabApp, app_env, has_traceback
from tests.support.lab_release import chat_turn
from tests.support.messages import texts_of
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.faults

RESTART_CYCLES = scaled(10, 100)


_turn = partial(chat_turn, user="question {}", assistant="answer {}")


class HangingUpServer:
    """Accepts every connection and closes it at once, counting them."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> HangingUpServer:
        self._server = await asyncio.start_server(self._hang_up, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"

    async def _hang_up(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def hanging_up_server():  # type: ignore[no-untyped-def]
    server = await HangingUpServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def store(redis_server: ValkeyProcess):  # type: ignore[no-untyped-def]
    """One long-lived store on the test's server, as the app keeps one per thread."""
    opened = RedisChatMessageStore(redis_server.url, thread_id="thread_lost", key_prefix="lab11", max_messages=200)
    yield opened
    await opened.aclose()


async def test_next_turn_is_saved_after_a_clean_server_restart(
    redis_server: ValkeyProcess, store: RedisChatMessageStore
) -> None:
    await store.add_messages(_turn(1))
    redis_server.restart()
    await store.add_messages(_turn(2))
    assert texts_of(await store.list_messages()) == ["question 1", "answer 1", "question 2", "answer 2"]


async def test_next_turn_is_saved_after_the_server_is_killed_and_restarted(
    redis_server: ValkeyProcess, store: RedisChatMessageStore
) -> None:
    await store.add_messages(_turn(1))
    redis_server.kill()
    redis_server.start()
    await store.add_messages(_turn(2))
    assert texts_of(await store.list_messages()) == ["question 1", "answer 1", "question 2", "answer 2"]


async def test_turn_while_the_server_is_down_raises_redis_unavailable(
    redis_server: ValkeyProcess, store: RedisChatMessageStore
) -> None:
    await store.add_messages(_turn(1))
    redis_server.stop()
    with pytest.raises(RedisUnavailableError, match=f"127.0.0.1:{redis_server.port}"):
        await store.add_messages(_turn(2))


@pytest.mark.parametrize("operation", ["add_messages", "list_messages", "list_saved_threads"])
async def test_a_server_that_keeps_hanging_up_is_tried_a_bounded_number_of_times(
    hanging_up_server: HangingUpServer, operation: str
) -> None:
    """Bounded retries, counted rather than timed: each try is one connection the server sees."""
    store = RedisChatMessageStore(hanging_up_server.url, thread_id="thread_lost", key_prefix="lab11")
    calls = {
        "add_messages": lambda: store.add_messages(_turn(1)),
        "list_messages": store.list_messages,
        "list_saved_threads": lambda: store.list_saved_threads(limit=20),
    }
    with pytest.raises(RedisUnavailableError, match="Connection closed by server"):
        await calls[operation]()
    await store.aclose()
    assert 2 <= hanging_up_server.connections <= 1 + RETRIES


async def test_turn_that_failed_while_the_server_was_down_leaves_nothing_behind(
    redis_server: ValkeyProcess, store: RedisChatMessageStore
) -> None:
    await store.add_messages(_turn(1))
    redis_server.stop()
    with pytest.raises(RedisUnavailableError):
        await store.add_messages(_turn(2))
    redis_server.start()
    await store.add_messages(_turn(3))
    assert texts_of(await store.list_messages()) == ["question 1", "answer 1", "question 3", "answer 3"]


async def test_reading_while_the_server_is_down_raises_redis_unavailable(
    redis_server: ValkeyProcess, store: RedisChatMessageStore
) -> None:
    redis_server.stop()
    with pytest.raises(RedisUnavailableError):
        await store.list_messages()
    with pytest.raises(RedisUnavailableError):
        await store.list_saved_threads()


async def test_repeated_kills_lose_no_saved_turn_and_keep_no_failed_one(
    redis_server: ValkeyProcess, store: RedisChatMessageStore
) -> None:
    """10 cycles (100 with LAB11_SOAK=1): save a turn, SIGKILL the server, fail a turn, restart; saved turns stay."""
    saved: list[str] = []
    for cycle in range(RESTART_CYCLES):
        await store.add_messages(_turn(2 * cycle))
        saved += [f"question {2 * cycle}", f"answer {2 * cycle}"]
        redis_server.kill()
        with pytest.raises(RedisUnavailableError):
            await store.add_messages(_turn(2 * cycle + 1))
        redis_server.start()
    texts = texts_of(await store.list_messages())
    record_figure(
        "lost connection: store",
        f"{RESTART_CYCLES} SIGKILL/restart cycles, {len(saved) // 2} turns acknowledged, "
        f"{len([t for t in saved if t not in texts]) // 2} lost, {len(texts) - len(set(texts))} extra entries, "
        f"{RESTART_CYCLES} failed turns reported and none saved",
    )
    assert texts == saved


async def test_a_reply_lost_after_the_server_committed_a_turn_does_not_save_it_twice(
    redis_server: ValkeyProcess,
) -> None:
    """The server commits the MULTI/EXEC, the reply never arrives: the store finds its write token and stops."""
    proxy = await ReplyLosingProxy(redis_server.port).start()
    store = RedisChatMessageStore(f"redis://127.0.0.1:{proxy.port}/0", thread_id="thread_lost", key_prefix="lab11")
    try:
        await store.add_messages(_turn(1))
        proxy.lose_next_exec_reply()
        await store.add_messages(_turn(2))  # reported as saved, because it was
        assert proxy.replies_lost == 1
        texts = texts_of(await store.list_messages())
    finally:
        await store.aclose()
        await proxy.aclose()
    assert [text for text, count in Counter(texts).items() if count > 1] == []
    assert texts == ["question 1", "answer 1", "question 2", "answer 2"]


def test_the_app_says_redis_is_lost_stays_up_and_saves_the_next_turn(
    redis_server: ValkeyProcess, tmp_path: Path
) -> None:
    """As the user sees it: a clear line while Redis is down, no traceback, the next turn saved."""
    env = app_env(tmp_path / "home", tmp_path / "unused-data", REDIS_URL=redis_server.url)
    app = LabApp(env, tmp_path)
    try:
        key = app.menu()
        app.say("before: I want to go to Oslo.")
        redis_server.stop()
        app.send("1")
        app.expect_exact("You: ")
        app.send("during: this turn cannot be saved")
        app.expect_exact("Redis is unavailable")
        app.menu()
        redis_server.start()
        app.say("after: my budget is 900 euros.")
        app.send("0")
        status = app.finish()
    finally:
        app.kill()
    assert status == 0
    assert not has_traceback(app.transcript), app.transcript
    with redis_server.client() as client:
        users = [entry for entry in client.lrange(key, 0, -1) if '"user"' in entry]
    assert [json.loads(entry)["contents"][0]["text"] for entry in users] == [
        "before: I want to go to Oslo.",
        "after: my budget is 900 euros.",
    ]
