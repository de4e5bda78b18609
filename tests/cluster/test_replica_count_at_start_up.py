"""The start-up check with LAB11_MIN_REPLICAS on a cluster (issue 23): every primary's replicas are counted, not
only the named node's. A turn is confirmed by the replicas of its slot's primary, so one shard without a replica
means turns that are never confirmed, whichever node REDIS_URL names.

The fast tests read replies as the check reads them (no server); the cluster tests run it on the shared cluster
of three primaries and three replicas, and restart what they kill (``whole_cluster_afterwards``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lab11_persistence.config import load_settings
from lab11_persistence.server import choice
from lab11_persistence.server.probe import (
    RedisProbeError,
    TooFewReplicasError,
    cluster_primaries,
    judge_cluster_replicas,
    probe_redis,
    replicas_in_role,
)
from tests.support import acl
from tests.support.app_driver import LabApp, app_env, assert_clean, run_app, wait_for
from tests.support.cluster import ClusterNode, ValkeyCluster

# CLUSTER SLOTS as Valkey 8.1 answers it in RESP2 (read by the check's own reader): each range with its primary,
# then its replicas; each node as [host, port, id, metadata]. The primary at 30002 serves two ranges.
SLOTS = [
    [0, 5460, ["127.0.0.1", 30001, "a" * 40, []], ["127.0.0.1", 30005, "e" * 40, []]],
    [5461, 10922, ["127.0.0.1", 30002, "b" * 40, []], ["127.0.0.1", 30006, "f" * 40, []]],
    [10923, 16000, ["127.0.0.1", 30003, "c" * 40, []]],
    [16001, 16383, ["127.0.0.1", 30002, "b" * 40, []], ["127.0.0.1", 30006, "f" * 40, []]],
]


# -- reading the replies (fast) ----------------------------------------------------------------


@pytest.mark.fast
def test_every_primary_that_serves_slots_is_listed_once() -> None:
    primaries = cluster_primaries(SLOTS, "node.example")
    assert primaries == [("127.0.0.1", 30001), ("127.0.0.1", 30002), ("127.0.0.1", 30003)]


@pytest.mark.fast
@pytest.mark.parametrize("unknown", ["", "?"])
def test_a_primary_without_a_host_is_the_node_the_url_names(unknown: str) -> None:
    slots = [[0, 16383, [unknown, 7000, "a" * 40, []]]]
    assert cluster_primaries(slots, "node.example") == [("node.example", 7000)]


@pytest.mark.fast
def test_a_slot_map_with_no_primary_is_one_line() -> None:
    with pytest.raises(RedisProbeError, match="names no primary"):
        cluster_primaries([], "node.example")


@pytest.mark.fast
def test_role_lists_a_primarys_online_replicas_and_a_replica_is_not_judged() -> None:
    assert replicas_in_role(["master", 1234, [["127.0.0.1", "30005", "1234"], ["127.0.0.1", "30007", "1200"]]]) == 2
    assert replicas_in_role(["master", 0, []]) == 0
    assert replicas_in_role(["slave", "127.0.0.1", 30001, "connected", 1234]) is None


@pytest.mark.fast
def test_every_primary_with_enough_replicas_passes() -> None:
    judge_cluster_replicas({"127.0.0.1:30001": 1, "127.0.0.1:30002": 2, "127.0.0.1:30003": None}, 1)


@pytest.mark.fast
def test_the_weakest_primary_is_named_in_one_line() -> None:
    with pytest.raises(TooFewReplicasError) as refused:
        judge_cluster_replicas({"127.0.0.1:30001": 1, "127.0.0.1:30002": 0, "127.0.0.1:30003": 1}, 1)
    message = str(refused.value)
    assert "LAB11_MIN_REPLICAS=1 but a primary of the cluster at 127.0.0.1:30002 has 0 replicas connected" in message
    assert "\n" not in message and "primaries have fewer" not in message


@pytest.mark.fast
def test_when_several_primaries_are_short_the_line_counts_them() -> None:
    with pytest.raises(TooFewReplicasError) as refused:
        judge_cluster_replicas({"127.0.0.1:30001": 1, "127.0.0.1:30002": 0, "127.0.0.1:30003": 1}, 2)
    assert "at 127.0.0.1:30002 has 0 replicas connected (3 of 3 primaries have fewer than 2)" in str(refused.value)


@pytest.mark.fast
def test_the_app_asks_the_check_to_count_every_primary_when_redis_cluster_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[dict[str, object]] = []
    monkeypatch.setattr("lab11_persistence.server.probe.probe_redis", lambda url, **options: asked.append(options))
    environment = {"REDIS_URL": "redis://127.0.0.1:7000/0", "LAB11_MIN_REPLICAS": "1"}

    choice.redis_for(load_settings({**environment, "REDIS_CLUSTER": "1"}, read_dotenv=False))
    choice.redis_for(load_settings(environment, read_dotenv=False))

    assert [(options["min_replicas"], options["cluster"]) for options in asked] == [(1, True), (1, False)]


# -- on the real cluster -----------------------------------------------------------------------


def _two_shards(cluster: ValkeyCluster) -> tuple[ClusterNode, ClusterNode, ClusterNode, ClusterNode]:
    """The primary REDIS_URL names and its replica, another primary and that other primary's replica."""
    cluster.wait_until_replicas_online()
    shards = cluster.shards()
    named, other = sorted(shards)[:2]
    nodes = (named, shards[named][0], other, shards[other][0])
    return cluster.node_at(nodes[0]), cluster.node_at(nodes[1]), cluster.node_at(nodes[2]), cluster.node_at(nodes[3])


def _listed_replicas(primary: ClusterNode) -> int:
    with primary.client() as client:
        return len(client.execute_command("ROLE")[2])


@pytest.mark.cluster
def test_on_the_healthy_cluster_one_replica_per_primary_passes_from_any_node(redis_cluster: ValkeyCluster) -> None:
    redis_cluster.wait_until_replicas_online()
    for node in redis_cluster.nodes:  # three primaries and three replicas: a replica named is not judged itself
        probe_redis(f"redis://{node.address}/0", min_replicas=1, cluster=True)


@pytest.mark.cluster
def test_more_replicas_than_any_primary_has_names_one_and_counts_them_all(redis_cluster: ValkeyCluster) -> None:
    redis_cluster.wait_until_replicas_online()
    with pytest.raises(TooFewReplicasError) as refused:
        probe_redis(redis_cluster.url, min_replicas=2, cluster=True)
    assert "has 1 replica connected (3 of 3 primaries have fewer than 2)" in str(refused.value)


@pytest.mark.cluster
def test_a_primary_whose_replica_is_gone_is_found_though_the_url_names_another_primary(
    redis_cluster: ValkeyCluster, cluster_password: str, whole_cluster_afterwards: list[ClusterNode], tmp_path: Path
) -> None:
    named, named_replica, weakened, its_replica = _two_shards(redis_cluster)
    url = f"redis://{acl.USER}:{cluster_password}@{named.address}/0"
    its_replica.kill()
    whole_cluster_afterwards.append(its_replica)
    assert wait_for(lambda: _listed_replicas(weakened) == 0)

    probe_redis(url, min_replicas=1)  # the named node alone (as before): it has its replica
    with pytest.raises(TooFewReplicasError) as refused:
        probe_redis(url, min_replicas=1, cluster=True)
    with pytest.raises(TooFewReplicasError) as refused_from_a_replica:  # a replica named: its primaries are judged
        probe_redis(url.replace(named.address, named_replica.address), min_replicas=1, cluster=True)
    env = app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=url, REDIS_CLUSTER="1", LAB11_MIN_REPLICAS="1")
    command = run_app(env, tmp_path, "threads")

    expected = f"LAB11_MIN_REPLICAS=1 but a primary of the cluster at {weakened.address} has 0 replicas connected"
    assert expected in str(refused.value) and expected in str(refused_from_a_replica.value)
    assert command.returncode == 2, command.stderr
    assert command.stderr.count("\n") == 1 and expected in command.stderr, command.stderr
    for shown in (str(refused.value), command.stdout + command.stderr):
        assert cluster_password not in shown and acl.USER not in shown
    assert_clean(command.stdout + command.stderr)


@pytest.mark.cluster
def test_the_app_with_min_replicas_1_starts_on_the_healthy_cluster_and_saves_a_confirmed_turn(
    redis_cluster: ValkeyCluster, start_app: Callable[..., LabApp]
) -> None:
    redis_cluster.wait_until_replicas_online()
    app = start_app({"REDIS_URL": redis_cluster.url, "REDIS_CLUSTER": "1", "LAB11_MIN_REPLICAS": "1"})
    key = app.menu()

    reply = app.say("My name is Ada and I want to go to Lisbon.")
    status = app.exit()

    assert reply and status == 0
    assert "replica in time" not in app.transcript  # confirmed: no line about an unconfirmed turn under the reply
    with redis_cluster.primary_for_key(key).client() as client:
        assert client.llen(key) == 2
    assert_clean(app.transcript)
