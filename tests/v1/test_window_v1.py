"""The window and the summary on Agent Framework 1.x: RedisHistoryProvider(context_messages=..., summarizer=...).

Runs in the 1.x environment (.venv-v1), on a real Valkey, with the 1.x agent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import agent_framework
import pytest

if hasattr(agent_framework, "ChatMessage"):  # the lab's release: these tests run in the 1.x environment
    pytest.skip("needs Agent Framework 1.x (.venv-v1)", allow_module_level=True)

from agent_framework import Message
from agent_framework.openai import OpenAIChatCompletionClient

from lab11_persistence.offline_model.reasoning import summarize_messages
from lab11_persistence.offline_model.v1_client import OfflineChatClientV1
from lab11_persistence.redis_history.summary import Summary
from lab11_persistence.summaries import SUMMARIZING_INSTRUCTIONS
from lab11_persistence.v1 import RedisHistoryProvider, summarizer_for
from lab11_persistence.v1 import agent as agent_v1
from tests.support.model_server import ModelServer, RecordedRequest
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.v1

FIRST = "My name is Ana and I'm planning a trip to Lisbon."
WINDOW = 40


class RecordingOfflineClientV1(OfflineChatClientV1):
    def __init__(self) -> None:
        super().__init__(chunk_delay=0)
        self.requests: list[list[tuple[str, str]]] = []

    def _reply_text(self, messages: Sequence[Message]) -> str:
        self.requests.append([(str(message.role), message.text or "") for message in messages])
        return super()._reply_text(messages)


def _provider(server: ValkeyProcess, summarizer: Any, window: int = WINDOW) -> RedisHistoryProvider:
    return RedisHistoryProvider(
        redis_url=server.url, key_prefix="lab11", max_messages=200, context_messages=window, summarizer=summarizer
    )


async def _chat(agent: Any, session: Any, prompt: str) -> str:
    return "".join([update.text async for update in agent.run(prompt, session=session, stream=True) if update.text])


async def test_the_first_fact_is_answered_after_ten_windows_on_1x(redis_server: ValkeyProcess) -> None:
    model = RecordingOfflineClientV1()
    provider = _provider(redis_server, summarize_messages)
    agent = agent_v1.build_agent(provider, model)
    session = agent.create_session(session_id="thread_v1")
    await _chat(agent, session, FIRST)
    for number in range(10 * WINDOW // 2):
        await _chat(agent, session, f"Tell me something about day {number}.")
    answer = await _chat(agent, session, "What is my name, and where do I want to go?")

    assert "Your name is Ana." in answer and "Lisbon" in answer
    assert len(model.requests[-1]) <= 1 + 1 + WINDOW + 1
    assert all(FIRST not in text for _, text in model.requests[-1])
    assert provider.window is not None
    await provider.window.settle()
    assert redis_server.client().llen("lab11:thread_v1") == 200
    await provider.aclose()


async def test_the_summary_is_not_saved_as_a_message(redis_server: ValkeyProcess) -> None:
    provider = _provider(redis_server, summarize_messages, window=4)
    agent = agent_v1.build_agent(provider, OfflineChatClientV1(chunk_delay=0))
    session = agent.create_session(session_id="thread_v1")
    for number in range(6):
        await _chat(agent, session, f"Turn {number}.")
    entries = [json.loads(entry) for entry in redis_server.client().lrange("lab11:thread_v1", 0, -1)]
    assert [entry["role"]["value"] for entry in entries] == ["user", "assistant"] * 6
    sent = await provider.get_messages("thread_v1")
    assert sent[0].role == "system" and sent[0].text.startswith("Summary of the 8 earlier messages")
    await provider.aclose()


async def test_a_real_openai_client_summarizes_on_1x(redis_server: ValkeyProcess, model_server: ModelServer) -> None:
    def reply(request: RecordedRequest, number: int) -> str:
        if request.messages and SUMMARIZING_INSTRUCTIONS in str(request.messages[0].get("content")):
            return "The user's name is Ana." if "Ana" in json.dumps(request.body) else "-"
        return f"Reply {number}."

    model_server.reply = reply
    client = OpenAIChatCompletionClient(model="loopback", api_key="sk-test", base_url=model_server.openai_base_url)
    provider = _provider(redis_server, summarizer_for(client), window=4)
    agent = agent_v1.build_agent(provider, client)
    session = agent.create_session(session_id="thread_v1")
    await _chat(agent, session, FIRST)
    for number in range(4):
        await _chat(agent, session, f"Turn {number}.")
    await _chat(agent, session, "What is my name?")
    texts = json.dumps(model_server.requests[-1].messages)
    assert "The user's name is Ana." in texts and FIRST not in texts
    await provider.aclose()


async def test_a_thread_summarized_on_the_labs_release_keeps_its_summary_on_1x(redis_server: ValkeyProcess) -> None:
    """The record is the same on both generations: written by one, read and continued by the other."""
    client = redis_server.client()
    lab_entry = {"type": "chat_message", "role": {"type": "role", "value": "user"}, "additional_properties": {}}
    for number in range(6):
        text_content = {"type": "text", "text": f"m{number}", "additional_properties": {}}
        client.rpush("lab11:thread_x", json.dumps({**lab_entry, "contents": [text_content]}))
    written = Summary("My name is Ana.", covers=2, in_list=2, last="").record()
    client.set("{lab11:thread_x}:summary", written)
    provider = _provider(redis_server, summarize_messages, window=4)
    summary = await provider.summary("thread_x")
    assert summary is not None and summary.covers == 2
    sent = await provider.get_messages("thread_x")
    assert sent[0].text.endswith("My name is Ana.") and [m.text for m in sent[1:]] == ["m2", "m3", "m4", "m5"]
    await provider.aclose()


@pytest.mark.parametrize("context_messages", [None, 0])
async def test_a_summarizer_without_a_window_leaves_the_trim_to_max_messages_on_1x(
    fake_redis: Any, context_messages: int | None
) -> None:
    """``LAB11_CONTEXT_MESSAGES=all`` on 1.x: a summarizer is given, and the lab's LTRIM must still run."""
    provider = RedisHistoryProvider(
        redis_client=fake_redis,
        key_prefix="lab11",
        max_messages=4,
        context_messages=context_messages,
        summarizer=summarize_messages,
    )
    for number in range(10):
        await provider.save_messages("thread_all", [Message("user", [f"m{number}"])])
    assert [message.text for message in await provider.get_messages("thread_all")] == ["m6", "m7", "m8", "m9"]
    assert await fake_redis.llen("lab11:thread_all") == 4
