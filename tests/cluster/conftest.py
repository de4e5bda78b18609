"""A real six-node Valkey Cluster, started once for the whole cluster suite."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.cluster import ValkeyCluster

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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("Redis Cluster figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
