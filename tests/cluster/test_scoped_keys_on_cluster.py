"""Microsoft's scoped keys on a 3+3 Valkey Cluster: sessions on every primary, migrate, prune, a tenant's ACL.

A scoped key has no hash tag, so each thread lands wherever its whole key hashes; its side keys
follow it (``{<thread key>}:…``), and the scope's index is in yet another slot. Here: the lab's store
writes, reads, lists and clears sessions on every primary; ``lab11 migrate`` moves lab threads
from every primary to scoped keys on other slots (the source deleted by its own script); pruning
deletes old threads on every primary and keeps one just written; and a tenant's user, created on
every node, runs all of it with every ACL LOG empty. (Our 1.x provider on the cluster, read back by
Microsoft's provider on each primary: tests/v1.)
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_framework import ChatMessage

from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.keys import KeyLayout
from lab11_persistence.redis_history.migration import convert_entries
from lab11_persistence.redis_history.retention import prune_threads
from redis_chat_message_store import RedisChatMessageStore
from tests.support import acl, app_driver
from tests.support.cluster import ValkeyCluster

pytestmark = pytest.mark.cluster

DAY = 86400


def lab_entry(text: str) -> str:
    return json.dumps(
        {
            "type": "chat_message",
            "role": {"type": "role", "value": "user"},
            "contents": [{"type": "text", "text": text}],
        }
    )


@pytest.fixture
def scope(key_prefix: str) -> dict[str, str]:
    """A tenant of its own per test: the cluster is shared."""
    return {"tenant_id": key_prefix, "application_id": "travel-app"}


@pytest.fixture
def tenant_password(redis_cluster: ValkeyCluster, key_prefix: str) -> Iterator[str]:
    password = secrets.token_urlsafe(24)
    for node in redis_cluster.nodes:
        with node.client() as admin:
            admin.execute_command(*acl.tenant_acl_setuser_arguments(key_prefix, password))
            admin.execute_command("ACL", "LOG", "RESET")
    yield password
    for node in redis_cluster.nodes:
        if node.alive:
            with node.client() as admin:
                admin.execute_command("ACL", "DELUSER", acl.tenant_user(key_prefix))


def _refused(cluster: ValkeyCluster) -> list[str]:
    refused: list[str] = []
    for node in cluster.nodes:
        with node.client() as admin:
            refused += [
                f"{node.address}: {entry['reason']} {entry['object']}" for entry in admin.execute_command("ACL", "LOG")
            ]
    return refused


async def test_scoped_sessions_on_every_primary_under_the_tenants_user(
    redis_cluster: ValkeyCluster, key_prefix: str, scope: dict[str, str], tenant_password: str
) -> None:
    layout = KeyLayout.resolve("lab11", **scope)
    spread = redis_cluster.thread_ids_on_every_primary(key_prefix, per_primary=2, key_of=layout.key)
    assert len(spread) == 3
    url = f"redis://{acl.tenant_user(key_prefix)}:{tenant_password}@{redis_cluster.live_node().address}/0"
    store = RedisChatMessageStore(redis_url=url, key_prefix="lab11", cluster=True, max_messages=10, **scope)
    ids = [thread_id for thread_ids in spread.values() for thread_id in thread_ids]
    for thread_id in ids:
        await store.for_thread(thread_id).add_messages([ChatMessage(role="user", text=f"hello {thread_id}")])
    for address, thread_ids in spread.items():
        with redis_cluster.node_at(address).client() as owner:
            for thread_id in thread_ids:
                key = layout.key(thread_id)
                assert json.loads(owner.lrange(key, 0, -1)[0])["type"] == "message"
                assert owner.exists(f"{{{key}}}:last-write") == 1
        for thread_id in thread_ids:
            assert [m.text for m in await store.for_thread(thread_id).list_messages()] == [f"hello {thread_id}"]
    assert sorted(t.thread_id for t in await store.list_saved_threads(20)) == sorted(ids)
    assert sorted(t.thread_id for t in await store.list_saved_threads()) == sorted(ids)
    history = store.history
    with redis_cluster.primary_for_key(layout.index_key).client() as admin:
        admin.zadd(layout.index_key, {thread_id: time.time() - 90 * DAY for thread_id in ids[:3]})
    for thread_id in ids[:3]:  # their write tokens expired long ago
        token = history.write_token_key(thread_id)
        with redis_cluster.primary_for_key(token).client() as admin:
            admin.delete(token)
    pruned = [result async for page in prune_threads(history, time.time() - 30 * DAY) for result in page]
    assert sorted(result.thread_id for result in pruned) == sorted(ids[:3])
    assert sorted(t.thread_id for t in await store.list_saved_threads(20)) == sorted(ids[3:])
    for thread_id in ids[3:]:
        await store.for_thread(thread_id).clear()
    assert await store.list_saved_threads(20) == []
    await store.aclose()
    assert _refused(redis_cluster) == []


async def test_prune_on_a_cluster_keeps_a_thread_written_in_the_last_minutes(
    redis_cluster: ValkeyCluster, key_prefix: str, scope: dict[str, str]
) -> None:
    """The index is in another slot: the thread's write token shows the write the index page missed."""
    history = RedisHistory.connect(redis_cluster.url, cluster=True, key_prefix="lab11", **scope)
    await history.append("thread_busy", [lab_entry("just now")])
    with redis_cluster.primary_for_key(history.index_key).client() as admin:
        admin.zadd(history.index_key, {"thread_busy": time.time() - 90 * DAY})  # as a page read before the write
    results = [result async for page in prune_threads(history, time.time() - 30 * DAY) for result in page]
    assert [(result.thread_id, result.kept) for result in results] == [("thread_busy", True)]
    assert await history.count("thread_busy") == 1
    await history.clear("thread_busy")
    await history.aclose()


def test_lab11_migrate_on_a_cluster_moves_threads_from_every_primary(
    redis_cluster: ValkeyCluster, key_prefix: str, scope: dict[str, str], tmp_path: Path
) -> None:
    prefix_env = {"REDIS_URL": redis_cluster.url, "REDIS_CLUSTER": "1"}
    spread = redis_cluster.thread_ids_on_every_primary("lab11", 2, key_of=lambda thread: f"lab11:{thread}-{key_prefix}")
    ids = [f"{thread_id}-{key_prefix}" for thread_ids in spread.values() for thread_id in thread_ids]
    assert len({redis_cluster.primary_for_key(f"lab11:{thread_id}").address for thread_id in ids}) == 3
    sources = {}
    for thread_id in ids:
        sources[thread_id] = [lab_entry(f"question of {thread_id}"), lab_entry("and another")]
        with redis_cluster.primary_for_key(f"lab11:{thread_id}").client() as admin:
            admin.rpush(f"lab11:{thread_id}", *sources[thread_id])
    env = {**app_driver.app_env(tmp_path / "home", tmp_path / "data"), **prefix_env}
    options = [f"--tenant-id={scope['tenant_id']}", f"--application-id={scope['application_id']}"]
    for extra in ([], ["--delete-source"]):
        run = subprocess.run(
            [sys.executable, str(app_driver.APP), "migrate", *ids, *extra, *options],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
    assert "0 written, 6 already there; 6 sources deleted" in run.stdout
    layout = KeyLayout.resolve("lab11", **scope)
    owners = set()
    for thread_id in ids:
        owner = redis_cluster.primary_for_key(layout.key(thread_id))
        owners.add(owner.address)
        with owner.client() as admin:
            assert admin.lrange(layout.key(thread_id), 0, -1) == convert_entries(sources[thread_id])
        with redis_cluster.primary_for_key(f"lab11:{thread_id}").client() as admin:
            assert admin.exists(f"lab11:{thread_id}") == 0
    assert len(owners) > 1
    with redis_cluster.primary_for_key(layout.index_key).client() as admin:
        assert sorted(admin.zrange(layout.index_key, 0, -1)) == sorted(ids)
