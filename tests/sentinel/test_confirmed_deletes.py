"""Deleting a thread under ``min_replicas`` on a real primary with one replica: the deletion is confirmed as a
turn is, so that a failover cannot bring a deleted thread back; one no replica confirmed is reported."""

from __future__ import annotations

import pytest
from agent_framework import ChatMessage

from lab11_persistence.redis_history.confirmation import ReplicaConfirmationError
from redis_chat_message_store import RedisChatMessageStore
from tests.support.sentinel import SentinelDeployment

pytestmark = pytest.mark.sentinel

SHORT_WAIT_MS = 200


def store_on(sentinel: SentinelDeployment, thread_id: str, min_replicas: int = 1) -> RedisChatMessageStore:
    return RedisChatMessageStore(
        redis_url=sentinel.url(),
        key_prefix="lab11-delete",
        thread_id=thread_id,
        min_replicas=min_replicas,
        replica_timeout_ms=SHORT_WAIT_MS,
    )


async def test_a_deletion_no_replica_confirmed_raises_an_error_saying_the_thread_could_come_back(
    sentinel: SentinelDeployment,
) -> None:
    store = store_on(sentinel, "delete_unconfirmed")
    try:
        await store.add_messages([ChatMessage(role="user", text="Forget me.")])
        sentinel.replica.pause()

        with pytest.raises(ReplicaConfirmationError) as raised:
            await store.clear()

        assert "The thread is deleted on the primary but confirmed by 0 of 1 replica in time" in str(raised.value)
        assert "come back" in str(raised.value)
        assert await store.list_messages() == []
    finally:
        sentinel.replica.resume()
        await store.aclose()


async def test_a_confirmed_deletion_stays_deleted_after_a_failover(sentinel: SentinelDeployment) -> None:
    store = store_on(sentinel, "delete_then_failover")
    await store.add_messages([ChatMessage(role="user", text="Forget me.")])
    await store.clear()
    await store.aclose()

    old = sentinel.kill_primary()
    sentinel.wait_for_promotion(old)

    fresh = store_on(sentinel, "delete_then_failover", min_replicas=0)
    try:
        assert await fresh.list_messages() == []
    finally:
        await fresh.aclose()
