"""Beyond the lab, point 3: a thread snapshot resumes the whole Redis history, even in another process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from agent_framework import AgentThread, ChatMessage

from redis_chat_message_store import RedisChatMessageStore, resume_thread
from tests.support.valkey import ValkeyProcess

STORE_FOLDER = Path(__file__).resolve().parents[2] / "11-external-persistence"

WRITER = textwrap.dedent(
    """
    import asyncio, json, sys
    sys.path.insert(0, sys.argv[2])
    from agent_framework import AgentThread, ChatMessage
    from redis_chat_message_store import RedisChatMessageStore

    async def main():
        store = RedisChatMessageStore(redis_url=sys.argv[1], key_prefix="lab11", max_messages=200)
        thread = AgentThread(message_store=store)
        await store.add_messages([
            ChatMessage(role="user", text="I am flying to Lisbon in May."),
            ChatMessage(role="assistant", text="Noted: Lisbon, May."),
        ])
        print(json.dumps(await thread.serialize()))
        await store.aclose()

    asyncio.run(main())
    """
)

READER = textwrap.dedent(
    """
    import asyncio, json, sys
    sys.path.insert(0, sys.argv[2])
    from redis_chat_message_store import resume_thread

    async def main():
        thread = await resume_thread(sys.stdin.read(), redis_url=sys.argv[1])
        print(json.dumps([[m.role.value, m.text] for m in await thread.message_store.list_messages()]))
        await thread.message_store.aclose()

    asyncio.run(main())
    """
)


def _python(script: str, redis_url: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, redis_url, str(STORE_FOLDER)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.mark.server
@pytest.mark.shares_a_server
async def test_thread_serialize_keeps_the_store_metadata(redis_server: ValkeyProcess) -> None:
    store = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_1", key_prefix="lab11")
    snapshot = await AgentThread(message_store=store).serialize()
    assert snapshot["chat_message_store_state"]["store_metadata"]["thread_id"] == "thread_1"
    await store.aclose()


@pytest.mark.server
@pytest.mark.shares_a_server
async def test_resume_thread_after_a_json_round_trip_has_the_whole_history(redis_server: ValkeyProcess) -> None:
    store = RedisChatMessageStore(redis_url=redis_server.url, key_prefix="lab11")
    await store.add_messages([ChatMessage(role="user", text="one"), ChatMessage(role="assistant", text="two")])
    snapshot_json = json.dumps(await AgentThread(message_store=store).serialize())

    resumed = await resume_thread(snapshot_json)

    assert resumed.message_store.thread_id == store.thread_id
    assert [message.text for message in await resumed.message_store.list_messages()] == ["one", "two"]
    await store.aclose()
    await resumed.message_store.aclose()


@pytest.mark.server
@pytest.mark.shares_a_server
def test_resume_thread_in_another_process_has_the_whole_history(redis_server: ValkeyProcess) -> None:
    snapshot = _python(WRITER, redis_server.url)
    assert "Lisbon" not in snapshot  # the snapshot carries no transcript: Redis holds it
    history = json.loads(_python(READER, redis_server.url, stdin=snapshot))
    assert history == [["user", "I am flying to Lisbon in May."], ["assistant", "Noted: Lisbon, May."]]


@pytest.mark.fast
async def test_resume_thread_rejects_a_snapshot_without_a_store() -> None:
    with pytest.raises(ValueError, match="chat_message_store_state"):
        await resume_thread({"type": "agent_thread_state", "service_thread_id": "abc"})
