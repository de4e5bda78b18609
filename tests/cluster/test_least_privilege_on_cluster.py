"""Issue 9, point 4, on a Redis Cluster: the store under the least-privilege user on every node.

A cluster keeps its ACL per node, so the user from ``tests/support/acl.py`` is created on all six
(and removed afterwards: the cluster is shared with the rest of the suite). The cluster client
also asks for the slot map (``CLUSTER SLOTS``) and the command table (``COMMAND``); so does the app's
start-up check with LAB11_MIN_REPLICAS (``CLUSTER SLOTS``, then ``ROLE`` on every primary).
"""

from __future__ import annotations

import uuid

import pytest
from agent_framework import ChatMessage

from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.rekey import REKEYED, rekey_threads
from lab11_persistence.server.probe import probe_redis
from redis_chat_message_store import RedisChatMessageStore
from tests.support import acl
from tests.support.cluster import ValkeyCluster
from tests.support.encryption_keys import key_entry

pytestmark = pytest.mark.cluster


def _refused(cluster: ValkeyCluster) -> list[str]:
    refused: list[str] = []
    for node in cluster.nodes:
        with node.client() as admin:
            log = admin.execute_command("ACL", "LOG")
        refused += [f"{node.address}: {entry['reason']} {entry['object']}" for entry in log]
    return refused


async def test_the_store_on_a_cluster_runs_under_the_app_user(
    redis_cluster: ValkeyCluster, cluster_password: str
) -> None:
    url = f"redis://{acl.USER}:{cluster_password}@{redis_cluster.live_node().address}/0"
    threads = [f"least-privilege-{uuid.uuid4().hex[:8]}-{number}" for number in range(3)]
    stores = [
        RedisChatMessageStore(
            redis_url=url, thread_id=thread, key_prefix=acl.KEY_PREFIX, cluster=True, max_messages=10, ttl_seconds=600
        )
        for thread in threads
    ]
    for number, store in enumerate(stores):
        await store.add_messages([ChatMessage(role="user", text=f"question {number}")])
        assert len(await store.list_messages()) == 1
    await stores[0].ping()
    listed = {thread.thread_id for thread in await stores[0].list_saved_threads(limit=20)}
    assert set(threads) <= listed
    assert set(threads) <= {thread.thread_id for thread in await stores[0].list_saved_threads()}
    for store in stores:
        await store.clear()
        await store.aclose()
    assert _refused(redis_cluster) == []


async def test_confirmed_turns_and_a_confirmed_rekey_on_a_cluster_run_under_the_app_user(
    redis_cluster: ValkeyCluster, cluster_password: str
) -> None:
    """LAB11_MIN_REPLICAS (WAIT on the slot's primary) and ``lab11 rekey`` (WATCH, MULTI/EXEC, WAIT there too)."""
    for primary in redis_cluster.primaries():  # a replica restarted by an earlier test confirms once in sync
        primary.wait_until_replicated()
    url = f"redis://{acl.USER}:{cluster_password}@{redis_cluster.live_node().address}/0"
    thread = f"least-privilege-{uuid.uuid4().hex[:8]}"
    confirmed = {"min_replicas": 1, "replica_timeout_ms": 2000}
    store = RedisChatMessageStore(redis_url=url, thread_id=thread, key_prefix=acl.KEY_PREFIX, cluster=True, **confirmed)
    await store.add_messages([ChatMessage(role="user", text="a confirmed turn")])
    await store.aclose()

    history = RedisHistory.connect(
        url, cluster=True, key_prefix=acl.KEY_PREFIX, encryption_keys=key_entry("acl"), **confirmed
    )
    [result] = await rekey_threads(history, [thread])
    await history.clear(thread)
    await history.aclose()

    assert (result.outcome, result.confirmed) == (REKEYED, True)
    assert _refused(redis_cluster) == []


def test_the_start_up_check_counts_every_primarys_replicas_under_the_app_user(
    redis_cluster: ValkeyCluster, cluster_password: str
) -> None:
    """LAB11_MIN_REPLICAS on a cluster: CLUSTER SLOTS on the named node, then ROLE on each primary; nothing more."""
    url = f"redis://{acl.USER}:{cluster_password}@{redis_cluster.live_node().address}/0"

    probe_redis(url, min_replicas=1, cluster=True)

    assert _refused(redis_cluster) == []
