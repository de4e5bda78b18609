"""The issue's measurement, through the lab's store on a cluster of 3 primaries and 3 replicas: the thread's
replica is cut off (paused, its replication link killed by the primary), turns are written, the primary is
SIGKILLed and the replica promoted. Without ``min_replicas`` every acknowledged turn is gone; with
``min_replicas=1`` the WAIT goes to the primary of the thread's slot, no acknowledged turn is lost, and every
turn that no replica confirmed was reported."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from agent_framework import ChatMessage

from lab11_persistence.redis_history.archive import IMPORT_WRITTEN, ThreadDump, import_threads
from lab11_persistence.redis_history.history import RedisHistory
from redis_chat_message_store import RedisChatMessageStore
from tests.support.cluster import FIGURES, ClusterNode, ValkeyCluster
from tests.support.confirmation import write_turns

pytestmark = pytest.mark.cluster

TURNS = 20
WAIT_MS = 100


def store_on(url: str, key_prefix: str, min_replicas: int = 0) -> RedisChatMessageStore:
    return RedisChatMessageStore(
        redis_url=url,
        thread_id="cut-replica",
        key_prefix=key_prefix,
        cluster=True,
        min_replicas=min_replicas,
        replica_timeout_ms=WAIT_MS,
    )


class CutReplica:
    """The thread's primary and its replica; ``cut()`` pauses the replica and kills its replication link."""

    def __init__(self, cluster: ValkeyCluster, key: str) -> None:
        self.cluster = cluster
        self.slot = cluster.slot_of(key)
        self.primary = cluster.primary_for_slot(self.slot)
        self.replica = cluster.node_at(cluster.shards()[self.primary.address][0])
        self.paused = False

    @property
    def url(self) -> str:
        """A startup URL on a node that is neither cut off nor killed (a paused one would not answer discovery)."""
        bystander = next(node for node in self.cluster.nodes if node.alive and node not in (self.primary, self.replica))
        return f"redis://{bystander.address}/0"

    def cut(self) -> None:
        assert self.replica.process is not None
        os.kill(self.replica.process.pid, signal.SIGSTOP)
        self.paused = True
        with self.primary.client() as client:
            client.execute_command("CLIENT", "KILL", "TYPE", "replica")

    def resume(self) -> None:
        if self.paused and self.replica.process is not None:
            os.kill(self.replica.process.pid, signal.SIGCONT)
        self.paused = False

    def fail_over(self) -> float:
        """SIGKILL the primary, only then let the replica run (it cannot catch up first); until it took over."""
        self.primary.kill()
        self.resume()
        return self.cluster.wait_for_new_primary(self.slot, self.primary)


@pytest.fixture
def cut_replica(
    redis_cluster: ValkeyCluster, key_prefix: str, whole_cluster_afterwards: list[ClusterNode]
) -> Iterator[CutReplica]:
    scenario = CutReplica(redis_cluster, f"{key_prefix}:cut-replica")
    # An earlier failover test may have just restarted this shard's replica: it confirms nothing until in sync.
    scenario.primary.wait_until_replicated()
    whole_cluster_afterwards.append(scenario.primary)  # restarted (as a replica) once the test is over
    try:
        yield scenario
    finally:
        scenario.resume()


async def surviving_turns(cluster: ValkeyCluster, key_prefix: str) -> set[int]:
    fresh = store_on(cluster.url, key_prefix)
    try:
        return {int(message.text.split()[1]) for message in await fresh.list_messages()}
    finally:
        await fresh.aclose()


async def test_without_min_replicas_every_acknowledged_turn_the_cut_replica_missed_is_lost(
    redis_cluster: ValkeyCluster, key_prefix: str, cut_replica: CutReplica
) -> None:
    store = store_on(cut_replica.url, key_prefix)
    cut_replica.cut()
    acknowledged, reported = await write_turns(store, range(1, TURNS + 1))
    election = cut_replica.fail_over()
    await store.aclose()

    lost = acknowledged - await surviving_turns(redis_cluster, key_prefix)

    FIGURES.append(f"cut replica, min_replicas=0: {len(lost)} of {len(acknowledged)} acknowledged turns lost")
    print(FIGURES[-1], f"(replica promoted {election:.1f}s after the SIGKILL)")
    assert (len(acknowledged), reported) == (TURNS, set())
    assert len(lost) == TURNS


async def test_with_min_replicas_1_no_acknowledged_turn_is_lost_and_every_unconfirmed_one_was_reported(
    redis_cluster: ValkeyCluster, key_prefix: str, cut_replica: CutReplica
) -> None:
    store = store_on(cut_replica.url, key_prefix, min_replicas=1)
    half = TURNS // 2
    before_cut, _ = await write_turns(store, range(1, half + 1))
    cut_replica.cut()
    after_cut, reported = await write_turns(store, range(half + 1, TURNS + 1))
    cut_replica.fail_over()
    await store.aclose()

    survived = await surviving_turns(redis_cluster, key_prefix)
    acknowledged = before_cut | after_cut

    FIGURES.append(
        f"cut replica, min_replicas=1: {len(acknowledged - survived)} of {len(acknowledged)} acknowledged turns "
        f"lost, {len(reported)} reported"
    )
    print(FIGURES[-1])
    assert acknowledged == set(range(1, half + 1))
    assert reported == set(range(half + 1, TURNS + 1))
    assert acknowledged <= survived
    assert set(range(1, TURNS + 1)) - survived <= reported


async def test_the_turn_and_its_wait_go_to_the_primary_of_the_threads_slot_in_one_round_trip(
    redis_cluster: ValkeyCluster, key_prefix: str, socket_writes: list[tuple[int, list[str]]]
) -> None:
    store = store_on(redis_cluster.url, key_prefix, min_replicas=1)
    await store.add_messages([ChatMessage(role="user", text="turn 0")])  # the topology and connections, learned
    owner = redis_cluster.primary_for_key(store.redis_key)
    socket_writes.clear()

    await store.add_messages([ChatMessage(role="user", text="turn 1")])
    await store.aclose()

    turn_writes = [(port, commands) for port, commands in socket_writes if "RPUSH" in commands]
    assert turn_writes == [(owner.port, ["MULTI", "RPUSH", "SET", "EXEC", "WAIT"])]  # no max_messages: no LTRIM


async def test_an_import_with_min_replicas_1_is_confirmed_by_each_threads_slot_primary(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    history = RedisHistory.connect(redis_cluster.url, cluster=True, key_prefix=key_prefix, min_replicas=1)
    threads = [
        ThreadDump(f"thread-{number}", history.key(f"thread-{number}"), [f'{{"role":"user","text":"{number}"}}'])
        for number in range(6)
    ]

    results = await import_threads(history, threads)
    listed = {saved.thread_id for saved in await history.list_threads(10)}
    await history.aclose()

    assert results == [IMPORT_WRITTEN] * 6  # written, and confirmed on every slot's primary
    assert listed == {thread.thread_id for thread in threads}
