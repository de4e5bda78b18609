"""Issue 24 on a real Redis Cluster: sealed turns and summaries on threads spread over every primary, and a
rekey of them all, each thread's transaction in its own hash slot; under ``min_replicas`` each rewrite is
confirmed by its own primary's replica (issue 23)."""

from __future__ import annotations

from typing import Any

import pytest
from agent_framework import ChatMessage

from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.message_json import message_text
from lab11_persistence.redis_history.rekey import REKEYED, rekey_all
from lab11_persistence.redis_history.sealing import is_sealed, key_id_of
from redis_chat_message_store import RedisChatMessageStore
from tests.support.cluster import ValkeyCluster
from tests.support.encryption_keys import key_entry

pytestmark = pytest.mark.cluster


OLD, NEW = key_entry("old"), key_entry("new")


async def summarize(previous: str | None, messages: list[dict[str, Any]]) -> str:
    return " ".join([previous or "Summary:", *(message_text(message) for message in messages)])


def cluster_store(cluster: ValkeyCluster, key_prefix: str, thread_id: str, keys: Any) -> RedisChatMessageStore:
    return RedisChatMessageStore(
        redis_url=cluster.url,
        thread_id=thread_id,
        key_prefix=key_prefix,
        cluster=True,
        encryption_keys=keys,
        context_messages=2,
        summarizer=summarize,
    )


def threads_on_every_primary(cluster: ValkeyCluster, key_prefix: str) -> list[str]:
    return [thread_id for ids in cluster.thread_ids_on_every_primary(key_prefix).values() for thread_id in ids]


async def test_sealed_threads_on_every_primary_read_back_and_rekey(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    thread_ids = threads_on_every_primary(redis_cluster, key_prefix)
    for thread_id in thread_ids:
        store = cluster_store(redis_cluster, key_prefix, thread_id, OLD)
        for number in range(3):
            await store.list_messages()
            await store.add_messages(
                [ChatMessage(role="user", text=f"{thread_id} fact {number}"), ChatMessage(role="assistant", text="ok")]
            )
        await store.aclose()

    history = RedisHistory.connect(redis_cluster.url, cluster=True, key_prefix=key_prefix, encryption_keys=[NEW, OLD])
    results = [result async for page in rekey_all(history, page_size=2) for result in page]
    await history.aclose()

    assert sorted(result.thread_id for result in results) == sorted(thread_ids)
    assert {result.outcome for result in results} == {REKEYED}
    for thread_id in thread_ids:
        key = f"{key_prefix}:{thread_id}"
        with redis_cluster.primary_for_key(key).client() as client:
            stored = client.lrange(key, 0, -1)
            summary = client.get(f"{{{key}}}:summary")
        assert {key_id_of(entry) for entry in [*stored, summary]} == {"new"}
        assert not [entry for entry in [*stored, summary] if "fact" in entry]
        store = cluster_store(redis_cluster, key_prefix, thread_id, NEW)
        messages = await store.list_messages()
        await store.aclose()
        assert "fact 0" in messages[0].text and messages[-1].text == "ok" and is_sealed(stored[-1])


async def test_a_rekey_under_min_replicas_is_confirmed_by_each_threads_primary(
    redis_cluster: ValkeyCluster, key_prefix: str
) -> None:
    thread_ids = threads_on_every_primary(redis_cluster, key_prefix)
    for thread_id in thread_ids:
        store = RedisChatMessageStore(
            redis_url=redis_cluster.url, thread_id=thread_id, key_prefix=key_prefix, cluster=True
        )
        await store.add_messages([ChatMessage(role="user", text=f"{thread_id} in plaintext")])
        await store.aclose()
    for primary in redis_cluster.primaries():  # a replica restarted by an earlier test confirms once in sync
        primary.wait_until_replicated()

    history = RedisHistory.connect(
        redis_cluster.url, cluster=True, key_prefix=key_prefix, encryption_keys=NEW, min_replicas=1
    )
    results = [result async for page in rekey_all(history) for result in page]
    await history.aclose()

    assert sorted(result.thread_id for result in results) == sorted(thread_ids)
    assert {(result.outcome, result.confirmed, result.replicas) for result in results} == {(REKEYED, True, 1)}
    for thread_id in thread_ids:
        key = f"{key_prefix}:{thread_id}"
        with redis_cluster.primary_for_key(key).client() as client:
            assert {key_id_of(entry) for entry in client.lrange(key, 0, -1)} == {"new"}
