"""Issue 24 on a real Valkey: what the server sees of a sealed thread, and the core's behaviours over the wire.

MONITOR during turns and a scan of every key find no message or summary text; rotation then dropping
the old key, a missing key, a moved entry and the summary behave as on fakeredis.
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

import pytest
import redis
from agent_framework import ChatMessage

from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.message_json import message_text
from lab11_persistence.redis_history.rekey import REKEYED, rekey_all, rekey_threads
from lab11_persistence.redis_history.sealing import MissingKeyError, is_sealed, key_id_of
from redis_chat_message_store import RedisChatMessageStore
from tests.support import acl
from tests.support.encryption_keys import key_entry
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.server

WORDS = ("Lisbon", "passport", "X1234567", "seafood")
TURNS = [
    ("I am Ana and I fly to Lisbon in May.", "Noted: Lisbon in May."),
    ("My passport number is X1234567.", "Noted."),
    ("I love seafood.", "Lisbon has plenty."),
]


OLD, NEW = key_entry("old"), key_entry("new")


async def summarize(previous: str | None, messages: list[dict[str, Any]]) -> str:
    return " ".join([previous or "Summary:", *(message_text(message) for message in messages)])


def store(server: ValkeyProcess, keys: Any, thread_id: str = "thread_s", **options: Any) -> RedisChatMessageStore:
    return RedisChatMessageStore(server.url, thread_id=thread_id, key_prefix="lab11", encryption_keys=keys, **options)


async def chat(keyed: RedisChatMessageStore) -> None:
    for said, answered in TURNS:
        await keyed.list_messages()
        await keyed.add_messages([ChatMessage(role="user", text=said), ChatMessage(role="assistant", text=answered)])
    if keyed.window is not None:
        await keyed.window.settle()


def every_value(client: redis.Redis) -> list[str]:
    """Everything the server holds, key names included, by SCAN and each type's own read."""
    values: list[str] = []
    for key in client.scan_iter(count=1000):
        values.append(key)
        kind = client.type(key)
        if kind == "list":
            values += client.lrange(key, 0, -1)
        elif kind == "string":
            values.append(client.get(key))
        elif kind == "zset":
            values += [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "hash":
            values += [f"{field}={value}" for field, value in client.hgetall(key).items()]
        elif kind == "set":
            values += list(client.smembers(key))
    return values


async def test_monitor_during_turns_shows_no_message_text(redis_server: ValkeyProcess) -> None:
    seen: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        with redis_server.client().monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                seen.append(command["command"])
                if "monitor-stop" in command["command"]:
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(10)
    await chat(store(redis_server, NEW, context_messages=2, summarizer=summarize))
    redis_server.client().echo("monitor-stop")
    watcher.join(10)

    assert any("RPUSH" in command and "lab11-sealed:v1:new:" in command for command in seen)
    assert any("SET" in command and "summary" in command for command in seen)  # the summary crossed the wire too
    assert not [command for command in seen if any(word in command for word in WORDS)]


async def test_a_scan_of_every_key_finds_no_message_or_summary_text(redis_server: ValkeyProcess) -> None:
    await chat(store(redis_server, NEW, context_messages=2, summarizer=summarize))
    client = redis_server.client()

    values = every_value(client)

    assert client.get("{lab11:thread_s}:summary").startswith("lab11-sealed:v1:new:")
    assert not [value for value in values if any(word in value for word in WORDS)]
    messages = await store(redis_server, NEW, context_messages=2, summarizer=summarize).list_messages()
    assert "Lisbon" in messages[0].text  # the summary, opened for the model


async def test_rotation_then_dropping_the_old_key(redis_server: ValkeyProcess) -> None:
    await chat(store(redis_server, OLD))
    await store(redis_server, [NEW, OLD]).add_messages([ChatMessage(role="user", text="after the rotation")])
    history = RedisHistory.connect(redis_server.url, key_prefix="lab11", encryption_keys=[NEW, OLD])

    [result] = await rekey_threads(history, ["thread_s"])
    await history.aclose()

    assert result.outcome == REKEYED and result.rewritten == len(TURNS) * 2
    stored = redis_server.client().lrange("lab11:thread_s", 0, -1)
    assert {key_id_of(entry) for entry in stored} == {"new"}
    texts = [message.text for message in await store(redis_server, NEW).list_messages()]
    assert texts[0] == TURNS[0][0] and texts[-1] == "after the rotation"


async def test_a_missing_key_is_named_and_nothing_changes(redis_server: ValkeyProcess) -> None:
    await chat(store(redis_server, OLD))
    before = redis_server.client().lrange("lab11:thread_s", 0, -1)

    with pytest.raises(MissingKeyError, match="'old'"):
        await store(redis_server, NEW).list_messages()

    assert redis_server.client().lrange("lab11:thread_s", 0, -1) == before


async def test_an_entry_moved_to_another_thread_is_skipped_and_kept(
    redis_server: ValkeyProcess, caplog: pytest.LogCaptureFixture
) -> None:
    await chat(store(redis_server, NEW, "thread_a"))
    await store(redis_server, NEW, "thread_b").add_messages([ChatMessage(role="user", text="b's own")])
    client = redis_server.client()
    moved = client.lindex("lab11:thread_a", 2)
    client.rpush("lab11:thread_b", moved)

    with caplog.at_level(logging.WARNING):
        texts = [message.text for message in await store(redis_server, NEW, "thread_b").list_messages()]

    assert texts == ["b's own"]
    assert [record for record in caplog.records if "lab11:thread_b" in record.getMessage()]
    assert client.lrange("lab11:thread_b", 0, -1)[-1] == moved and is_sealed(moved)


async def test_the_summary_survives_a_rekey_and_still_covers_its_messages(redis_server: ValkeyProcess) -> None:
    await chat(store(redis_server, OLD, context_messages=2, summarizer=summarize))
    history = RedisHistory.connect(redis_server.url, key_prefix="lab11", encryption_keys=[NEW, OLD])
    await rekey_threads(history, ["thread_s"])
    await history.aclose()
    client = redis_server.client()
    assert key_id_of(client.get("{lab11:thread_s}:summary")) == "new"

    keyed = store(redis_server, NEW, context_messages=2, summarizer=summarize)
    assert await keyed.window.fold("thread_s") is None  # nothing new to fold: its fingerprint still matches
    messages = await keyed.list_messages()
    assert messages[0].role.value == "system" and "Lisbon" in messages[0].text


async def test_sealed_turns_and_a_rekey_need_no_command_beyond_the_least_privilege_acl(
    redis_server: ValkeyProcess,
) -> None:
    password = secrets.token_urlsafe(24)
    user = acl.make_user(redis_server, acl.acl_setuser_arguments(password), acl.USER, password)
    old = RedisChatMessageStore(
        user.url,
        thread_id="thread_u",
        key_prefix=acl.KEY_PREFIX,
        encryption_keys=OLD,
        context_messages=2,
        summarizer=summarize,
    )
    await chat(old)
    await old.aclose()
    history = RedisHistory.connect(user.url, key_prefix=acl.KEY_PREFIX, encryption_keys=[NEW, OLD])

    results = [result async for page in rekey_all(history) for result in page]
    await history.aclose()

    assert [(result.thread_id, result.outcome) for result in results] == [("thread_u", REKEYED)]
    assert user.refused() == []
