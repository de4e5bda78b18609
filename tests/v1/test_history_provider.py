"""The lab's Redis history on Agent Framework 1.x: RedisHistoryProvider, and a lab thread continued there.

Runs in the 1.x environment (.venv-v1); skipped on the lab's release.
"""

from __future__ import annotations

import json
import logging

import agent_framework
import fakeredis
import pytest

if hasattr(agent_framework, "ChatMessage"):  # the lab's release: these tests run in the 1.x environment
    pytest.skip("needs Agent Framework 1.x (.venv-v1)", allow_module_level=True)

from agent_framework import Message

from lab11_persistence.offline_model.v1_client import OfflineChatClientV1
from lab11_persistence.v1 import agent as agent_v1
from lab11_persistence.v1 import history_provider as redis_history_provider
from lab11_persistence.v1.history_provider import RedisHistoryProvider
from tests.support import message_fixtures as fx
from tests.support.messages import texts_of
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.v1

LAB_TURNS = [
    '{"type":"chat_message","role":{"type":"role","value":"user"},"contents":[{"type":"text",'
    '"text":"My name is Ana and I\'m planning a trip to Lisbon.","additional_properties":{}}],'
    '"additional_properties":{}}',
    '{"type":"chat_message","role":{"type":"role","value":"assistant"},"contents":[{"type":"text",'
    '"text":"Noted.","additional_properties":{}}],"additional_properties":{}}',
    '{"type":"chat_message","role":{"type":"role","value":"user"},"contents":[{"type":"text",'
    '"text":"I travel in May and I love seafood.","additional_properties":{}}],"additional_properties":{}}',
]


async def test_saved_messages_come_back_in_order(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    provider = RedisHistoryProvider(redis_client=fake_redis, key_prefix="lab11")
    await provider.save_messages("thread_1", [Message(role="user", contents=["one"])])
    await provider.save_messages("thread_1", [Message(role="assistant", contents=["two"])])
    assert texts_of(await provider.get_messages("thread_1")) == ["one", "two"]


async def test_the_key_is_the_labs_prefix_colon_thread_id(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    provider = RedisHistoryProvider(redis_client=fake_redis, key_prefix="lab11")
    await provider.save_messages("thread_1", [Message(role="user", contents=["hi"])])
    assert await fake_redis.lrange("lab11:thread_1", 0, -1) != []


async def test_entries_are_written_in_the_labs_json_shape(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    provider = RedisHistoryProvider(redis_client=fake_redis, key_prefix="lab11")
    await provider.save_messages("thread_1", [Message(role="user", contents=["hi"])])
    entry = json.loads((await fake_redis.lrange("lab11:thread_1", 0, -1))[0])
    assert (entry["type"], entry["role"]) == ("chat_message", {"type": "role", "value": "user"})


async def test_max_messages_keeps_only_the_newest(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    provider = RedisHistoryProvider(redis_client=fake_redis, max_messages=2)
    for number in range(5):
        await provider.save_messages("t", [Message(role="user", contents=[f"m{number}"])])
    assert texts_of(await provider.get_messages("t")) == ["m3", "m4"]


@pytest.mark.parametrize("release", fx.RELEASES)
async def test_every_releases_entries_read_back_on_1x(fake_redis: fakeredis.FakeAsyncRedis, release: str) -> None:
    await fake_redis.rpush("lab11:old", *fx.fixture_lines(release))
    provider = RedisHistoryProvider(redis_client=fake_redis, key_prefix="lab11")
    assert len(await provider.get_messages("old")) == len(fx.fixture_lines(release))


async def test_on_an_older_1x_a_newer_1x_entry_reads_without_the_fields_it_lacks(
    fake_redis: fakeredis.FakeAsyncRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1.8.0's Content has no ``hosted``: 1.23.0's function-call entries still read there, without it."""
    monkeypatch.setattr(redis_history_provider, "CONTENT_FIELDS", redis_history_provider.CONTENT_FIELDS - {"hosted"})
    await fake_redis.rpush("lab11:newer", *fx.fixture_lines("1.23.0"))
    provider = RedisHistoryProvider(redis_client=fake_redis, key_prefix="lab11")
    assert len(await provider.get_messages("newer")) == len(fx.fixture_lines("1.23.0"))


async def test_an_entry_that_is_not_a_message_is_skipped_with_a_warning_and_kept(
    fake_redis: fakeredis.FakeAsyncRedis, caplog: pytest.LogCaptureFixture
) -> None:
    await fake_redis.rpush("lab11:t", LAB_TURNS[0], "not json at all")
    provider = RedisHistoryProvider(redis_client=fake_redis, key_prefix="lab11")
    with caplog.at_level(logging.WARNING):
        assert len(await provider.get_messages("t")) == 1
    assert "Skipping entry 1 of lab11:t" in caplog.text
    assert await fake_redis.llen("lab11:t") == 2


def test_the_repr_names_host_and_port_never_the_password() -> None:
    provider = RedisHistoryProvider(redis_url="redis://:s3cret-pw@127.0.0.1:6390/0")
    assert "s3cret-pw" not in repr(provider) and "127.0.0.1:6390/0" in repr(provider)


def test_exactly_one_connection_source_is_required(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    with pytest.raises(ValueError, match="Either redis_client, redis_url, or credential_provider must be provided"):
        RedisHistoryProvider()
    with pytest.raises(ValueError, match="redis_client, redis_url, and credential_provider are mutually exclusive"):
        RedisHistoryProvider(redis_url="redis://h:1/0", redis_client=fake_redis)


async def test_a_1x_agent_continues_a_lab_thread_with_its_whole_history(redis_server: ValkeyProcess) -> None:
    """The lab's release wrote two turns; 1.x reads them, answers from them, and appends in the lab's shape."""
    server = redis_server.client()
    server.rpush("lab11:thread_lab", *LAB_TURNS, LAB_TURNS[1])
    provider = RedisHistoryProvider(redis_url=redis_server.url, key_prefix="lab11", max_messages=200)
    agent = agent_v1.build_agent(provider, OfflineChatClientV1(chunk_delay=0))
    session = agent.create_session(session_id="thread_lab")
    reply = await agent.run("What do you remember about me?", session=session)
    assert "I received 4 earlier messages" in reply.text
    assert "Lisbon" in reply.text and "May" in reply.text and "seafood" in reply.text
    entries = [json.loads(raw) for raw in server.lrange("lab11:thread_lab", 0, -1)]
    assert len(entries) == 6
    assert all(entry["type"] == "chat_message" for entry in entries)
    await provider.aclose()


async def test_one_run_is_one_save(redis_server: ValkeyProcess) -> None:
    """The agent calls save_messages once per run, so the question and its reply land together."""
    provider = RedisHistoryProvider(redis_url=redis_server.url, key_prefix="lab11")
    saves: list[int] = []
    original = provider.history.append

    async def counting(thread_id: str, entries: list[str], **options: bool) -> int | None:
        saves.append(len(entries))
        return await original(thread_id, entries, **options)

    provider.history.append = counting  # type: ignore[method-assign]
    agent = agent_v1.build_agent(provider, OfflineChatClientV1(chunk_delay=0))
    session = agent.create_session(session_id="thread_once")
    async for _ in agent.run("Hello, I'm Ana.", session=session, stream=True):
        pass
    assert saves == [2]
    await provider.aclose()


async def test_a_session_after_a_run_holds_no_password(redis_server: ValkeyProcess) -> None:
    server = redis_server.client()
    server.execute_command("CONFIG", "SET", "requirepass", "s3cret-pw")
    provider = RedisHistoryProvider(redis_url=f"redis://:s3cret-pw@127.0.0.1:{redis_server.port}/0")
    agent = agent_v1.build_agent(provider, OfflineChatClientV1(chunk_delay=0))
    session = agent.create_session(session_id="thread_secret")
    await agent.run("Hello, I'm Ana.", session=session)
    assert "s3cret-pw" not in json.dumps(session.to_dict(), default=str)
    assert "s3cret-pw" not in repr(provider) + repr(session)
    await provider.aclose()
