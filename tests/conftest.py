"""Fixtures shared by every test: a fakeredis client, a real Valkey server, a loopback model server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import fakeredis
import pytest

from tests.support.model_server import ModelServer
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


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """An OpenAI-compatible chat server on loopback that records every request (see tests/support)."""
    with ModelServer() as server:
        yield server
