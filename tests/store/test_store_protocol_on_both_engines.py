"""The lab's store through its protocol (``add_messages``, ``list_messages``, the state hooks), with and without
a window, on fakeredis (fast layer) and on the shared real server (server layer) through ``redis_backend``.

The same behaviours against a server of their own, with the app's agent, are in test_window_and_summary.py
and test_snapshot_resume.py; these add the in-process run a contributor gets in the fast layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_framework import ChatMessage

from lab11_persistence.redis_history.message_json import message_text
from redis_chat_message_store import RedisChatMessageStore
from tests.support.backends import RedisBackend
from tests.support.lab_release import chat_turn
from tests.support.messages import entry_texts, texts_of, turn_texts


async def _joined(previous: str | None, messages: Sequence[dict[str, Any]]) -> str:
    return "|".join([*([previous] if previous else []), *(message_text(message) for message in messages)])


def _windowed(backend: RedisBackend, **options: Any) -> RedisChatMessageStore:
    return RedisChatMessageStore(
        redis_client=backend.client(), thread_id="thread_p", key_prefix="lab11", context_messages=4, **options
    )


async def test_with_a_window_the_model_gets_the_summary_then_the_newest_messages(redis_backend: RedisBackend) -> None:
    store = _windowed(redis_backend, summarizer=_joined)
    for number in range(5):
        await store.add_messages(chat_turn(number))
    sent = await store.list_messages()
    assert sent[0].role.value == "system" and "u0|a0|u1|a1|u2|a2" in sent[0].text
    assert texts_of(sent[1:]) == turn_texts(range(3, 5))
    assert texts_of(await store.list_all_messages()) == turn_texts(range(5))
    summary = await store.summary()
    assert summary is not None and summary.covers == 6
    await store.aclose()


async def test_a_window_without_a_summarizer_sends_only_the_newest_messages(redis_backend: RedisBackend) -> None:
    store = _windowed(redis_backend)
    for number in range(5):
        await store.add_messages(chat_turn(number))
    assert texts_of(await store.list_messages()) == turn_texts(range(3, 5))
    assert await store.summary() is None
    await store.aclose()


async def test_closing_the_store_waits_for_the_last_fold(redis_backend: RedisBackend) -> None:
    store = _windowed(redis_backend, summarizer=_joined)
    for number in range(5):
        await store.add_messages(chat_turn(number))
    await store.aclose()
    record = redis_backend.admin.get("{lab11:thread_p}:summary")
    assert record is not None and '"covers":6' in record


async def test_initial_messages_are_written_once_before_the_first_turn(redis_backend: RedisBackend) -> None:
    first = ChatMessage(role="system", text="You are a travel agent.")
    store = RedisChatMessageStore(
        redis_client=redis_backend.client(), thread_id="t", key_prefix="lab11", messages=[first]
    )
    again = RedisChatMessageStore(
        redis_client=redis_backend.client(), thread_id="t", key_prefix="lab11", messages=[first]
    )
    await store.add_messages(chat_turn(0))
    await again.list_messages()
    assert entry_texts(redis_backend.admin.lrange("lab11:t", 0, -1)) == ["You are a travel agent.", "u0", "a0"]


async def test_a_serialized_store_comes_back_on_a_given_client(redis_backend: RedisBackend) -> None:
    store = RedisChatMessageStore(
        redis_client=redis_backend.client(), thread_id="t", key_prefix="lab11", max_messages=6
    )
    await store.add_messages(chat_turn(0))
    state = await store.serialize()
    back = await RedisChatMessageStore.deserialize(dict(state), redis_client=redis_backend.client())
    assert (back.thread_id, back.key_prefix, back.max_messages) == ("t", "lab11", 6)
    assert texts_of(await back.list_messages()) == ["u0", "a0"]


async def test_updating_from_a_state_points_the_store_at_that_thread(redis_backend: RedisBackend) -> None:
    source = RedisChatMessageStore(redis_client=redis_backend.client(), thread_id="the_one", key_prefix="other")
    await source.add_messages(chat_turn(7))
    store = RedisChatMessageStore(redis_client=redis_backend.client(), thread_id="t", key_prefix="lab11")
    await store.update_from_state(dict(await source.serialize()), redis_client=redis_backend.client())
    assert (store.thread_id, store.redis_key) == ("the_one", "other:the_one")
    assert texts_of(await store.list_messages()) == ["u7", "a7"]


async def test_another_thread_on_the_same_connection_keeps_the_window(redis_backend: RedisBackend) -> None:
    store = _windowed(redis_backend, summarizer=_joined)
    other = store.for_thread("thread_q")
    assert (other.thread_id, other.context_messages, other.summarizer) == ("thread_q", 4, _joined)
    await other.add_messages(chat_turn(0))
    assert await store.count_messages() == 0 and await other.count_messages() == 2
