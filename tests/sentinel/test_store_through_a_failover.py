"""The lab's store on a ``redis+sentinel://`` URL: the issue's cut-replica scenario, and a SIGKILL mid-stream.

A turn is ``add_messages``, acknowledged when it returns; a turn no replica confirmed raises
ReplicaConfirmationError (and is on the primary). What survives is read after the failover through a
brand-new store on the same URL.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from redis_chat_message_store import RedisChatMessageStore
from tests.support.confirmation import write_turns
from tests.support.sentinel import DataNode, SentinelDeployment

pytestmark = pytest.mark.sentinel

TURNS = 20
WAIT_MS = 100  # per turn, when no replica can confirm it
RESUME_WITHIN_SECONDS = 10.0


def store_on(sentinel: SentinelDeployment, thread_id: str, min_replicas: int = 0) -> RedisChatMessageStore:
    return RedisChatMessageStore(
        redis_url=sentinel.url(),
        thread_id=thread_id,
        key_prefix="lab11-sentinel",
        min_replicas=min_replicas,
        replica_timeout_ms=WAIT_MS,
    )


async def surviving_turns(sentinel: SentinelDeployment, thread_id: str) -> set[int]:
    fresh = store_on(sentinel, thread_id)
    try:
        return {int(message.text.split()[1]) for message in await fresh.list_messages()}
    finally:
        await fresh.aclose()


def fail_over_with_the_replica_cut_off(sentinel: SentinelDeployment, replica: DataNode) -> None:
    old = sentinel.kill_primary()
    replica.resume()  # only now, so that it cannot catch up from the old primary first
    sentinel.wait_for_promotion(old)


async def test_without_min_replicas_every_acknowledged_turn_a_cut_replica_missed_is_lost(
    sentinel: SentinelDeployment,
) -> None:
    """The baseline (the issue measured it on a cluster): 20 of 20 acknowledged turns gone."""
    store = store_on(sentinel, "baseline")
    await store.clear()
    replica = sentinel.cut_replica()
    acknowledged, reported = await write_turns(store, range(1, TURNS + 1))
    fail_over_with_the_replica_cut_off(sentinel, replica)
    await store.aclose()

    lost = acknowledged - await surviving_turns(sentinel, "baseline")

    assert (len(acknowledged), reported) == (TURNS, set())
    assert len(lost) == TURNS
    print(f"baseline under Sentinel: {len(lost)} of {len(acknowledged)} acknowledged turns lost")


async def test_with_min_replicas_1_no_acknowledged_turn_is_lost_and_every_unconfirmed_one_was_reported(
    sentinel: SentinelDeployment,
) -> None:
    store = store_on(sentinel, "confirmed", min_replicas=1)
    await store.clear()
    half = TURNS // 2
    before_cut, _ = await write_turns(store, range(1, half + 1))
    replica = sentinel.cut_replica()
    after_cut, reported = await write_turns(store, range(half + 1, TURNS + 1))
    fail_over_with_the_replica_cut_off(sentinel, replica)
    await store.aclose()

    survived = await surviving_turns(sentinel, "confirmed")
    acknowledged = before_cut | after_cut

    assert acknowledged == set(range(1, half + 1))
    assert reported == set(range(half + 1, TURNS + 1))
    assert acknowledged <= survived  # 0 acknowledged turns lost
    assert set(range(1, TURNS + 1)) - survived <= reported  # whatever is gone had been reported


async def test_a_primary_sigkilled_mid_stream_the_store_resumes_on_the_new_primary_within_seconds(
    sentinel: SentinelDeployment,
) -> None:
    """One turn after another while the primary dies: the turn under way waits for the new primary (the store's
    bounded wait), nothing acknowledged is lost, and the turns after it are saved there."""
    store = store_on(sentinel, "mid-stream", min_replicas=1)
    await store.clear()
    acknowledged, reported = await write_turns(store, range(1, 6))
    old = sentinel.primary
    killer = asyncio.get_running_loop().call_later(0.2, old.kill)
    slowest = 0.0
    for number in range(6, 6 + TURNS):
        started = time.monotonic()
        more_acknowledged, more_reported = await write_turns(store, range(number, number + 1))
        slowest = max(slowest, time.monotonic() - started)
        acknowledged |= more_acknowledged
        reported |= more_reported
        await asyncio.sleep(0.05)
    killer.cancel()
    await store.aclose()

    survived = await surviving_turns(sentinel, "mid-stream")

    assert not old.alive
    assert slowest < RESUME_WITHIN_SECONDS
    assert acknowledged <= survived  # nothing acknowledged is lost
    assert set(range(1, 6 + TURNS)) == acknowledged | reported  # every turn either acknowledged or reported
    assert reported  # the new primary has no replica until the old one returns: said, not claimed
    print(f"SIGKILL mid-stream: the slowest turn (the one the failover caught) took {slowest:.1f}s")
