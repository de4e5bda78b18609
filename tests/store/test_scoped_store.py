"""The lab's store on Microsoft's scoped keys (``application_id=``, ``tenant_id=``, ``agent_id=``).

With a scope the store writes where Microsoft's 1.x provider reads, in the 1.x JSON that provider
reads (tests/v1 has the provider itself read it); without one, everything is as before. A snapshot
carries the scope, so a resumed thread lands on the same key; each scope lists only its own threads.
"""

from __future__ import annotations

import json

import fakeredis
import pytest
from agent_framework import AgentThread, ChatMessage
from hypothesis import HealthCheck, given, settings

from redis_chat_message_store import RedisChatMessageStore, RedisStoreState, resume_thread
from tests.support.lab_release import lab_store
from tests.support.message_strategies import messages
from tests.support.valkey import ValkeyProcess

SCOPE = {"tenant_id": "acme", "application_id": "travel-app", "agent_id": "planner"}
KEY = "lab11|v2|acme|travel-app|planner|redis_memory|thread_1"


@pytest.mark.fast
async def test_a_scoped_store_writes_1x_json_at_microsofts_key(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    store = lab_store(redis_client=fake_redis, **SCOPE)
    await store.add_messages([ChatMessage(role="user", text="hello"), ChatMessage(role="assistant", text="hi")])
    assert store.redis_key == KEY
    entries = [json.loads(entry) for entry in await fake_redis.lrange(KEY, 0, -1)]
    assert [(entry["type"], entry["role"]) for entry in entries] == [("message", "user"), ("message", "assistant")]
    assert [message.text for message in await store.list_messages()] == ["hello", "hi"]
    assert await fake_redis.zscore("lab11|v2|acme|travel-app|planner|redis_memory|~recent-threads", "thread_1")
    assert await fake_redis.exists("lab11:thread_1", "lab11.recent-threads") == 0


@pytest.mark.fast
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(written=messages)
async def test_every_message_comes_back_the_same_through_the_1x_json(
    fake_redis: fakeredis.FakeAsyncRedis, written: ChatMessage
) -> None:
    store = lab_store("thread_generated", redis_client=fake_redis, **SCOPE)
    await store.clear()
    await store.add_messages([written])
    (read,) = await store.list_messages()
    assert read.to_dict() == written.to_dict()


@pytest.mark.fast
def test_without_a_scope_nothing_changes() -> None:
    store = RedisChatMessageStore(redis_url="redis://127.0.0.1:6379/0", thread_id="thread_1", key_prefix="lab11")
    assert store.redis_key == "lab11:thread_1"
    assert store.current_state() == RedisStoreState(
        thread_id="thread_1", key_prefix="lab11", redis_url="redis://127.0.0.1:6379/0"
    )
    assert store.history.index_key == "lab11.recent-threads"


@pytest.mark.fast
def test_microsofts_checks_apply_to_the_store() -> None:
    with pytest.raises(ValueError, match="application_id must be a non-empty string"):
        RedisChatMessageStore(redis_url="redis://h:1/0", tenant_id="acme")
    with pytest.raises(ValueError, match="tenant_id must be non-empty"):
        RedisChatMessageStore(redis_url="redis://h:1/0", application_id="app", tenant_id="")
    with pytest.raises(ValueError, match="cannot be used with key_format='legacy'"):
        RedisChatMessageStore(redis_url="redis://h:1/0", application_id="app", key_format="legacy")


@pytest.mark.server
async def test_a_snapshot_resumes_on_the_same_scoped_key(redis_server: ValkeyProcess) -> None:
    store = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_1", key_prefix="lab11", **SCOPE)
    await store.add_messages([ChatMessage(role="user", text="remember me")])
    snapshot = await AgentThread(message_store=store).serialize()
    metadata = snapshot["chat_message_store_state"]["store_metadata"]
    assert {name: metadata[name] for name in SCOPE} == SCOPE
    thread = await resume_thread(snapshot, redis_url=redis_server.url)
    resumed = thread.message_store
    assert isinstance(resumed, RedisChatMessageStore)
    assert resumed.redis_key == KEY
    assert [message.text for message in await resumed.list_messages()] == ["remember me"]
    other = RedisChatMessageStore(redis_url=redis_server.url, thread_id="x", key_prefix="lab11")
    await other.deserialize_state(await store.serialize_state())
    assert other.redis_key == KEY
    for opened in (store, resumed, other):
        await opened.aclose()


@pytest.mark.fast
async def test_each_scope_lists_only_its_own_threads(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    acme = lab_store("thread_a", redis_client=fake_redis, **SCOPE)
    globex = lab_store("thread_g", redis_client=fake_redis, tenant_id="globex", application_id="travel-app")
    lab = RedisChatMessageStore(redis_client=fake_redis, thread_id="thread_l", key_prefix="lab11")
    for store in (acme, globex, lab, acme.for_thread("thread_b")):
        await store.add_messages([ChatMessage(role="user", text=f"hi from {store.thread_id}")])
    assert acme.for_thread("thread_b").redis_key == KEY.replace("thread_1", "thread_b")
    assert sorted(thread.thread_id for thread in await acme.list_saved_threads(20)) == ["thread_a", "thread_b"]
    assert sorted(thread.thread_id for thread in await acme.list_saved_threads()) == ["thread_a", "thread_b"]
    assert [thread.thread_id for thread in await globex.list_saved_threads(20)] == ["thread_g"]
    assert [thread.thread_id for thread in await lab.list_saved_threads(20)] == ["thread_l"]
    assert [thread.thread_id for thread in await lab.list_saved_threads()] == ["thread_l"]


@pytest.mark.fast
async def test_threads_microsofts_provider_wrote_are_listed_once_indexed(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    """Microsoft's provider keeps no index: the first listing finds its sessions by SCAN of the scope alone."""
    entry = json.dumps({"type": "message", "role": "user", "contents": [{"type": "text", "text": "hi"}]})
    # base32 of "abcdefg", which Microsoft writes literally: no session id gives this key
    await fake_redis.rpush(KEY.replace("thread_1", "~redis-session-mfrggzdfmztq"), entry)
    await fake_redis.rpush(KEY.replace("thread_1", "session-1"), entry)
    await fake_redis.rpush(KEY.replace("planner", "other-agent"), entry)
    listed = await lab_store(redis_client=fake_redis, **SCOPE).list_saved_threads(20)
    assert [thread.thread_id for thread in listed] == ["session-1"]  # a key no session id gives is passed over


@pytest.mark.server
@pytest.mark.parametrize("other", [{"tenant_id": "globex"}, {"agent_id": "concierge"}], ids=["tenant", "agent"])
async def test_the_same_session_id_in_another_tenant_or_agent_is_another_history(
    redis_server: ValkeyProcess, other: dict[str, str]
) -> None:
    scope = {"tenant_id": "acme", "application_id": "travel-app", "agent_id": "planner"}
    mine = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_same", key_prefix="lab11", **scope)
    theirs = RedisChatMessageStore(
        redis_url=redis_server.url, thread_id="thread_same", key_prefix="lab11", **{**scope, **other}
    )
    await mine.add_messages([ChatMessage(role="user", text="mine")])
    await theirs.add_messages([ChatMessage(role="user", text="theirs")])
    assert [message.text for message in await mine.list_messages()] == ["mine"]
    assert [message.text for message in await theirs.list_messages()] == ["theirs"]
    await theirs.clear()
    assert [message.text for message in await mine.list_messages()] == ["mine"]
    assert [thread.thread_id for thread in await mine.list_saved_threads(20)] == ["thread_same"]
    await mine.aclose()
    await theirs.aclose()
