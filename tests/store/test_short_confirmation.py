"""A turn fewer replicas confirmed than ``min_replicas`` asks, on fakeredis: reported, never sent again, and
still folded into the summary once it is out of the window (the fold need not wait for the replicas).

fakeredis has no WAIT, so the replicas' answer is stood in for: the turn's MULTI/EXEC runs for real and the
confirmation reports 0 of 1. The real WAIT is in tests/sentinel and tests/cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fakeredis
import pytest
from agent_framework import ChatMessage

from lab11_persistence.redis_history import confirmation, confirmed_writer
from lab11_persistence.redis_history.confirmation import (
    ConfirmedReplies,
    ReplicaConfirmation,
    ReplicaConfirmationError,
    replicas_caught_up,
    run_confirmed,
)
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.message_json import message_text
from lab11_persistence.redis_history.retention import prune_threads
from lab11_persistence.redis_history.summary import Summary
from redis_chat_message_store import RedisChatMessageStore

pytestmark = pytest.mark.fast


@pytest.fixture
def no_replica_confirms(monkeypatch: pytest.MonkeyPatch) -> None:
    async def applied_but_unconfirmed(
        client: Any, queue: Any, confirmation: ReplicaConfirmation, *, transaction: bool = True
    ) -> ConfirmedReplies:
        done = await run_confirmed(client, queue, ReplicaConfirmation(0), transaction=transaction)
        return ConfirmedReplies(done.replies, replicas=0, required=confirmation.min_replicas)

    monkeypatch.setattr(confirmed_writer, "run_confirmed", applied_but_unconfirmed)  # a turn's, a deletion's
    monkeypatch.setattr(confirmation, "run_confirmed", applied_but_unconfirmed)  # an import's, a prune's


async def summarize(previous: str | None, messages: Sequence[dict[str, Any]]) -> str:
    return "|".join([*([previous] if previous else []), *(message_text(message) for message in messages)])


async def test_a_turn_no_replica_confirmed_is_saved_once_and_still_folded(
    fake_redis: fakeredis.FakeAsyncRedis, no_replica_confirms: None
) -> None:
    store = RedisChatMessageStore(
        redis_client=fake_redis,
        key_prefix="lab11",
        thread_id="thread_a",
        context_messages=2,
        summarizer=summarize,
        min_replicas=1,
    )
    reported = 0
    for number in range(3):
        try:
            await store.add_messages([ChatMessage(role="user", text=f"turn {number}")])
        except ReplicaConfirmationError:
            reported += 1
    await store.aclose()  # the fold has landed

    summary = Summary.parse(await fake_redis.get(store.history.summary_key("thread_a")))
    assert reported == 3
    assert summary is not None and summary.text == "turn 0"  # folded, though no turn was confirmed
    assert len(await fake_redis.lrange("lab11:thread_a", 0, -1)) == 3  # each turn once, none sent again


async def test_a_deletion_no_replica_confirmed_is_done_and_reported_as_one_that_could_come_back(
    fake_redis: fakeredis.FakeAsyncRedis, no_replica_confirms: None
) -> None:
    history = RedisHistory(fake_redis, key_prefix="lab11", min_replicas=1)
    await fake_redis.rpush("lab11:thread_a", "an entry")

    with pytest.raises(ReplicaConfirmationError, match=r"thread is deleted on the primary .* would come back"):
        await history.clear("thread_a")

    assert await fake_redis.exists("lab11:thread_a") == 0


async def test_a_prune_no_replica_confirmed_deletes_and_marks_each_thread_unconfirmed(
    fake_redis: fakeredis.FakeAsyncRedis, no_replica_confirms: None
) -> None:
    history = RedisHistory(fake_redis, key_prefix="lab11", min_replicas=1)
    for thread_id in ("thread_a", "thread_b"):
        await fake_redis.rpush(f"lab11:{thread_id}", "an entry")
        await fake_redis.zadd(history.index_key, {thread_id: 1_000})

    pruned = [result async for page in prune_threads(history, cutoff=2_000) for result in page]

    assert [(result.thread_id, result.messages, result.confirmed) for result in pruned] == [
        ("thread_a", 1, False),
        ("thread_b", 1, False),
    ]
    assert await fake_redis.exists("lab11:thread_a", "lab11:thread_b") == 0


class ScriptedRole:
    """A primary whose ``ROLE`` answers are given in advance: its offset, then its replicas' as they move."""

    def __init__(self, *replies: list[Any]) -> None:
        self.replies = list(replies)

    async def execute_command(self, *command: str) -> list[Any]:
        assert command == ("ROLE",)
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


async def test_replicas_caught_up_counts_those_that_reach_the_primarys_offset_when_asked() -> None:
    primary = ScriptedRole(
        ["master", 500, [["10.0.0.2", "6379", "400"], ["10.0.0.3", "6379", "500"]]],
        ["master", 520, [["10.0.0.2", "6379", "480"], ["10.0.0.3", "6379", "520"]]],  # later writes count not
        ["master", 540, [["10.0.0.2", "6379", "500"], ["10.0.0.3", "6379", "540"]]],
    )

    assert await replicas_caught_up(primary, ReplicaConfirmation(2, timeout_ms=2000)) == 2  # type: ignore[arg-type]
