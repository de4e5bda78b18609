"""On Microsoft's scoped keys, our RedisHistoryProvider and Microsoft's read and continue each other's sessions.

Microsoft's ``agent_framework_redis.RedisHistoryProvider`` 1.0.0b261022 is installed beside ours in
this environment; both run against the same real Valkey. Also here: a lab thread moved by
``lab11 migrate`` (every release's JSON) reads in Microsoft's provider; our provider's scoped
sessions on every primary of a 3+3 cluster read in Microsoft's provider on the node that holds
them; and a tenant's ACL user runs both providers with nothing refused, and reaches no other tenant.

Runs in the 1.x environment (.venv-v1); skipped on the lab's release.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
from pathlib import Path

import agent_framework
import pytest

if hasattr(agent_framework, "ChatMessage"):  # the lab's release: these tests run in the 1.x environment
    pytest.skip("needs Agent Framework 1.x (.venv-v1)", allow_module_level=True)

import redis
import redis.asyncio as redis_async
from agent_framework import Agent, Message
from agent_framework_redis import RedisHistoryProvider as MicrosoftProvider

from lab11_persistence.config import INSTRUCTIONS
from lab11_persistence.offline_model.v1_client import OfflineChatClientV1
from lab11_persistence.redis_history.keys import KeyLayout
from lab11_persistence.v1.history_provider import RedisHistoryProvider
from tests.support import acl
from tests.support import message_fixtures as fx
from tests.support.app_driver import APP, LabApp, app_env, assert_clean
from tests.support.cluster import ValkeyCluster
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.v1

SCOPE = {"tenant_id": "tenant|1:~x", "application_id": "travel-app", "agent_id": "planner"}


def _every_kind() -> list[Message]:
    """Every message kind of the 1.x fixture conversation (text, tool calls and results, reasoning, ...)."""
    return [Message.from_dict(json.loads(line)) for line in fx.fixture_lines("1.23.0")]


def _microsoft(client: redis_async.Redis, **scope: str) -> MicrosoftProvider:
    return MicrosoftProvider(redis_client=client, key_prefix="lab11", **(scope or SCOPE))


def _ours(url: str, **scope: str) -> RedisHistoryProvider:
    return RedisHistoryProvider(redis_url=url, key_prefix="lab11", **(scope or SCOPE))


@pytest.fixture
async def client(redis_server: ValkeyProcess):  # type: ignore[no-untyped-def]
    client = redis_async.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


async def test_microsofts_provider_reads_every_kind_of_message_ours_saved(
    redis_server: ValkeyProcess, client: redis_async.Redis
) -> None:
    ours, theirs = _ours(redis_server.url), _microsoft(client)
    messages = _every_kind()
    await ours.save_messages("thread_1", messages[:5])
    await ours.save_messages("thread_1", messages[5:])
    read = await theirs.get_messages("thread_1")
    assert [message.to_dict() for message in read] == [message.to_dict() for message in messages]
    assert ours.redis_key("thread_1") == theirs._redis_key("thread_1")
    assert all(
        json.loads(entry)["type"] == "message" for entry in await client.lrange(ours.redis_key("thread_1"), 0, -1)
    )
    await ours.aclose()


async def test_ours_reads_every_kind_of_message_microsofts_saved(
    redis_server: ValkeyProcess, client: redis_async.Redis
) -> None:
    ours, theirs = _ours(redis_server.url), _microsoft(client)
    messages = _every_kind()
    await theirs.save_messages("a|b:c ü", messages)
    read = await ours.get_messages("a|b:c ü")
    assert [message.to_dict() for message in read] == [message.to_dict() for message in messages]
    await ours.aclose()


async def test_one_conversation_goes_back_and_forth_between_the_two_providers(
    redis_server: ValkeyProcess, client: redis_async.Redis
) -> None:
    model = OfflineChatClientV1(chunk_delay=0)
    ours = _ours(redis_server.url)
    agents = [
        Agent(model, INSTRUCTIONS, context_providers=[_microsoft(client)]),
        Agent(model, INSTRUCTIONS, context_providers=[ours]),
    ]
    turns = ["My name is Ana and I'm planning a trip to Lisbon.", "I travel in May.", "What do you remember?"]
    for number, text in enumerate(turns):
        agent = agents[number % 2]
        reply = await agent.run(text, session=agent.create_session(session_id="thread_shared"))
        assert f"I received {2 * number} earlier messages" in reply.text, reply.text
    assert "Ana" in reply.text and "Lisbon" in reply.text
    assert len(await ours.get_messages("thread_shared")) == 6
    assert len(await _microsoft(client).get_messages("thread_shared")) == 6
    await ours.aclose()


async def test_on_scoped_keys_a_save_is_still_one_transaction_in_one_round_trip(
    redis_server: ValkeyProcess, socket_writes: list[tuple[int, list[str]]]
) -> None:
    """Microsoft's provider reads the whole list, then pushes, then trims: ours stays one MULTI/EXEC."""
    provider = RedisHistoryProvider(
        redis_url=redis_server.url, key_prefix="lab11", max_messages=4, ttl_seconds=600, **SCOPE
    )
    await provider.save_messages("thread_1", [Message(role="user", contents=["one"])])  # connects first
    socket_writes.clear()
    await provider.save_messages("thread_1", [Message(role="user", contents=["two"])])
    assert socket_writes == [(redis_server.port, ["MULTI", "RPUSH", "LTRIM", "EXPIRE", "SET", "ZADD", "EXEC"])]
    await provider.aclose()


@pytest.mark.parametrize("release", fx.RELEASES)
def test_a_lab_thread_moved_by_lab11_migrate_reads_in_microsofts_provider(
    redis_server: ValkeyProcess, tmp_path: Path, release: str
) -> None:
    lines = fx.fixture_lines(release)
    with redis_server.client() as admin:
        admin.rpush("lab11:thread_old", *lines)
        admin.zadd("lab11.recent-threads", {"thread_old": 1_700_000_000.5})
    env = app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=redis_server.url)
    run = subprocess.run(
        [sys.executable, str(APP), "migrate", "thread_old", "--delete-source", *_options(SCOPE)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "source deleted" in run.stdout

    async def read() -> list[Message]:
        async with redis_async.Redis.from_url(redis_server.url, decode_responses=True) as client:
            return await _microsoft(client).get_messages("thread_old")

    messages = asyncio.run(read())
    assert [fx.essentials(message.to_dict()) for message in messages] == [
        fx.essentials(json.loads(line)) for line in lines
    ]
    with redis_server.client() as admin:
        assert admin.exists("lab11:thread_old") == 0
        target = KeyLayout.resolve("lab11", **SCOPE)
        assert admin.zscore(target.index_key, "thread_old") == 1_700_000_000.5


@pytest.mark.parametrize("source_id", [None, "travel_history"], ids=["default source", "--source-id"])
def test_migrate_writes_where_microsofts_provider_with_that_source_id_reads(
    redis_server: ValkeyProcess, tmp_path: Path, source_id: str | None
) -> None:
    with redis_server.client() as admin:
        admin.rpush("lab11:thread_src", *fx.fixture_lines("1.0.0b260130")[:2])
    options = _options(SCOPE) + ([f"--source-id={source_id}"] if source_id else [])
    env = app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=redis_server.url)
    run = subprocess.run(
        [sys.executable, str(APP), "migrate", "thread_src", *options],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    async def read() -> list[Message]:
        async with redis_async.Redis.from_url(redis_server.url, decode_responses=True) as client:
            provider = MicrosoftProvider(source_id or "redis_memory", redis_client=client, key_prefix="lab11", **SCOPE)
            return await provider.get_messages("thread_src")

    assert len(asyncio.run(read())) == 2


def _options(scope: dict[str, str]) -> list[str]:
    return [f"--{name.replace('_', '-')}={value}" for name, value in scope.items()]


async def test_scoped_sessions_on_every_primary_of_a_cluster_read_in_microsofts_provider(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    scope = {"tenant_id": key_prefix, "application_id": "travel-app"}
    layout = KeyLayout.resolve("lab11", **scope)
    spread = redis_cluster.thread_ids_on_every_primary(key_prefix, per_primary=2, key_of=layout.key)
    ours = RedisHistoryProvider(redis_url=redis_cluster.url, cluster=True, key_prefix="lab11", **scope)
    for session_ids in spread.values():
        for session_id in session_ids:
            await ours.save_messages(session_id, [Message(role="user", contents=[f"hello from {session_id}"])])
    assert {thread.thread_id for thread in await ours.history.list_threads(10)} == {
        session_id for session_ids in spread.values() for session_id in session_ids
    }
    for address, session_ids in spread.items():
        node = redis_cluster.node_at(address)
        async with redis_async.Redis(host="127.0.0.1", port=node.port, decode_responses=True) as owner:
            theirs = _microsoft(owner, **scope)  # a standalone client on the primary that holds the session
            for session_id in session_ids:
                assert [message.text for message in await theirs.get_messages(session_id)] == [
                    f"hello from {session_id}"
                ]
    for session_ids in spread.values():
        for session_id in session_ids:
            await ours.clear(session_id)
    assert await ours.history.list_threads(10) == []
    await ours.aclose()


async def test_a_tenants_acl_user_runs_both_providers_and_reaches_no_other_tenant(
    redis_server: ValkeyProcess,
) -> None:
    password = secrets.token_urlsafe(24)
    with redis_server.client() as admin:
        admin.execute_command(*acl.tenant_acl_setuser_arguments("acme", password))
        admin.rpush(KeyLayout.resolve("lab11", tenant_id="globex", application_id="app").key("thread_1"), "{}")
        admin.execute_command("ACL", "LOG", "RESET")
    url = f"redis://{acl.tenant_user('acme')}:{password}@127.0.0.1:{redis_server.port}/0"
    scope = {"tenant_id": "acme", "application_id": "app", "agent_id": "planner"}
    ours = _ours(url, **scope)
    await ours.save_messages("thread_1", [Message(role="user", contents=["hi"])])
    assert len(await ours.get_messages("thread_1")) == 1
    assert [thread.thread_id for thread in await ours.history.list_threads(20)] == ["thread_1"]
    async with redis_async.Redis.from_url(url, decode_responses=True) as client:
        theirs = _microsoft(client, **scope)
        await theirs.save_messages("thread_1", [Message(role="assistant", contents=["hello"])])
        assert len(await theirs.get_messages("thread_1")) == 2
        await theirs.clear("thread_1")
    await ours.save_messages("thread_2", [Message(role="user", contents=["again"])])
    await ours.clear("thread_2")
    with redis_server.client() as admin:
        assert admin.execute_command("ACL", "LOG") == []
    other_tenant = _ours(url, tenant_id="globex", application_id="app")
    with pytest.raises(redis.exceptions.NoPermissionError):
        await other_tenant.history.client.lrange(other_tenant.redis_key("thread_1"), 0, -1)
    with pytest.raises(redis.exceptions.NoPermissionError):
        await ours.history.client.lrange("lab11:thread_1", 0, -1)
    for provider in (ours, other_tenant):
        await provider.aclose()


def test_the_app_on_1x_with_a_scope_saves_where_microsofts_provider_reads(
    redis_server: ValkeyProcess, tmp_path: Path
) -> None:
    env = {
        **app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=redis_server.url),
        "LAB11_APPLICATION_ID": SCOPE["application_id"],
        "LAB11_TENANT_ID": SCOPE["tenant_id"],
        "LAB11_AGENT_ID": SCOPE["agent_id"],
    }
    app = LabApp(env, tmp_path, [sys.executable, str(APP)])
    try:
        key = app.menu()
        layout = KeyLayout.resolve("lab11", **SCOPE)
        session_id = layout.thread_id_of(key)
        assert session_id, app.transcript
        app.say("My name is Ana and I'm planning a trip to Lisbon.")
        assert app.exit() == 0
    finally:
        app.kill()
    assert_clean(app.transcript)

    async def read() -> list[Message]:
        async with redis_async.Redis.from_url(redis_server.url, decode_responses=True) as client:
            return await _microsoft(client).get_messages(session_id)

    assert [message.role for message in asyncio.run(read())] == ["user", "assistant"]
