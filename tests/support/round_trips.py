"""Count round trips to a real server and see what it ran.

One socket write of a request is one round trip (``CountingConnection``, ``record_socket_writes``);
MONITOR shows the commands the server itself ran, in order, with the connection that sent each
(``ServerMonitor``).
"""

from __future__ import annotations

import pytest
import redis
import redis.asyncio as redis_async
from redis.asyncio.connection import AbstractConnection, Connection

# Every wait on the MONITOR connection is bounded by this socket timeout.
MONITOR_TIMEOUT_SECONDS = 5.0
MONITOR_MAX_COMMANDS = 1000
MONITOR_END = "lab11-monitor-end"


class CountingConnection(Connection):
    """A real connection that counts what it writes to the socket."""

    writes = 0

    async def send_packed_command(self, command, check_health=True):  # type: ignore[no-untyped-def]
        CountingConnection.writes += 1
        return await super().send_packed_command(command, check_health)


def counting_client(port: int) -> redis_async.Redis:
    pool = redis_async.ConnectionPool(
        host="127.0.0.1", port=port, decode_responses=True, connection_class=CountingConnection
    )
    return redis_async.Redis(connection_pool=pool)


def resp_commands(chunks: list[bytes] | bytes) -> list[str]:
    """Command names in a packed RESP request (what one socket write carries)."""
    data = b"".join(chunks) if isinstance(chunks, list) else chunks
    lines = data.split(b"\r\n")
    names: list[str] = []
    position = 0
    while position < len(lines) and lines[position].startswith(b"*"):
        arguments = int(lines[position][1:])
        names.append(lines[position + 2].decode().upper())  # *N, $len, NAME, ...
        position += 1 + 2 * arguments
    return names


def record_socket_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, list[str]]]:
    """From now on, every request any async client writes, as (port, command names): one entry, one round trip."""
    writes: list[tuple[int, list[str]]] = []
    original = AbstractConnection.send_packed_command

    async def recording(self: AbstractConnection, command: list[bytes] | bytes, check_health: bool = True) -> None:
        commands = resp_commands(command)
        # A new connection's handshake is not a request of the store's; on a cluster it happens when the
        # thread and the index share a node and the two concurrent writes need two connections.
        if commands[:1] not in (["HELLO"], ["CLIENT"]):
            writes.append((int(getattr(self, "port", 0)), commands))
        await original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", recording)
    return writes


class ServerMonitor:
    """MONITOR on one server: ``commands()`` is what it ran since the last call, as (client port, NAME)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._client = redis.Redis(
            host="127.0.0.1", port=port, decode_responses=True, socket_timeout=MONITOR_TIMEOUT_SECONDS
        )
        self._monitor = self._client.monitor()

    def __enter__(self) -> ServerMonitor:
        self._monitor.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._monitor.__exit__(*exc_info)
        self._client.close()

    def commands(self) -> list[tuple[str, str]]:
        """Everything up to a marker sent now from a connection of its own (bounded in count and time)."""
        with redis.Redis(host="127.0.0.1", port=self.port) as marker:
            marker.echo(MONITOR_END)
        seen: list[tuple[str, str]] = []
        for _ in range(MONITOR_MAX_COMMANDS):
            entry = self._monitor.next_command()
            if entry["command"] == f"ECHO {MONITOR_END}":  # the marker's own connection is left out
                return [(client, name) for client, name in seen if client != entry["client_port"]]
            seen.append((entry["client_port"], entry["command"].split(" ", 1)[0].upper()))
        raise AssertionError(f"no end marker within {MONITOR_MAX_COMMANDS} commands: {seen[-10:]}")
