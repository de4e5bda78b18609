"""The Sentinel layer's fixtures: one deployment per test module, made whole again before each test.

Tests that use it carry the layer marker ``sentinel`` (registered by whoever owns the markers).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as redis

from lab11_persistence.redis_history.sentinel import open_sentinel_primary
from tests.support.sentinel import SentinelDeployment, client_options


@pytest.fixture(scope="module")
def sentinel_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelDeployment]:
    """One primary, one replica, three sentinels on loopback for the module; every process killed afterwards."""
    deployment = SentinelDeployment(tmp_path_factory.mktemp("valkey-sentinel")).start()
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture
def sentinel(sentinel_deployment: SentinelDeployment) -> SentinelDeployment:
    """The module's deployment, every node running and in sync again (a test before may have cut or killed one)."""
    sentinel_deployment.restore()
    return sentinel_deployment


@pytest.fixture
async def primary(sentinel: SentinelDeployment) -> AsyncIterator[redis.Redis]:
    """A client for the service's primary, found through the sentinels' URL, with bounded, backed-off retries
    (as the lab's connections have): a command on a connection to a dead primary is sent again on a new one."""
    client = open_sentinel_primary(sentinel.url(), **client_options())
    yield client
    await client.aclose()


@pytest.fixture
def thread_key() -> str:
    return f"lab11-sentinel:{uuid.uuid4().hex[:8]}"
