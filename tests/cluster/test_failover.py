"""Failover: the primary that owns the active thread is killed mid-session (SIGKILL, no handover).

The cluster runs with cluster-node-timeout 1000 ms (Valkey's default is 15000 ms) so that
its replica is elected in seconds. Each test measures how long the election took, how long
the store's turn waited, and how many messages were lost, and brings the dead node back
(it rejoins as a replica) so the cluster is whole again for the next test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, MutableSequence
from typing import Any

import pytest
from agent_framework import AgentThread, ChatAgent, ChatMessage, ChatResponse

import app
from lab11_persistence.offline_model.lab_client import OfflineChatClient
from lab11_persistence.offline_model.reasoning import summarize_messages
from lab11_persistence.redis_history import history as redis_history
from redis_chat_message_store import RedisChatMessageStore, RedisUnavailableError
from tests.support.cluster import FIGURES, ClusterNode, ValkeyCluster
from tests.support.messages import roles_and_texts

pytestmark = pytest.mark.cluster

EARLIER_TURNS = ("Hi, my name is Ada and I want to go to Lisbon.", "I love seafood.", "My budget is 1500 euros.")
AFTER_FAILOVER = "What is my name and where do I want to go?"


class ModelThatTriggersAFault(OfflineChatClient):
    """The offline model, but it can run a fault (kill a node) while it is 'thinking' about a reply."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fault: Callable[[], None] | None = None

    async def _inner_get_response(
        self, *, messages: MutableSequence[ChatMessage], options: dict[str, Any], **kwargs: Any
    ) -> ChatResponse:
        if self.fault is not None:
            fault, self.fault = self.fault, None
            fault()
        return await super()._inner_get_response(messages=messages, options=options, **kwargs)


async def _chat(agent: ChatAgent, thread: AgentThread, prompts: tuple[str, ...]) -> list[tuple[str, str]]:
    said = []
    for prompt in prompts:
        response = await agent.run(prompt, thread=thread)
        said.append((prompt, response.text))
    return said


def _expected(turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [pair for prompt, reply in turns for pair in (("user", prompt), ("assistant", reply))]


async def _saved_on_the_cluster(cluster: ValkeyCluster, store: RedisChatMessageStore) -> list[tuple[str, str]]:
    """What the cluster holds for the thread, read through a brand-new client (no cached state).

    Its startup URL names a live node: a new client cannot discover a cluster from a dead one.
    """
    fresh = RedisChatMessageStore(
        redis_url=cluster.url, thread_id=store.thread_id, key_prefix=store.key_prefix, cluster=True
    )
    try:
        return roles_and_texts(await fresh.list_messages())
    finally:
        await fresh.aclose()


def _lost(expected: list[tuple[str, str]], saved: list[tuple[str, str]]) -> int:
    return sum(1 for message in expected if message not in saved)


async def test_the_turn_after_the_threads_primary_dies_is_saved_and_nothing_is_lost(
    redis_cluster: ValkeyCluster, whole_cluster_afterwards: list[ClusterNode]
) -> None:
    agent = app.build_agent(redis_cluster.url, OfflineChatClient(), cluster=True)
    thread, store = app.create_thread(agent)
    before = await _chat(agent, thread, EARLIER_TURNS)
    slot = redis_cluster.slot_of(store.redis_key)
    owner = redis_cluster.primary_for_slot(slot)

    owner.wait_until_replicated()
    owner.kill()
    killed_at = time.monotonic()
    whole_cluster_afterwards.append(owner)
    election = asyncio.create_task(asyncio.to_thread(redis_cluster.wait_for_new_primary, slot, owner))
    after = await _chat(agent, thread, (AFTER_FAILOVER,))
    turn_seconds = time.monotonic() - killed_at
    election_seconds = await election

    saved = await _saved_on_the_cluster(redis_cluster, store)
    expected = _expected(before + after)
    lost = _lost(expected, saved)
    new_owner = redis_cluster.primary_for_slot(slot)
    FIGURES.append(
        f"failover between turns: replica elected {election_seconds:.2f}s after SIGKILL of {owner.address}; "
        f"the next turn (read history, model, write) waited and finished {turn_seconds:.2f}s after the kill; "
        f"messages lost: {lost} of {len(expected)}"
    )
    print(FIGURES[-1])
    await store.aclose()

    assert new_owner is not owner and new_owner.alive
    assert saved == expected  # every earlier message, then the new turn, in order
    assert "Your name is Ada." in after[0][1] and "Lisbon" in after[0][1]  # the history reached the model


async def test_with_a_window_the_turn_after_the_threads_primary_dies_keeps_every_message_and_the_summary(
    redis_cluster: ValkeyCluster, whole_cluster_afterwards: list[ClusterNode]
) -> None:
    """A turn's window read (the summary, the length and the newest messages in one pipeline) waits out the
    failover as a plain read does."""
    agent = app.build_agent(
        redis_cluster.url, OfflineChatClient(), cluster=True, context_messages=4, summarizer=summarize_messages
    )
    thread, store = app.create_thread(agent)
    before = await _chat(agent, thread, EARLIER_TURNS)
    owner = redis_cluster.primary_for_key(store.redis_key)
    owner.wait_until_replicated()
    owner.kill()
    whole_cluster_afterwards.append(owner)
    after = await _chat(agent, thread, (AFTER_FAILOVER,))
    await store.aclose()  # the last fold lands first

    assert await _saved_on_the_cluster(redis_cluster, store) == _expected(before + after)
    assert "Your name is Ada." in after[0][1] and "and a summary of the 2 before them" in after[0][1]
    fresh = RedisChatMessageStore(
        redis_url=redis_cluster.url, thread_id=store.thread_id, key_prefix="lab11", cluster=True
    )
    summary = await fresh.summary()
    await fresh.aclose()
    assert summary is not None and summary.covers == 4 and "My name is Ada." in summary.text


async def test_a_turn_whose_primary_dies_while_the_model_answers_is_saved_and_nothing_is_lost(
    redis_cluster: ValkeyCluster, whole_cluster_afterwards: list[ClusterNode]
) -> None:
    """The history was read from the old primary; the write has to wait for its replica to take over."""
    model = ModelThatTriggersAFault()
    agent = app.build_agent(redis_cluster.url, model, cluster=True)
    thread, store = app.create_thread(agent)
    before = await _chat(agent, thread, EARLIER_TURNS)
    slot = redis_cluster.slot_of(store.redis_key)
    owner = redis_cluster.primary_for_slot(slot)
    killed_at: list[float] = []

    def kill_owner() -> None:
        owner.wait_until_replicated()
        owner.kill()
        killed_at.append(time.monotonic())

    model.fault = kill_owner
    whole_cluster_afterwards.append(owner)
    after = await _chat(agent, thread, (AFTER_FAILOVER,))
    write_seconds = time.monotonic() - killed_at[0]

    saved = await _saved_on_the_cluster(redis_cluster, store)
    expected = _expected(before + after)
    lost = _lost(expected, saved)
    FIGURES.append(
        f"failover during a turn: the write waited {write_seconds:.2f}s after SIGKILL of {owner.address} "
        "for the replica to take over and then saved the turn; "
        f"messages lost: {lost} of {len(expected)}"
    )
    print(FIGURES[-1])
    await store.aclose()

    assert redis_cluster.primary_for_slot(slot) is not owner
    assert saved == expected
    assert len(saved) == 2 * (len(EARLIER_TURNS) + 1)


async def test_the_store_gives_up_with_a_clear_error_when_a_whole_shard_stays_down(
    redis_cluster: ValkeyCluster, whole_cluster_afterwards: list[ClusterNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait is bounded: with no replica left to take over, the turn fails with the store's own error."""
    monkeypatch.setattr(redis_history, "CLUSTER_FAILOVER_WAIT_SECONDS", 2.0)
    store = RedisChatMessageStore(redis_url=redis_cluster.url, key_prefix="lab11-down", cluster=True)
    await store.add_messages([ChatMessage(role="user", text="before")])
    primary = redis_cluster.primary_for_key(store.redis_key)
    replicas = [redis_cluster.node_at(address) for address in redis_cluster.shards()[primary.address]]
    for node in (primary, *replicas):
        node.kill()
        whole_cluster_afterwards.append(node)

    started = time.monotonic()
    with pytest.raises(RedisUnavailableError, match="Cannot reach Redis"):
        await store.add_messages([ChatMessage(role="user", text="after")])
    gave_up_after = time.monotonic() - started
    FIGURES.append(f"whole shard down, wait bound set to 2 s: the store gave up after {gave_up_after:.2f}s")
    await store.aclose()
    # How long it waited is a figure, not an assertion (tests do not judge wall-clock time): that
    # the call raised at all, instead of waiting for the shard, is the bound at work.
