"""Fixtures shared by every test: fakeredis, a real Valkey server and Valkey Cluster, a loopback model server."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import fakeredis
import pytest

from tests.support.cluster import FIGURES, ValkeyCluster
from tests.support.model_server import ModelServer
from tests.support.round_trips import record_socket_writes
from tests.support.valkey import ValkeyProcess


def _runs_on_the_labs_release() -> bool:
    """The lab's Agent Framework (1.0.0b260130) has ChatAgent; 1.x (tests/v1, in .venv-v1) does not."""
    import agent_framework

    return hasattr(agent_framework, "ChatAgent")


# tests/v1 needs Agent Framework 1.x: `python3 dev.py test` runs it in .venv-v1 after the main suite.
collect_ignore = ["v1"] if _runs_on_the_labs_release() else []


@pytest.fixture
async def fake_redis() -> AsyncIterator[fakeredis.FakeAsyncRedis]:
    """An in-process Redis double for fast unit tests (no server, no network)."""
    client = fakeredis.FakeAsyncRedis(decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[ValkeyProcess]:
    """A real valkey-server of its own on a free loopback port, stopped after the test."""
    server = ValkeyProcess(tmp_path / "valkey").start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    """Three primaries and three replicas on loopback, started once per run (tests/cluster and tests/v1
    share it); every process is killed afterwards."""
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
def socket_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, list[str]]]:
    """Every request the async clients write during the test, as (port, command names): one entry, one round trip."""
    return record_socket_writes(monkeypatch)


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """An OpenAI-compatible chat server on loopback that records every request (see tests/support)."""
    with ModelServer() as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("Redis Cluster figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
