"""Count round trips to a real server: one socket write of a request is one round trip."""

from __future__ import annotations

import redis.asyncio as redis
from redis.asyncio.connection import Connection


class CountingConnection(Connection):
    """A real connection that counts what it writes to the socket."""

    writes = 0

    async def send_packed_command(self, command, check_health=True):  # type: ignore[no-untyped-def]
        CountingConnection.writes += 1
        return await super().send_packed_command(command, check_health)


def counting_client(port: int) -> redis.Redis:
    pool = redis.ConnectionPool(host="127.0.0.1", port=port, decode_responses=True, connection_class=CountingConnection)
    return redis.Redis(connection_pool=pool)
