"""One Redis for a test, on either engine: fakeredis (the fast layer) or a real Valkey (the server layer).

A store test that is engine-agnostic asks for ``redis_backend`` (tests/conftest.py) and runs on both:
in-process in a few milliseconds, and against the real server that users run. The real server is
shared by the tests of one run (one per pytest-xdist worker) and emptied before each test, so a test
sees only its own keys and starts no process of its own.
"""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio as redis_async

from tests.support.valkey import ValkeyProcess

FAKEREDIS, VALKEY = "fakeredis", "valkey"


class RedisBackend:
    """The engine of one test: a synchronous client to arrange and inspect (``admin``), and async clients
    for the code under test (``client()``), all on the same data; every client is closed at the end."""

    def __init__(self, engine: str, server: ValkeyProcess | None = None) -> None:
        self.engine = engine
        self.server = server
        self._fake_server = fakeredis.FakeServer() if engine == FAKEREDIS else None
        self._clients: list[redis_async.Redis] = []
        self.admin: redis.Redis = (
            fakeredis.FakeRedis(server=self._fake_server, decode_responses=True)
            if self._fake_server is not None
            else self._server.client()
        )

    @property
    def _server(self) -> ValkeyProcess:
        assert self.server is not None, "a fakeredis backend has no server"
        return self.server

    @property
    def url(self) -> str:
        """The real server's URL (only the server layer has one)."""
        return self._server.url

    def client(self) -> Any:
        """A new async client (decoded responses, as the store's own), closed after the test."""
        if self._fake_server is not None:
            client: Any = fakeredis.FakeAsyncRedis(server=self._fake_server, decode_responses=True)
        else:
            client = redis_async.Redis(host="127.0.0.1", port=self._server.port, decode_responses=True)
        self._clients.append(client)
        return client

    def flush(self) -> None:
        self.admin.flushall()

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self.admin.close()


#: For a test that needs the real engine (Lua as Redis runs it, WATCH as Redis does it, MONITOR, ACLs):
#: ``redis_backend`` on the shared real server only. The test's docstring says why.
ON_THE_REAL_ENGINE = pytest.mark.parametrize(
    "redis_backend", [pytest.param(VALKEY, marks=pytest.mark.server)], indirect=True
)
