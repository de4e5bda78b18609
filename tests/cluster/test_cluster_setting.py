"""The one setting, without a server: REDIS_CLUSTER is read, reaches the store, and survives a snapshot."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

import app
from lab11_persistence import config
from redis_chat_message_store import RedisChatMessageStore, RedisStoreState

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("Yes", True), ("0", False), ("", False)])
def test_redis_cluster_is_read_from_the_environment(value: str, expected: bool) -> None:
    assert config.load_settings({"REDIS_CLUSTER": value}, read_dotenv=False).redis_cluster is expected


def test_redis_cluster_is_off_when_unset() -> None:
    assert config.load_settings({}, read_dotenv=False).redis_cluster is False


async def test_cluster_true_builds_redis_pys_cluster_client() -> None:
    store = RedisChatMessageStore(redis_url="redis://127.0.0.1:7000/0", cluster=True)
    single = RedisChatMessageStore(redis_url="redis://127.0.0.1:7000/0")
    assert isinstance(store.history.client, RedisCluster)
    assert isinstance(single.history.client, Redis) and not single.cluster
    await store.aclose()
    await single.aclose()


async def test_the_cluster_flag_is_in_the_snapshot_state_and_carried_to_other_threads() -> None:
    store = RedisChatMessageStore(redis_url="redis://:s3cret@127.0.0.1:7000/0", cluster=True)
    state = store.current_state()
    assert state.cluster is True and "s3cret" not in state.model_dump_json()
    other = store.for_thread("thread_other")
    assert other.cluster is True
    rebuilt = RedisChatMessageStore.from_state(state, redis_url="redis://127.0.0.1:7000/0")
    assert rebuilt.cluster is True
    moved = RedisChatMessageStore.from_state(state, redis_url="redis://127.0.0.1:6379/0", cluster=False)
    assert moved.cluster is False and not isinstance(moved.history.client, RedisCluster)
    assert RedisStoreState(thread_id="t").cluster is False  # snapshots from before the setting
    for each in (store, other, rebuilt, moved):
        await each.aclose()


async def test_build_agent_passes_the_setting_to_every_thread_store() -> None:
    agent = app.build_agent("redis://127.0.0.1:7000/0", cluster=True)
    _thread, store = app.create_thread(agent)
    assert store.cluster is True and isinstance(store.history.client, RedisCluster)
    await store.aclose()
