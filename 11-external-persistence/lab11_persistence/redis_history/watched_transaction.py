"""An optimistic transaction confirmed by replicas: WATCH and reads, then MULTI/EXEC and WAIT, on one connection.

A rewrite that must look before it writes (``rekey``) watches its keys, reads them, and writes only if
nobody else wrote them meanwhile. redis-py's transaction pipeline does that, but hands its connection
back to the pool at EXEC, and WAIT counts the replicas that hold the writes *of the connection it is sent
on* (``confirmation``), so the confirmation could not follow. Here one connection is held from the
client's pool for the whole transaction, and ``commit`` sends MULTI, the commands, EXEC and the WAIT in
one write, as ``confirmation.run_confirmed`` does for a turn.

Nothing is retried here: a connection lost mid-way is dropped (its WATCH and MULTI state go with it) and
the error raised, for the caller to look again. Framework-free; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lab11_persistence.redis_history.confirmation import ConfirmedReplies, ReplicaConfirmation, confirmed_transaction

__all__ = ["WatchedTransaction"]


class WatchedTransaction:
    """``async with WatchedTransaction(client, confirmation) as transaction``: ``watch``, ``read``, then ``commit``.

    A plain client only (on a cluster, the client of the slot's primary: ``ConfirmedWriter.watched``).
    """

    def __init__(self, client: redis.Redis, confirmation: ReplicaConfirmation) -> None:
        self.client = client
        self.confirmation = confirmation
        self._connection: Any = None
        self._watching = False
        self._in_step = True  # every command sent has had its reply read

    async def __aenter__(self) -> WatchedTransaction:
        self._connection = await self.client.connection_pool.get_connection()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        connection, self._connection = self._connection, None
        try:
            if not self._in_step:
                await connection.disconnect()  # cut off between a command and its reply: its state is unknown
            elif self._watching:
                await self._send_on(connection, "UNWATCH")  # left without EXEC: not for the connection's next user
        except BaseException as failure:  # cancelled too: the connection is not handed on half-way
            await connection.disconnect()
            if not isinstance(failure, (RedisConnectionError, RedisTimeoutError, OSError)):
                raise
        finally:
            await self.client.connection_pool.release(connection)

    async def watch(self, *keys: str) -> None:
        await self._send("WATCH", *keys)
        self._watching = True

    async def read(self, *command: Any) -> Any:
        """One command's reply (as the server sent it, decoded), in its own round trip; an error reply raised."""
        return await self._send(*command)

    async def commit(self, commands: Sequence[Sequence[Any]]) -> ConfirmedReplies:
        """``commands`` as one MULTI/EXEC and then the confirmation's WAIT, in one round trip; WatchError if a
        watched key changed (nothing was written). A command the server refused to queue raises its error."""
        wait = [self.confirmation.wait_command()] if self.confirmation else []
        batch = [("MULTI",), *commands, ("EXEC",), *wait]
        self._in_step = False
        await self._connection.send_packed_command(self._connection.pack_commands(batch))
        self._watching = False  # EXEC unwatches, whatever it answers
        replies: list[Any] = []
        for _ in batch:  # every reply is read, errors included, so the connection stays in step
            try:
                replies.append(await self._connection.read_response())
            except ResponseError as error:
                replies.append(error)
        self._in_step = True
        discarded = WatchError("A watched key changed: the transaction was not run.")
        return confirmed_transaction(replies, len(commands), self.confirmation, discarded)

    async def _send(self, *command: Any) -> Any:
        return await self._send_on(self._connection, *command)

    async def _send_on(self, connection: Any, *command: Any) -> Any:
        self._in_step = False
        await connection.send_command(*command)
        try:
            reply = await connection.read_response()
        except ResponseError:  # an error reply is a reply: still in step
            self._in_step = True
            raise
        self._in_step = True
        return reply
