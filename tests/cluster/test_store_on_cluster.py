"""The store on a real Redis Cluster: same key layout, one transaction per write, nothing missed across nodes."""

from __future__ import annotations

import pytest
from agent_framework import AgentThread, ChatMessage
from agent_framework_redis import RedisChatMessageStore as MicrosoftStore
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import CrossSlotTransactionError, MovedError

from lab11_persistence.redis_history.archive import IMPORT_KEPT, IMPORT_WRITTEN, dump_all_threads, import_threads
from lab11_persistence.redis_history.message_json import encode_entry
from redis_chat_message_store import RedisChatMessageStore, resume_thread
from tests.support.cluster import ValkeyCluster

pytestmark = pytest.mark.cluster


def turn(number: int) -> list[ChatMessage]:
    return [
        ChatMessage(role="user", text=f"question {number} 🚆", message_id=f"u{number}"),
        ChatMessage(role="assistant", text=f"answer {number}", author_name="planner"),
    ]


def cluster_store(
    cluster: ValkeyCluster, key_prefix: str, thread_id: str | None = None, **limits: int
) -> RedisChatMessageStore:
    """The store as the app builds it with REDIS_CLUSTER=1."""
    return RedisChatMessageStore(
        redis_url=cluster.url, thread_id=thread_id, key_prefix=key_prefix, cluster=True, **limits
    )


def test_the_cluster_has_three_primaries_each_with_a_replica(redis_cluster: ValkeyCluster) -> None:
    with redis_cluster.live_node().client() as client:
        info = client.execute_command("CLUSTER", "INFO")
    assert "cluster_state:ok" in info
    assert "cluster_slots_assigned:16384" in info
    shards = redis_cluster.shards()
    assert len(shards) == 3
    assert all(len(replicas) == 1 for replicas in shards.values())


async def test_add_messages_is_one_transaction_on_the_node_that_owns_the_thread(
    redis_cluster: ValkeyCluster, key_prefix: str, socket_writes: list[tuple[int, list[str]]]
) -> None:
    store = cluster_store(redis_cluster, key_prefix, max_messages=5, ttl_seconds=3600)
    await store.add_messages(turn(0))  # connects and learns the topology first
    socket_writes.clear()

    await store.add_messages(turn(1))

    owner = redis_cluster.primary_for_key(store.redis_key).port
    index_owner = redis_cluster.primary_for_key(store.history.index_key).port
    to_owner = [commands for port, commands in socket_writes if "RPUSH" in commands]
    assert to_owner == [["MULTI", "RPUSH", "LTRIM", "EXPIRE", "SET", "EXEC"]]
    assert [port for port, commands in socket_writes if "RPUSH" in commands] == [owner]
    assert [(port, commands) for port, commands in socket_writes if "ZADD" in commands] == [(index_owner, ["ZADD"])]
    assert len(socket_writes) == 2  # the transaction and the index update, sent side by side
    assert len(await store.list_messages()) == 4
    await store.aclose()


async def test_the_thread_key_keeps_the_layout_microsofts_store_uses(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    store = cluster_store(redis_cluster, key_prefix, thread_id="thread_layout")
    await store.add_messages(turn(1))
    node = redis_cluster.primary_for_key(f"{key_prefix}:thread_layout")
    with node.client() as client:
        assert client.type(f"{key_prefix}:thread_layout") == "list"
        assert client.llen(f"{key_prefix}:thread_layout") == 2
    await store.aclose()


async def test_max_messages_keeps_only_the_newest_on_the_cluster(redis_cluster: ValkeyCluster, key_prefix: str) -> None:
    store = cluster_store(redis_cluster, key_prefix, max_messages=3)
    for number in range(4):
        await store.add_messages(turn(number))
    assert [message.text for message in await store.list_messages()] == ["answer 2", "question 3 🚆", "answer 3"]
    await store.aclose()


async def test_the_thread_and_the_recency_index_live_in_different_slots(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    """Why the index update cannot join the transaction: one MULTI over both keys is refused."""
    store = cluster_store(redis_cluster, key_prefix)
    assert key_slot(store.redis_key.encode()) != key_slot(store.history.index_key.encode())
    client = RedisCluster.from_url(redis_cluster.url, decode_responses=True)
    await client.initialize()
    pipe = client.pipeline(transaction=True)
    pipe.rpush(store.redis_key, "x")
    pipe.zadd(store.history.index_key, {store.thread_id: 1.0})
    with pytest.raises(CrossSlotTransactionError):
        await pipe.execute()
    await client.aclose()
    await store.aclose()


async def test_listing_saved_threads_finds_threads_on_every_primary(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    spread = redis_cluster.thread_ids_on_every_primary(key_prefix, per_primary=2)
    assert len(spread) == 3
    expected = sorted(thread_id for ids in spread.values() for thread_id in ids)
    first = cluster_store(redis_cluster, key_prefix, thread_id=expected[0])
    for thread_id in expected:
        store = first.for_thread(thread_id)
        await store.add_messages(turn(1))

    scanned = await first.list_saved_threads()
    indexed = await first.list_saved_threads(limit=50)

    assert sorted(thread.thread_id for thread in scanned) == expected
    assert sorted(thread.thread_id for thread in indexed) == expected
    assert all(thread.message_count == 2 and thread.preview == "question 1 🚆" for thread in scanned)
    await first.aclose()


async def test_the_recency_index_is_rebuilt_from_threads_on_every_primary(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    """Threads written without the index (plain RPUSH, as the lab's store does) are found by SCAN on
    all primaries, and their idle times are read through a cluster pipeline that spans nodes."""
    spread = redis_cluster.thread_ids_on_every_primary(key_prefix)
    expected = sorted(thread_id for ids in spread.values() for thread_id in ids)
    client = RedisCluster.from_url(redis_cluster.url, decode_responses=True)
    for thread_id in expected:
        await client.rpush(f"{key_prefix}:{thread_id}", *(encode_entry(message.to_dict()) for message in turn(1)))
    await client.aclose()
    store = cluster_store(redis_cluster, key_prefix)

    assert await store.history.rebuild_index() == 3
    assert sorted(thread.thread_id for thread in await store.list_saved_threads(limit=10)) == expected
    await store.aclose()


async def test_clear_removes_the_thread_and_its_index_entry_without_crossslot(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    store = cluster_store(redis_cluster, key_prefix)
    await store.add_messages(turn(1))
    await store.clear()
    assert await store.list_messages() == []
    assert await store.list_saved_threads(limit=10) == []
    assert await store.list_saved_threads() == []
    await store.aclose()


async def test_threads_exported_from_every_primary_import_back_with_their_index_scores(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    """On a cluster the import writes each thread with its own script and the index (another slot) alongside."""
    spread = redis_cluster.thread_ids_on_every_primary(key_prefix)
    store = cluster_store(redis_cluster, key_prefix)
    for thread_id in (thread_id for ids in spread.values() for thread_id in ids):
        await store.for_thread(thread_id).add_messages(turn(1))
    history = store.history
    exported = sorted([dump async for dump in dump_all_threads(history, page_size=2)], key=lambda dump: dump.thread_id)
    for dump in exported:
        await history.clear(dump.thread_id)

    assert await import_threads(history, exported) == [IMPORT_WRITTEN] * len(exported)
    assert await import_threads(history, exported) == [IMPORT_KEPT] * len(exported)
    for dump in exported:
        assert await history.entries(dump.thread_id) == dump.entries
        assert await history.client.zscore(history.index_key, dump.thread_id) == dump.last_used
    await store.aclose()


async def test_no_store_operation_is_refused_with_crossslot(redis_cluster: ValkeyCluster, key_prefix: str) -> None:
    for node in redis_cluster.nodes:
        with node.client() as client:
            client.config_resetstat()
    spread = redis_cluster.thread_ids_on_every_primary(key_prefix)
    store = cluster_store(redis_cluster, key_prefix, max_messages=10, ttl_seconds=600)
    for thread_id in (thread_id for ids in spread.values() for thread_id in ids):
        other = store.for_thread(thread_id)
        await other.add_messages(turn(1))
        await other.list_messages()
        await other.count_messages()
    await store.list_saved_threads()
    await store.list_saved_threads(limit=5)
    await store.history.rebuild_index()
    await store.for_thread(spread[next(iter(spread))][0]).clear()
    await store.aclose()

    for node in redis_cluster.nodes:
        with node.client() as client:
            errors = client.info("errorstats")
        assert not any("CROSSSLOT" in name.upper() for name in errors), (node.address, errors)


async def test_a_snapshot_of_a_cluster_thread_resumes_on_the_cluster(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    store = cluster_store(redis_cluster, key_prefix)
    await store.add_messages(turn(1))
    assert store.current_state().cluster is True
    snapshot = await AgentThread(message_store=store).serialize()
    resumed = await resume_thread(snapshot, redis_url=redis_cluster.url)
    assert isinstance(resumed.message_store, RedisChatMessageStore)
    assert resumed.message_store.cluster is True
    assert [message.text for message in await resumed.message_store.list_messages()] == ["question 1 🚆", "answer 1"]
    await resumed.message_store.aclose()
    await store.aclose()


async def test_microsofts_store_reads_a_thread_written_on_the_cluster(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    """Its constructor only builds a single-node client (``redis.from_url``); given a cluster client
    in its place it reads our cluster-written thread, since the key layout and JSON are the same."""
    ours = cluster_store(redis_cluster, key_prefix)
    await ours.add_messages(turn(1))
    theirs = MicrosoftStore(redis_url=redis_cluster.url, thread_id=ours.thread_id, key_prefix=key_prefix)
    await theirs._redis_client.aclose()
    theirs._redis_client = RedisCluster.from_url(redis_cluster.url, decode_responses=True)

    assert [message.to_dict() for message in await theirs.list_messages()] == [message.to_dict() for message in turn(1)]
    await theirs._redis_client.aclose()
    await ours.aclose()


async def test_microsofts_own_client_is_redirected_for_a_thread_on_another_node(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    """Why it needs the swap above: unmodified, it talks to one node and gets MOVED for the others."""
    spread = redis_cluster.thread_ids_on_every_primary(key_prefix)
    url_node = redis_cluster.nodes[0]
    elsewhere = next(ids[0] for address, ids in spread.items() if address != url_node.address)
    ours = cluster_store(redis_cluster, key_prefix, thread_id=elsewhere)
    await ours.add_messages(turn(1))
    theirs = MicrosoftStore(redis_url=f"redis://{url_node.address}/0", thread_id=elsewhere, key_prefix=key_prefix)
    with pytest.raises(MovedError):
        await theirs.list_messages()
    await theirs._redis_client.aclose()
    await ours.aclose()


async def test_microsofts_store_writes_nothing_through_a_cluster_client(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    """A limit to know of (agent-framework-redis 1.0.0b260130 with redis-py 8.1): its add_messages does
    ``await pipe.rpush(...)``, and awaiting a redis-py cluster pipeline re-initialises it, which empties
    the queue, so EXEC runs nothing and no error is raised. Read with it on a cluster; never write."""
    theirs = MicrosoftStore(redis_url=redis_cluster.url, thread_id="thread_ms_write", key_prefix=key_prefix)
    await theirs._redis_client.aclose()
    theirs._redis_client = RedisCluster.from_url(redis_cluster.url, decode_responses=True)
    await theirs.add_messages(turn(1))
    assert await theirs.list_messages() == []
    await theirs._redis_client.aclose()
