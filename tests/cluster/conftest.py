"""A real six-node Valkey Cluster, started once for the whole cluster suite."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.app.conftest import app_env, data_dir, start_app  # noqa: F401 (the app's pexpect fixtures, reused)
from tests.support.cluster import ClusterNode, ValkeyCluster

# Figures the failover tests measure, printed at the end of the run (no -s needed).
FIGURES: list[str] = []


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    """Three primaries and three replicas on loopback; every process is killed afterwards."""
    started = time.monotonic()
    cluster = ValkeyCluster(tmp_path_factory.mktemp("valkey-cluster")).start()
    FIGURES.append(f"cluster of 6 nodes formed and healthy in {time.monotonic() - started:.1f}s")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def key_prefix() -> str:
    """A prefix of its own per test: the cluster is shared, the threads are not."""
    return f"lab11-{uuid.uuid4().hex[:8]}"


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("Redis Cluster figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
