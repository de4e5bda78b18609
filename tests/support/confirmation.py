"""Turns written under replica confirmation (issue 23's scenario), for the cluster and the Sentinel tests alike."""

from __future__ import annotations

from agent_framework import ChatMessage

from lab11_persistence.redis_history.confirmation import ReplicaConfirmationError
from redis_chat_message_store import RedisChatMessageStore


async def write_turns(store: RedisChatMessageStore, numbers: range) -> tuple[set[int], set[int]]:
    """Each turn once; returns (acknowledged, reported as short of replicas)."""
    acknowledged, reported = set(), set()
    for number in numbers:
        try:
            await store.add_messages([ChatMessage(role="user", text=f"turn {number}")])
            acknowledged.add(number)
        except ReplicaConfirmationError as error:
            assert "replica" in str(error)
            reported.add(number)
    return acknowledged, reported
