"""Where a history's confirmed writes go: the turn's MULTI/EXEC and its WAIT, an import's or a migration's
writes and theirs, a rekey's watched transaction and its, each on the connection that wrote, to the primary
that serves the key.

On a single server or a Sentinel-managed primary that is the history's own client. On a cluster it is a plain
client of the slot's primary (``slot_primary``), because a WAIT counts the writes of the connection it is sent
on; a MOVED reply or a lost primary there makes the topology be read again (MOVED raised as TRYAGAIN, which
``RedisHistory.call`` retries). Framework-free; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import AskError, MovedError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lab11_persistence.redis_history.confirmation import (
    ConfirmedReplies,
    QueueCommands,
    ReplicaConfirmation,
    confirmed_writes,
    replicas_caught_up,
    run_confirmed,
)
from lab11_persistence.redis_history.slot_primary import SlotPrimaries
from lab11_persistence.redis_history.watched_transaction import WatchedTransaction

__all__ = ["ConfirmedWriter"]

T = TypeVar("T")


class ConfirmedWriter:
    """A history's writes confirmed by ``confirmation.min_replicas`` replicas (``transaction`` and ``writes`` are
    used only when that is above 0; ``watched`` always, its WAIT only then)."""

    def __init__(self, client: Any, confirmation: ReplicaConfirmation) -> None:
        self.client = client
        self.confirmation = confirmation
        self._slot_primaries = SlotPrimaries(client) if isinstance(client, RedisCluster) else None

    @classmethod
    def of(
        cls,
        client: Any,
        confirmation: ReplicaConfirmation | None = None,
        min_replicas: int = 0,
        replica_timeout_ms: int | None = None,
    ) -> ConfirmedWriter:
        """From a ``confirmation``, or the two numbers that give one (``replica_timeout_ms`` None: the default)."""
        if confirmation is None:
            timeout = {} if replica_timeout_ms is None else {"timeout_ms": replica_timeout_ms}
            confirmation = ReplicaConfirmation(min_replicas, **timeout)
        elif min_replicas or replica_timeout_ms is not None:
            raise TypeError("Give a confirmation, or min_replicas and replica_timeout_ms, not both.")
        if confirmation and not confirmation.timeout_ms:
            raise ValueError("replica_timeout_ms must be more than 0 with min_replicas (WAIT 0 waits forever).")
        return cls(client, confirmation)

    async def transaction(self, key: str, queue: QueueCommands) -> ConfirmedReplies:
        """What ``queue`` queues as one MULTI/EXEC, then the WAIT, in one round trip to the primary of ``key``."""

        async def on_the_primary() -> ConfirmedReplies:
            return await run_confirmed(await self._primary_for(key), queue, self.confirmation)

        return await self._on_primaries(on_the_primary)

    async def watched(self, key: str, work: Callable[[WatchedTransaction], Awaitable[T]]) -> T:
        """``work(transaction)`` on one connection held to the primary of ``key``: WATCH, reads, then ``commit``'s
        MULTI/EXEC and WAIT (none for 0 replicas) in one round trip. Run it under ``RedisHistory.call``, and look
        again on WatchError."""

        async def on_the_primary() -> T:
            async with WatchedTransaction(await self._primary_for(key), self.confirmation) as transaction:
                return await work(transaction)

        return await self._on_primaries(on_the_primary)

    async def caught_up(self, keys: Sequence[str]) -> dict[str, int]:
        """For each key, how many replicas of its primary hold everything that primary had accepted when asked
        (``confirmation.replicas_caught_up``; each primary asked once)."""
        asked: dict[int, int] = {}
        found = {}
        for key in keys:
            primary = await self._primary_for(key)
            if id(primary) not in asked:
                asked[id(primary)] = await replicas_caught_up(primary, self.confirmation)
            found[key] = asked[id(primary)]
        return found

    async def writes(self, writes: Sequence[tuple[str, QueueCommands]]) -> list[tuple[Any, bool]]:
        """Writes other than a turn's (an import's, a migration's): ``(key, queue)`` each, ``queue(pipe)`` queuing one
        command; pipelined per primary, that primary's WAIT after them on the same connection. Each write's reply,
        and whether enough replicas confirmed it. Run it under ``RedisHistory.call``."""
        return await self._on_primaries(lambda: confirmed_writes(self._primary_for, writes, self.confirmation))

    async def _primary_for(self, key: str) -> Any:
        return self.client if self._slot_primaries is None else await self._slot_primaries.client_for(key)

    async def _on_primaries(self, work: Callable[[], Awaitable[T]]) -> T:
        try:
            return await work()
        except (MovedError, AskError) as error:
            if self._slot_primaries is None:
                raise
            await self._slot_primaries.forget()
            raise TryAgainError(str(error)) from None
        except (RedisConnectionError, RedisTimeoutError, OSError):
            if self._slot_primaries is not None:
                await self._slot_primaries.forget()
            raise

    async def aclose(self) -> None:
        if self._slot_primaries is not None:
            await self._slot_primaries.aclose()
