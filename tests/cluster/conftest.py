"""Fixtures of the cluster suite alone; the cluster (`redis_cluster`, `key_prefix`) and the app's fixtures
(`start_app`) are in tests/conftest.py."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from tests.support import acl
from tests.support.cluster import FIGURES, ClusterNode, ValkeyCluster


@pytest.fixture
def whole_cluster_afterwards(redis_cluster: ValkeyCluster) -> Iterator[list[ClusterNode]]:
    """Nodes a test kills go here; they are restarted (as replicas) and the cluster is healthy again after."""
    killed: list[ClusterNode] = []
    yield killed
    started = time.monotonic()
    for node in killed:
        redis_cluster.restart_node(node)
    redis_cluster.wait_until_healthy(timeout=30)
    if killed:
        FIGURES.append(
            f"  killed node(s) restarted on their data, cluster whole again in {time.monotonic() - started:.1f}s"
        )


@pytest.fixture
def cluster_password(redis_cluster: ValkeyCluster) -> Iterator[str]:
    """The least-privilege user of tests/support/acl.py on every node (a cluster keeps its ACL per node), with an
    empty ACL LOG; its password. Removed afterwards: the cluster is shared with the rest of the suite."""
    password = secrets.token_urlsafe(24)
    for node in redis_cluster.nodes:
        with node.client() as admin:
            admin.execute_command(*acl.acl_setuser_arguments(password))
            admin.execute_command("ACL", "LOG", "RESET")
    yield password
    for node in redis_cluster.nodes:
        if node.alive:
            with node.client() as admin:
                admin.execute_command("ACL", "DELUSER", acl.USER)
