"""``rekey`` under LAB11_MIN_REPLICAS on a real primary with one replica: each thread's rewrite is confirmed by
WAIT on the connection that watched and wrote it, in the rewrite's own round trip; a rewrite no replica
confirmed is reported; a confirmed one survives a failover, so the old key can go."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from agent_framework import ChatMessage

from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.rekey import CURRENT, REKEYED, rekey_threads
from lab11_persistence.redis_history.sealing import is_sealed, key_id_of
from redis_chat_message_store import RedisChatMessageStore
from tests.support.encryption_keys import key_entry
from tests.support.sentinel import SentinelDeployment

pytestmark = pytest.mark.sentinel

OLD, NEW = key_entry("old"), key_entry("new")
PREFIX = "lab11-rekey"
SHORT_WAIT_MS = 200


async def seed(sentinel: SentinelDeployment, thread_id: str, keys: str | None = OLD) -> None:
    store = RedisChatMessageStore(
        redis_url=sentinel.url(), key_prefix=PREFIX, thread_id=thread_id, encryption_keys=keys
    )
    try:
        await store.clear()
        await store.add_messages(
            [ChatMessage(role="user", text="My name is Ada."), ChatMessage(role="assistant", text="Hi Ada.")]
        )
    finally:
        await store.aclose()


@pytest.fixture
async def history(sentinel: SentinelDeployment) -> AsyncIterator[RedisHistory]:
    """Rekeying to NEW (OLD still known), confirmed by one replica."""
    opened = RedisHistory.connect(
        sentinel.url(), key_prefix=PREFIX, encryption_keys=[NEW, OLD], min_replicas=1, replica_timeout_ms=SHORT_WAIT_MS
    )
    yield opened
    await opened.aclose()


def stored_key_ids(sentinel: SentinelDeployment, thread_id: str) -> set[str | None]:
    with sentinel.primary.client() as client:
        return {
            key_id_of(entry) if is_sealed(entry) else None for entry in client.lrange(f"{PREFIX}:{thread_id}", 0, -1)
        }


async def test_a_rekey_is_confirmed_by_a_wait_in_its_own_round_trip(
    sentinel: SentinelDeployment, history: RedisHistory, socket_writes: list[tuple[int, list[str]]]
) -> None:
    await seed(sentinel, "rekey_round_trip")
    socket_writes.clear()

    [result] = await rekey_threads(history, ["rekey_round_trip"])

    assert (result.outcome, result.confirmed, result.replicas) == (REKEYED, True, 1)
    assert ["MULTI", "LSET", "LSET", "EXEC", "WAIT"] in [commands for _port, commands in socket_writes]
    assert stored_key_ids(sentinel, "rekey_round_trip") == {"new"}


async def test_a_rekey_no_replica_confirmed_is_reported_and_stays_on_the_primary(
    sentinel: SentinelDeployment, history: RedisHistory
) -> None:
    await seed(sentinel, "rekey_unconfirmed")
    sentinel.replica.pause()

    [result] = await rekey_threads(history, ["rekey_unconfirmed"])

    assert (result.outcome, result.confirmed, result.replicas) == (REKEYED, False, 0)
    assert stored_key_ids(sentinel, "rekey_unconfirmed") == {"new"}


async def test_a_confirmed_rekey_survives_a_failover_and_the_old_key_can_go(
    sentinel: SentinelDeployment, history: RedisHistory
) -> None:
    await seed(sentinel, "rekey_then_failover", keys=None)  # plaintext, written before keys were set

    [result] = await rekey_threads(history, ["rekey_then_failover"])
    old = sentinel.kill_primary()
    sentinel.wait_for_promotion(old)

    assert result.confirmed
    assert stored_key_ids(sentinel, "rekey_then_failover") == {"new"}
    reader = RedisChatMessageStore(
        redis_url=sentinel.url(), key_prefix=PREFIX, thread_id="rekey_then_failover", encryption_keys=NEW
    )
    try:
        assert [message.text for message in await reader.list_messages()] == ["My name is Ada.", "Hi Ada."]
    finally:
        await reader.aclose()


async def test_a_thread_an_unconfirmed_rekey_left_counts_as_confirmed_only_once_the_replica_catches_up(
    sentinel: SentinelDeployment, history: RedisHistory
) -> None:
    """Run again, the thread is already done: nothing to write, so no WAIT; the replica's offset says it."""
    await seed(sentinel, "rekey_run_again")
    sentinel.replica.pause()
    [first] = await rekey_threads(history, ["rekey_run_again"])

    [while_paused] = await rekey_threads(history, ["rekey_run_again"])
    sentinel.replica.resume()
    [once_caught_up] = await rekey_threads(history, ["rekey_run_again"])

    assert (first.outcome, first.confirmed) == (REKEYED, False)
    assert (while_paused.outcome, while_paused.confirmed, while_paused.replicas) == (CURRENT, False, 0)
    assert (once_caught_up.outcome, once_caught_up.confirmed, once_caught_up.replicas) == (CURRENT, True, 1)
