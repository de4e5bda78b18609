"""Remembering past the window: the model is sent a summary and the newest messages; nothing is dropped.

On a real Valkey, with the app's agent (``app.build_agent``) or the store alone. The summarizer is the
offline model's own, or a test double that says exactly which messages it folded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableSequence, Sequence
from typing import Any

import pytest
from agent_framework import ChatMessage
from agent_framework.openai import OpenAIChatClient

import app
from lab11_persistence.config import DEFAULT_CONTEXT_MESSAGES, MAX_MESSAGES
from lab11_persistence.lab_release.agent import summarizer_for
from lab11_persistence.offline_model.lab_client import OfflineChatClient
from lab11_persistence.offline_model.reasoning import summarize_messages
from lab11_persistence.redis_history.message_json import message_text
from lab11_persistence.redis_history.summary import Summary
from lab11_persistence.summaries import SUMMARIZING_INSTRUCTIONS
from redis_chat_message_store import RedisChatMessageStore
from tests.support.lab_release import chat_turn, lab_store
from tests.support.messages import entry_texts
from tests.support.model_server import ModelServer, RecordedRequest
from tests.support.valkey import ValkeyProcess

pytestmark = [pytest.mark.server, pytest.mark.shares_a_server]

FIRST = "My name is Ana and I'm planning a trip to Lisbon."
WINDOW = DEFAULT_CONTEXT_MESSAGES
TEN_WINDOWS_OF_TURNS = 10 * WINDOW // 2


class RecordingOfflineClient(OfflineChatClient):
    """The offline model, keeping what each request sent it as (role, text)."""

    def __init__(self) -> None:
        super().__init__(chunk_delay=0)
        self.requests: list[list[tuple[str, str]]] = []

    def _reply_text(self, messages: MutableSequence[ChatMessage]) -> str:
        self.requests.append([(str(message.role.value), message.text or "") for message in messages])
        return super()._reply_text(messages)


class FoldRecorder:
    """A summarizer whose summary lists the texts it folded, in order; it can be told to fail or to wait."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.entered = asyncio.Event()
        self.release: asyncio.Event | None = None

    async def __call__(self, previous: str | None, messages: Sequence[dict[str, Any]]) -> str:
        self.calls += 1
        self.entered.set()
        if self.release is not None:
            await self.release.wait()
        if self.fail:
            raise RuntimeError("the summarizing model is down")
        texts = [message_text(message) for message in messages]
        return "|".join([*([previous] if previous else []), *texts])


def _store(server: ValkeyProcess, summarizer: Any, *, window: int = 4, max_messages: int | None = None, **kw: Any):  # type: ignore[no-untyped-def]
    thread_id = kw.pop("thread_id", "thread_w")
    return lab_store(
        thread_id, redis_url=server.url, max_messages=max_messages, context_messages=window, summarizer=summarizer, **kw
    )


def _stored_texts(server: ValkeyProcess, key: str = "lab11:thread_w") -> list[str]:
    return entry_texts(server.client().lrange(key, 0, -1))


def _summary(server: ValkeyProcess, thread_id: str = "thread_w") -> Summary | None:
    return Summary.parse(server.client().get(f"{{lab11:{thread_id}}}:summary"))


async def _chat(agent: Any, thread: Any, prompt: str) -> str:
    return "".join([update.text async for update in agent.run_stream(prompt, thread=thread)])


# -- the first fact, ten windows later ----------------------------------------------------------


async def test_the_first_fact_is_answered_after_ten_windows_with_the_offline_model(
    redis_server: ValkeyProcess,
) -> None:
    model = RecordingOfflineClient()
    agent = app.build_agent(redis_server.url, model, context_messages=WINDOW, summarizer=summarize_messages)
    thread, store = app.create_thread(agent)
    await _chat(agent, thread, FIRST)
    for number in range(TEN_WINDOWS_OF_TURNS):
        await _chat(agent, thread, f"Tell me something about day {number}.")
    answer = await _chat(agent, thread, "What is my name, and where do I want to go?")

    assert "Your name is Ana." in answer and "Lisbon" in answer
    last_request = model.requests[-1]
    assert len(last_request) <= 1 + 1 + WINDOW + 1  # instructions, summary, window, the new message
    assert all(FIRST not in text for _, text in last_request)
    assert store.window is not None
    await store.window.settle()  # the last turn's fold, which trims what it covers
    assert await store.count_messages() == MAX_MESSAGES  # the lab's cap still holds
    await store.aclose()


async def test_the_first_fact_reaches_a_real_openai_client_through_the_summary(
    redis_server: ValkeyProcess, model_server: ModelServer
) -> None:
    """Ten windows of 8 messages (every turn and every fold an HTTP request to the loopback model server)."""
    window = 8

    def reply(request: RecordedRequest, number: int) -> str:
        if request.messages and SUMMARIZING_INSTRUCTIONS in str(request.messages[0].get("content")):
            return "The user's name is Ana; she wants to go to Lisbon." if "Ana" in json.dumps(request.body) else "-"
        return f"Reply {number}."

    model_server.reply = reply
    client = OpenAIChatClient(model_id="loopback", api_key="sk-test", base_url=model_server.openai_base_url)
    agent = app.build_agent(redis_server.url, client, context_messages=window, summarizer=summarizer_for(client))
    thread, store = app.create_thread(agent)
    await _chat(agent, thread, FIRST)
    for number in range(10 * window // 2):
        await _chat(agent, thread, f"Tell me something about day {number}.")
    await _chat(agent, thread, "What is my name?")

    last = model_server.requests[-1]
    assert SUMMARIZING_INSTRUCTIONS not in json.dumps(last.body)  # the turn's own request, not a summary
    texts = [str(message.get("content")) for message in last.messages]
    assert len(texts) <= 1 + 1 + window + 1
    assert any("The user's name is Ana" in text for text in texts)
    assert all(FIRST not in text for text in texts)
    await store.aclose()


# -- nothing dropped ------------------------------------------------------------------------------


async def test_the_list_keeps_every_message_until_the_summary_covers_it(redis_server: ValkeyProcess) -> None:
    summarizer = FoldRecorder()
    summarizer.fail = True
    store = _store(redis_server, summarizer, window=4, max_messages=6)
    for number in range(8):
        await store.add_messages(chat_turn(number))
        await store.list_messages()  # a turn's read: the fold before it fails too
    assert len(_stored_texts(redis_server)) == 16  # over the cap: none is covered, so none is trimmed
    summarizer.fail = False
    await store.list_messages()
    assert _stored_texts(redis_server) == [text for n in range(5, 8) for text in (f"u{n}", f"a{n}")]
    summary = _summary(redis_server)
    assert summary is not None and summary.covers == 12
    assert summary.text.split("|") == [text for n in range(6) for text in (f"u{n}", f"a{n}")]
    await store.aclose()


async def test_the_summary_never_enters_the_message_list(redis_server: ValkeyProcess) -> None:
    store = _store(redis_server, summarize_messages, window=4)
    for number in range(6):
        await store.add_messages(chat_turn(number))
        sent = await store.list_messages()
    assert sent[0].role.value == "system" and sent[0].text.startswith("Summary of the ")
    assert _stored_texts(redis_server) == [text for n in range(6) for text in (f"u{n}", f"a{n}")]
    assert [message.text for message in await store.list_all_messages()] == _stored_texts(redis_server)
    plain = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_w", key_prefix="lab11")
    assert [message.text for message in await plain.list_messages()] == _stored_texts(redis_server)
    await plain.aclose()
    await store.aclose()


async def test_without_a_window_the_store_sends_every_message_as_the_lab_does(redis_server: ValkeyProcess) -> None:
    store = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_w", key_prefix="lab11", max_messages=6)
    for number in range(5):
        await store.add_messages(chat_turn(number))
    assert [message.text for message in await store.list_messages()] == _stored_texts(redis_server)
    assert len(_stored_texts(redis_server)) == 6
    assert _summary(redis_server) is None
    await store.aclose()


# -- off the turn's path, and its failures ----------------------------------------------------------


async def test_a_turn_reads_the_window_and_the_summary_in_one_round_trip(
    redis_server: ValkeyProcess, socket_writes: list[tuple[int, list[str]]]
) -> None:
    store = _store(redis_server, summarize_messages, window=4)
    for number in range(10):
        await store.add_messages(chat_turn(number))
    await store.list_messages()  # settles the last fold
    socket_writes.clear()
    sent = await store.list_messages()
    assert [commands for _, commands in socket_writes] == [["GET", "LLEN", "LRANGE"]]
    assert [message.text for message in sent[1:]] == ["u8", "a8", "u9", "a9"]
    await store.aclose()


async def test_a_summary_call_that_fails_still_leaves_the_turn_answered(redis_server: ValkeyProcess) -> None:
    summarizer = FoldRecorder()
    agent = app.build_agent(
        redis_server.url, OfflineChatClient(chunk_delay=0), context_messages=4, summarizer=summarizer
    )
    thread, store = app.create_thread(agent)
    for number in range(3):
        await _chat(agent, thread, f"Turn {number}.")
    summarizer.fail = True
    calls_before = summarizer.calls
    answer = await _chat(agent, thread, "My name is Ana.")
    assert answer.startswith("[offline model] I received 4 earlier messages")
    assert await store.count_messages() == 8
    await _chat(agent, thread, "Still there?")  # the next turn tries again, and is answered too
    assert summarizer.calls > calls_before + 1
    summarizer.fail = False
    answer = await _chat(agent, thread, "What is my name?")
    assert "Your name is Ana." in answer
    assert "and a summary of the" in answer
    await store.aclose()


async def test_a_fold_cancelled_during_the_summary_call_changes_nothing(redis_server: ValkeyProcess) -> None:
    """What Ctrl-C (or closing the app) does to a fold in flight."""
    summarizer = FoldRecorder()
    store = _store(redis_server, summarizer, window=4, max_messages=6)
    for number in range(4):
        await store.add_messages(chat_turn(number))
        await store.list_messages()
    before_list, before_summary = _stored_texts(redis_server), redis_server.client().get("{lab11:thread_w}:summary")
    summarizer.release, summarizer.entered = asyncio.Event(), asyncio.Event()
    await store.add_messages(chat_turn(4))
    await asyncio.wait_for(summarizer.entered.wait(), timeout=10)
    assert store.window is not None
    await store.window.settle(timeout=0)  # gives up on it: cancelled before its EXEC
    assert redis_server.client().get("{lab11:thread_w}:summary") == before_summary
    assert _stored_texts(redis_server) == [*before_list, "u4", "a4"]
    summarizer.release.set()
    await store.list_messages()  # the next turn folds what the cancelled fold did not
    assert _summary(redis_server).text.split("|")[-2:] == ["u2", "a2"]  # type: ignore[union-attr]
    await store.aclose()


async def test_a_thread_another_store_wrote_is_summarized_before_its_next_turn(redis_server: ValkeyProcess) -> None:
    plain = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_w", key_prefix="lab11")
    await plain.add_messages([ChatMessage(role="user", text=FIRST)])
    for number in range(30):
        await plain.add_messages(chat_turn(number))
    await plain.aclose()
    store = _store(redis_server, summarize_messages, window=4)
    sent = await store.list_messages()
    assert len(sent) == 1 + 4
    assert "My name is Ana. I want to go to Lisbon." in sent[0].text
    assert _summary(redis_server).covers == 61 - 4  # type: ignore[union-attr]
    await store.aclose()


# -- where it is kept -----------------------------------------------------------------------------


async def test_restart_and_resume_keep_the_summary(redis_server: ValkeyProcess) -> None:
    store = _store(redis_server, summarize_messages, window=4)
    await store.add_messages([ChatMessage(role="user", text=FIRST), ChatMessage(role="assistant", text="ok")])
    for number in range(4):
        await store.add_messages(chat_turn(number))
    await store.aclose()  # waits for the last fold
    resumed = RedisChatMessageStore.from_state(await store.serialize_state(), redis_url=redis_server.url)
    again = _store(redis_server, summarize_messages, window=4, thread_id=resumed.thread_id)
    sent = await again.list_messages()
    assert sent[0].text.startswith("Summary of the 6 earlier messages") and "Lisbon" in sent[0].text
    summary = await resumed.summary()
    assert summary is not None and summary.covers == 6
    await resumed.aclose()
    await again.aclose()


async def test_the_summary_lives_in_the_threads_hash_slot(redis_server: ValkeyProcess) -> None:
    from redis.crc import key_slot

    store = _store(redis_server, summarize_messages, window=2)
    assert key_slot(store.history.summary_key("thread_w").encode()) == key_slot(store.redis_key.encode())
    await store.aclose()


async def test_clearing_a_thread_deletes_its_summary(redis_server: ValkeyProcess) -> None:
    store = _store(redis_server, summarize_messages, window=2)
    for number in range(3):
        await store.add_messages(chat_turn(number))
    await store.list_messages()
    assert _summary(redis_server) is not None
    await store.clear()
    assert redis_server.client().exists("lab11:thread_w", "{lab11:thread_w}:summary") == 0
    await store.aclose()


async def test_the_summary_expires_with_the_thread(redis_server: ValkeyProcess) -> None:
    store = _store(redis_server, summarize_messages, window=2, ttl_seconds=600)
    for number in range(3):
        await store.add_messages(chat_turn(number))
    await store.list_messages()
    ttl = redis_server.client().ttl("{lab11:thread_w}:summary")
    assert 0 < ttl <= 600
    await store.aclose()


@pytest.mark.parametrize("window", [1, 3])
async def test_a_window_larger_than_the_thread_sends_the_whole_thread_and_no_summary(
    redis_server: ValkeyProcess, window: int
) -> None:
    store = _store(redis_server, summarize_messages, window=10)
    for number in range(window):
        await store.add_messages(chat_turn(number))
    sent = await store.list_messages()
    assert [message.text for message in sent] == _stored_texts(redis_server)
    assert _summary(redis_server) is None
    await store.aclose()


async def test_a_window_grown_past_what_was_summarized_sends_no_message_twice(redis_server: ValkeyProcess) -> None:
    small = _store(redis_server, summarize_messages, window=4)
    for number in range(5):
        await small.add_messages(chat_turn(number))
    await small.aclose()  # 10 messages, the first 6 summarized
    grown = _store(redis_server, summarize_messages, window=8)
    sent = await grown.list_messages()
    assert sent[0].text.startswith("Summary of the 6 earlier messages")
    assert [message.text for message in sent[1:]] == ["u3", "a3", "u4", "a4"]  # not u2, a2 again
    await grown.aclose()
    whole = _store(redis_server, summarize_messages, window=40)
    sent = await whole.list_messages()  # every summarized message is in the window: no summary
    assert [message.text for message in sent] == _stored_texts(redis_server)
    await whole.aclose()
