"""Issue 10, point 2: what the lab's store guarantees, shown on RedisHistoryProvider itself on a real engine.

One save is one MULTI/EXEC round trip (push, trim, expiry, write token, recency index); a reply lost
after the server committed a save does not save it twice; the provider reconnects by itself; it
works on a 3+3 Valkey Cluster with the lab's key layout; ``ttl_seconds`` puts the expiry on the
session's key; it signs in with Microsoft Entra ID and keeps going when the token rotates, with no
token in a repr, the session state or the log.

Runs in the 1.x environment (.venv-v1); skipped on the lab's release.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import agent_framework
import pytest

if hasattr(agent_framework, "ChatMessage"):  # the lab's release: these tests run in the 1.x environment
    pytest.skip("needs Agent Framework 1.x (.venv-v1)", allow_module_level=True)

from functools import partial

from agent_framework import Message

from lab11_persistence.offline_model.v1_client import OfflineChatClientV1
from lab11_persistence.redis_history.connection import RedisUnavailableError
from lab11_persistence.server.entra_id import redis_credential_provider
from lab11_persistence.v1 import agent as agent_v1
from lab11_persistence.v1.history_provider import RedisHistoryProvider
from tests.reliability.faults import ReplyLosingProxy
from tests.support.cluster import ValkeyCluster
from tests.support.entra import OBJECT_ID, EntraSignIn, wait_until
from tests.support.messages import texts_of, turn_texts
from tests.support.round_trips import ServerMonitor
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.v1

PREFIX = "lab11"
# What one save sends, in order: the whole transaction is one socket write and one reply.
ONE_SAVE = ["MULTI", "RPUSH", "LTRIM", "EXPIRE", "SET", "ZADD", "EXEC"]


def _turn(number: int) -> list[Message]:
    return [
        Message(role="user", contents=[f"question {number}"]),
        Message(role="assistant", contents=[f"answer {number}"]),
    ]


_texts_of = partial(turn_texts, user="question {}", assistant="answer {}")


def _offline_agent(provider: RedisHistoryProvider):  # type: ignore[no-untyped-def]
    return agent_v1.build_agent(provider, OfflineChatClientV1(chunk_delay=0))


@pytest.fixture
async def provider(redis_server: ValkeyProcess) -> AsyncIterator[RedisHistoryProvider]:
    """One long-lived provider on the test's server, as an agent keeps one."""
    opened = RedisHistoryProvider(redis_url=redis_server.url, key_prefix=PREFIX, max_messages=200)
    yield opened
    await opened.aclose()


# -- 1. one save, one MULTI/EXEC round trip -----------------------------------------------------


async def test_one_save_is_one_round_trip_with_push_trim_expiry_token_and_index(
    redis_server: ValkeyProcess, socket_writes: list[tuple[int, list[str]]]
) -> None:
    provider = RedisHistoryProvider(redis_url=redis_server.url, key_prefix=PREFIX, max_messages=4, ttl_seconds=600)
    await provider.save_messages("thread_1", _turn(0))  # connects first
    socket_writes.clear()
    await provider.save_messages("thread_1", _turn(1))
    assert socket_writes == [(redis_server.port, ONE_SAVE)]
    await provider.aclose()


async def test_the_server_runs_a_save_as_one_transaction_from_one_connection(redis_server: ValkeyProcess) -> None:
    """MONITOR, the server's own view: MULTI, the five commands, EXEC, nothing else and nothing between."""
    provider = RedisHistoryProvider(redis_url=redis_server.url, key_prefix=PREFIX, max_messages=4, ttl_seconds=600)
    await provider.save_messages("thread_1", _turn(0))
    with ServerMonitor(redis_server.port) as monitor:
        await provider.save_messages("thread_1", _turn(1))
        ran = monitor.commands()
    await provider.aclose()
    assert [name for _, name in ran] == ONE_SAVE
    assert len({client for client, _ in ran}) == 1


async def test_an_agent_run_reads_once_and_saves_once_in_one_transaction(redis_server: ValkeyProcess) -> None:
    """What a 1.x agent makes of the provider: one LRANGE before the model, one MULTI/EXEC after it."""
    provider = RedisHistoryProvider(redis_url=redis_server.url, key_prefix=PREFIX, max_messages=200, ttl_seconds=600)
    await provider.save_messages("thread_run", _turn(0))
    agent = _offline_agent(provider)
    session = agent.create_session(session_id="thread_run")
    with ServerMonitor(redis_server.port) as monitor:
        await agent.run("Hello, I'm Ana.", session=session)
        ran = monitor.commands()
    await provider.aclose()
    assert [name for _, name in ran] == ["LRANGE", *ONE_SAVE]


# -- 2. exactly once after a lost reply --------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "key"),
    [
        ({}, f"{PREFIX}:thread_lost"),
        (
            {"tenant_id": "acme", "application_id": "travel-app"},
            f"{PREFIX}|v2|acme|travel-app|~none|redis_memory|thread_lost",
        ),
    ],
    ids=["the lab's keys", "scoped keys"],
)
async def test_a_reply_lost_after_the_server_committed_a_save_does_not_save_it_twice(
    redis_server: ValkeyProcess, scope: dict[str, str], key: str
) -> None:
    """The server commits the MULTI/EXEC, the reply never arrives: the retry finds the write token and stops.

    On Microsoft's scoped keys the write token is a side key of the scoped key, in its slot."""
    proxy = await ReplyLosingProxy(redis_server.port).start()
    provider = RedisHistoryProvider(redis_url=f"redis://127.0.0.1:{proxy.port}/0", key_prefix=PREFIX, **scope)
    try:
        await provider.save_messages("thread_lost", _turn(1))
        proxy.lose_next_exec_reply()
        await provider.save_messages("thread_lost", _turn(2))  # reported as saved, because it was
        assert proxy.replies_lost == 1
        texts = texts_of(await provider.get_messages("thread_lost"))
    finally:
        await provider.aclose()
        await proxy.aclose()
    assert texts == _texts_of([1, 2])
    with redis_server.client() as direct:  # the server's own count, not through the proxy
        assert direct.llen(key) == 4


# -- 3. reconnects -----------------------------------------------------------------------------


async def test_the_next_save_and_read_go_through_after_a_clean_server_restart(
    redis_server: ValkeyProcess, provider: RedisHistoryProvider
) -> None:
    await provider.save_messages("thread_r", _turn(1))
    redis_server.restart()
    await provider.save_messages("thread_r", _turn(2))
    assert texts_of(await provider.get_messages("thread_r")) == _texts_of([1, 2])


async def test_the_next_save_and_read_go_through_after_the_server_is_killed_and_restarted(
    redis_server: ValkeyProcess, provider: RedisHistoryProvider
) -> None:
    await provider.save_messages("thread_r", _turn(1))
    redis_server.kill()
    redis_server.start()
    await provider.save_messages("thread_r", _turn(2))
    assert texts_of(await provider.get_messages("thread_r")) == _texts_of([1, 2])


async def test_the_next_save_and_read_go_through_after_the_server_cuts_every_connection(
    redis_server: ValkeyProcess, provider: RedisHistoryProvider
) -> None:
    await provider.save_messages("thread_r", _turn(1))
    with redis_server.client() as admin:
        assert int(admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")) >= 1
    await provider.save_messages("thread_r", _turn(2))
    assert texts_of(await provider.get_messages("thread_r")) == _texts_of([1, 2])


async def test_a_save_while_the_server_is_down_fails_in_one_line_and_leaves_nothing_behind(
    redis_server: ValkeyProcess, provider: RedisHistoryProvider
) -> None:
    await provider.save_messages("thread_r", _turn(1))
    redis_server.stop()
    with pytest.raises(RedisUnavailableError, match=f"127.0.0.1:{redis_server.port}") as failed:
        await provider.save_messages("thread_r", _turn(2))
    assert "\n" not in str(failed.value)
    redis_server.start()
    await provider.save_messages("thread_r", _turn(3))
    assert texts_of(await provider.get_messages("thread_r")) == _texts_of([1, 3])


# -- 4. cluster mode ---------------------------------------------------------------------------


def _cluster_provider(cluster: ValkeyCluster, key_prefix: str, **limits: int) -> RedisHistoryProvider:
    return RedisHistoryProvider(redis_url=cluster.url, cluster=True, key_prefix=key_prefix, **limits)


async def test_on_a_cluster_sessions_on_every_primary_save_and_read_in_the_labs_layout(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    spread = redis_cluster.thread_ids_on_every_primary(key_prefix)
    provider = _cluster_provider(redis_cluster, key_prefix)
    for session_ids in spread.values():
        await provider.save_messages(session_ids[0], _turn(1))
        await provider.save_messages(session_ids[0], _turn(2))
    for address, session_ids in spread.items():
        key = f"{key_prefix}:{session_ids[0]}"
        assert provider.redis_key(session_ids[0]) == key
        assert texts_of(await provider.get_messages(session_ids[0])) == _texts_of([1, 2])
        with redis_cluster.node_at(address).client() as owner:  # the list lives on the primary that owns its slot
            assert (owner.type(key), owner.llen(key)) == ("list", 4)
            assert owner.exists(f"{{{key}}}:last-write") == 1  # the write token, in the thread's slot
            assert all(json.loads(entry)["type"] == "chat_message" for entry in owner.lrange(key, 0, -1))
    index_owner = redis_cluster.primary_for_key(f"{key_prefix}.recent-threads")
    with index_owner.client() as client:
        assert sorted(client.zrange(f"{key_prefix}.recent-threads", 0, -1)) == sorted(
            session_ids[0] for session_ids in spread.values()
        )
    await provider.aclose()


async def test_on_a_cluster_a_save_is_one_transaction_on_the_node_that_owns_the_session(
    redis_cluster: ValkeyCluster, key_prefix: str, socket_writes: list[tuple[int, list[str]]]
) -> None:
    """The recency index lives in another slot, so it goes alongside as one ZADD to its own node."""
    provider = _cluster_provider(redis_cluster, key_prefix, max_messages=3, ttl_seconds=3600)
    await provider.save_messages("thread_c", _turn(0))  # connects and learns the topology first
    socket_writes.clear()
    await provider.save_messages("thread_c", _turn(1))
    owner = redis_cluster.primary_for_key(f"{key_prefix}:thread_c").port
    index_owner = redis_cluster.primary_for_key(f"{key_prefix}.recent-threads").port
    assert [(port, commands) for port, commands in socket_writes if "RPUSH" in commands] == [
        (owner, ["MULTI", "RPUSH", "LTRIM", "EXPIRE", "SET", "EXEC"])
    ]
    assert [(port, commands) for port, commands in socket_writes if "ZADD" in commands] == [(index_owner, ["ZADD"])]
    assert len(socket_writes) == 2
    assert texts_of(await provider.get_messages("thread_c")) == ["answer 0", *_texts_of([1])]  # trimmed to the newest 3
    await provider.aclose()


async def test_a_1x_agent_runs_on_a_cluster_session(redis_cluster: ValkeyCluster, key_prefix: str) -> None:
    provider = _cluster_provider(redis_cluster, key_prefix, max_messages=200)
    agent = _offline_agent(provider)
    session = agent.create_session(session_id="thread_agent")
    await agent.run("Hi, my name is Ada and I want to go to Lisbon.", session=session)
    reply = await agent.run("What do you remember about me?", session=session)
    assert "Lisbon" in reply.text
    assert len(await provider.get_messages("thread_agent")) == 4
    await provider.aclose()


# -- 5. ttl_seconds ----------------------------------------------------------------------------


async def test_ttl_seconds_puts_the_expiry_on_the_sessions_key(redis_server: ValkeyProcess) -> None:
    provider = RedisHistoryProvider(redis_url=redis_server.url, key_prefix=PREFIX, ttl_seconds=3600)
    await provider.save_messages("thread_t", _turn(1))
    with redis_server.client() as direct:
        assert 3000 < direct.ttl(f"{PREFIX}:thread_t") <= 3600
    await provider.aclose()


async def test_every_save_refreshes_the_expiry(redis_server: ValkeyProcess) -> None:
    provider = RedisHistoryProvider(redis_url=redis_server.url, key_prefix=PREFIX, ttl_seconds=3600)
    await provider.save_messages("thread_t", _turn(1))
    with redis_server.client() as direct:
        direct.expire(f"{PREFIX}:thread_t", 5)  # as if most of the hour had passed
        await provider.save_messages("thread_t", _turn(2))
        assert direct.ttl(f"{PREFIX}:thread_t") > 3000
    await provider.aclose()


async def test_on_scoped_keys_ttl_seconds_puts_the_expiry_on_the_sessions_key(redis_server: ValkeyProcess) -> None:
    provider = RedisHistoryProvider(
        redis_url=redis_server.url, key_prefix=PREFIX, ttl_seconds=3600, application_id="travel-app"
    )
    await provider.save_messages("thread_t", _turn(1))
    with redis_server.client() as direct:
        assert 3000 < direct.ttl(provider.redis_key("thread_t")) <= 3600
    await provider.aclose()


async def test_without_ttl_seconds_the_sessions_key_never_expires(
    redis_server: ValkeyProcess, provider: RedisHistoryProvider
) -> None:
    await provider.save_messages("thread_t", _turn(1))
    with redis_server.client() as direct:
        assert direct.ttl(f"{PREFIX}:thread_t") == -1


# -- 6. Microsoft Entra ID ---------------------------------------------------------------------


@pytest.fixture
def entra(redis_server: ValkeyProcess, tmp_path: Path) -> EntraSignIn:
    """The token source, and the server's only way in: an ACL user named like an object id."""
    return EntraSignIn(redis_server, tmp_path / "entra")


def _entra_provider(server: ValkeyProcess, credential: object) -> RedisHistoryProvider:
    """Constructed as with Microsoft's provider: a credential provider and a host."""
    return RedisHistoryProvider(
        credential_provider=redis_credential_provider(credential=credential),  # type: ignore[arg-type]
        host="127.0.0.1",
        port=server.port,
        ssl=False,
        key_prefix=PREFIX,
    )


async def test_the_provider_signs_in_with_entra_id_and_saves_and_reads_across_a_rotation(
    redis_server: ValkeyProcess, entra: EntraSignIn
) -> None:
    provider = _entra_provider(redis_server, entra)
    await provider.save_messages("thread_e", _turn(1))
    assert entra.rotate() >= 1  # a new token, the old one revoked, the provider's connection cut
    assert entra.connections() == 0
    await provider.save_messages("thread_e", _turn(2))
    assert texts_of(await provider.get_messages("thread_e")) == _texts_of([1, 2])
    assert entra.connections() >= 1
    assert entra.failed_sign_ins() == []
    await provider.aclose()


async def test_the_providers_idle_connection_signs_in_again_when_the_token_renews(
    redis_server: ValkeyProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tokens that live two seconds, each new one revoking the old: redis-entraid renews and signs the
    pooled connection in again (redis-py does so only for a client built from host and port)."""
    entra = EntraSignIn(
        redis_server, tmp_path / "entra", lifetime_seconds=2, new_token_per_request=True, revoke_on_issue=True
    )
    provider = _entra_provider(redis_server, entra)
    await provider.save_messages("thread_e", _turn(1))
    assert await wait_until(lambda: entra.auth_calls() >= 1), "the provider's idle connection was never signed in"
    assert "No registered callback" not in caplog.text
    await provider.save_messages("thread_e", _turn(2))
    assert texts_of(await provider.get_messages("thread_e")) == _texts_of([1, 2])
    assert entra.failed_sign_ins() == []
    await provider.aclose()


async def test_no_token_in_the_providers_repr_the_session_state_or_the_log(
    redis_server: ValkeyProcess, entra: EntraSignIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = _entra_provider(redis_server, entra)
    agent = _offline_agent(provider)
    session = agent.create_session(session_id="thread_e")
    await agent.run("Hi, my name is Ada and I want to go to Lisbon.", session=session)
    entra.rotate()
    await agent.run("What do you remember about me?", session=session)
    state = json.dumps(session.to_dict(), default=str)
    shown = " ".join([state, repr(provider), repr(session), repr(provider.history), caplog.text])
    assert [token for token in entra.secrets if token in shown] == []
    assert OBJECT_ID not in state  # the session names the thread, not who signed in
    assert len(await provider.get_messages("thread_e")) == 4
    await provider.aclose()
