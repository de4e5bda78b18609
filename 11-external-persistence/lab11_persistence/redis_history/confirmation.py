"""Confirmation by replicas: learning how many replicas hold a turn before calling it saved.

Replication is asynchronous: a primary acknowledges a write once it holds it, and a failover that
promotes a replica which never received it loses it. ``WAIT numreplicas timeout`` makes the primary
report how many replicas hold every write the same connection sent before it; that is the
confirmation here. Two facts decide how it is sent (both checked on Valkey 8.1, see
tests/sentinel/test_replica_confirmation.py):

- WAIT inside MULTI/EXEC confirms nothing: a transaction cannot block, so the server answers at once,
  and counts against the connection's *earlier* writes, not the transaction's (on a fresh connection
  it reported a paused replica as holding the write). redis-py's transaction pipeline puts every
  queued command inside MULTI, so it cannot carry the WAIT.
- A plain pipeline that spells out ``MULTI``, the commands, ``EXEC`` and then ``WAIT`` sends them in one
  write on one connection and reads the replies in one go: the transaction and its confirmation in
  one round trip, the WAIT counting exactly that transaction's offset.

WAITAOF (``on_disk=True``, sent as ``WAITAOF 0 N timeout``) asks for more: the write fsynced to the
append-only file of N replicas (the primary's own disk is its ``appendfsync`` setting's business). It
is opt-in, not the default: a failover is survived by a replica that holds the write in memory (what
WAIT confirms), and on Valkey 8.1 the replica's fsync reached the primary only with its next
once-a-second acknowledgement: WAITAOF with one replica measured 0.3 to 1 s per write, where WAIT adds
only the replica's acknowledgement to the round trip the turn makes anyway. It is for
a deployment that must also survive every node losing power at once; the replicas need
``appendonly yes`` (else it never confirms).

Framework-free; nothing here prints. Any plain primary with replicas will do (a Sentinel-managed one is
opened by ``sentinel.open_sentinel_primary``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ExecAbortError, ResponseError

from lab11_persistence.config import DEFAULT_REPLICA_TIMEOUT_MS

__all__ = [
    "ConfirmedReplies",
    "QueueCommands",
    "ReplicaConfirmation",
    "ReplicaConfirmationError",
    "confirmed_transaction",
    "confirmed_writes",
    "execute_confirmed",
    "replicas_caught_up",
    "run_confirmed",
]

#: Replicas report their offset to the primary once a second: a check without a write of its own waits that long.
REPLICA_ACK_INTERVAL_MS = 1000

#: ``queue(pipe)``: queues commands on a plain (non-transactional) pipeline, as ``pipe.rpush(...)`` does.
QueueCommands = Callable[[Any], None]


class ReplicaConfirmationError(RuntimeError):
    """The transaction ran on the primary, but fewer replicas than asked confirmed it in time.

    Not a failed write: the data is on the primary, and sending it again would store it twice. It is at
    risk only if the primary fails before a replica catches up. ``replies`` are the transaction's own.
    ``deletion``: the transaction deleted a thread, which a failover now would bring back.
    """

    def __init__(
        self,
        confirmed: int,
        required: int,
        replies: Sequence[Any] = (),
        *,
        on_disk: bool = False,
        deletion: bool = False,
    ) -> None:
        self.confirmed = confirmed
        self.required = required
        self.replies = list(replies)
        where = "on disk by" if on_disk else "by"
        done, risk = ("thread is deleted", "come back") if deletion else ("turn is saved", "be lost")
        super().__init__(
            f"The {done} on the primary but confirmed {where} {confirmed} of {required} "
            f"replica{'s' if required != 1 else ''} in time; it would {risk} if the primary failed now."
        )


@dataclass(frozen=True)
class ReplicaConfirmation:
    """How many replicas must hold a write before it counts as saved, and how long to wait for them.

    The default, 0 replicas, is the lab's behaviour: the primary's reply is the acknowledgement and no WAIT
    is sent. ``on_disk`` asks for WAITAOF instead of WAIT (see the module's docstring).
    """

    min_replicas: int = 0
    timeout_ms: int = DEFAULT_REPLICA_TIMEOUT_MS  # 0 is WAIT's "forever": the store and the settings refuse it
    on_disk: bool = False

    def __post_init__(self) -> None:
        if self.min_replicas < 0 or self.timeout_ms < 0:
            raise ValueError("min_replicas and replica_timeout_ms are 0 or more.")

    def __bool__(self) -> bool:
        return self.min_replicas > 0

    def wait_command(self) -> tuple[Any, ...]:
        # WAITAOF numlocal=0: the primary's own disk is its appendfsync setting's business, and numlocal=1
        # would be an error on a primary without an append-only file.
        if self.on_disk:
            return ("WAITAOF", 0, self.min_replicas, self.timeout_ms)
        return ("WAIT", self.min_replicas, self.timeout_ms)

    def replicas_in(self, reply: Any) -> int:
        """How many replicas a WAIT (or WAITAOF) reply counts."""
        if isinstance(reply, Exception):
            raise reply
        return int(reply[1]) if self.on_disk else int(reply)

    def counted(self, results: Sequence[Any], wait_reply: Any) -> ConfirmedReplies:
        """The writes' own ``results`` with what the WAIT sent after them answered (unread for 0 replicas)."""
        if not self:
            return ConfirmedReplies(list(results), replicas=0, required=0)
        replicas = self.replicas_in(wait_reply)
        return ConfirmedReplies(list(results), replicas=replicas, required=self.min_replicas, on_disk=self.on_disk)


@dataclass(frozen=True)
class ConfirmedReplies:
    """A transaction's replies, one per command, and how many replicas confirmed it."""

    replies: list[Any]
    replicas: int
    required: int
    on_disk: bool = False

    @property
    def confirmed(self) -> bool:
        return self.replicas >= self.required

    def check(self, *, deletion: bool = False) -> list[Any]:
        """The replies, or ReplicaConfirmationError if fewer replicas than required confirmed."""
        if not self.confirmed:
            raise ReplicaConfirmationError(
                self.replicas, self.required, self.replies, on_disk=self.on_disk, deletion=deletion
            )
        return self.replies


async def execute_confirmed(
    client: redis.Redis,
    commands: Sequence[Sequence[Any]],
    *,
    min_replicas: int,
    timeout_ms: int,
    on_disk: bool = False,
) -> ConfirmedReplies:
    """Run ``commands`` as one MULTI/EXEC and, on the same connection in the same round trip, WAIT for
    ``min_replicas`` replicas for at most ``timeout_ms`` (WAITAOF with ``on_disk``); see ``run_confirmed``."""
    if min_replicas < 0 or timeout_ms < 0:
        raise ValueError("min_replicas and timeout_ms are 0 or more.")
    confirmation = ReplicaConfirmation(min_replicas, timeout_ms, on_disk)

    def queue(pipe: Any) -> None:
        for command in commands:
            pipe.execute_command(*command)

    return await run_confirmed(client, queue, confirmation)


async def run_confirmed(
    client: redis.Redis, queue: QueueCommands, confirmation: ReplicaConfirmation, *, transaction: bool = True
) -> ConfirmedReplies:
    """The commands ``queue(pipe)`` queues, as one MULTI/EXEC (``transaction``) or a plain pipeline, and then,
    on the same connection in the same round trip, the confirmation's WAIT (none for 0 replicas).

    A reply inside EXEC that is an error (say WRONGTYPE) is returned in ``replies`` as the exception, as
    ``pipe.execute(raise_on_error=False)`` does; a command the server refused to queue raises it, and the
    transaction did not run. Whether to send again after a lost connection is the caller's decision (the
    transaction may have run): wrap the call in ``connection.single_attempt()`` as ``RedisHistory.write_turn``
    does. The client's socket timeout must exceed the confirmation's timeout. A plain client only: on a
    cluster, give the client of the slot's primary (``confirmed_writer.ConfirmedWriter`` does).
    """
    async with client.pipeline(transaction=False) as pipe:
        if transaction:
            # Inside MULTI every command answers QUEUED, which redis-py's per-command reply parsing would choke on
            # (redis 7.1's RPUSH: int("QUEUED")); EXEC's replies are not parsed either way. This pipeline's alone.
            pipe.response_callbacks = {}
            pipe.execute_command("MULTI")
        queue(pipe)
        queued = len(pipe) - (1 if transaction else 0)
        if transaction:
            pipe.execute_command("EXEC")
        if confirmation:
            pipe.execute_command(*confirmation.wait_command())
        replies = await pipe.execute(raise_on_error=False)
    if transaction:
        discarded = ResponseError("EXEC returned nothing: the transaction was discarded")
        return confirmed_transaction(replies, queued, confirmation, discarded)
    return confirmation.counted(replies[:queued], replies[-1] if replies else None)


def confirmed_transaction(
    replies: Sequence[Any], queued: int, confirmation: ReplicaConfirmation, discarded: Exception
) -> ConfirmedReplies:
    """The replies to MULTI, ``queued`` commands, EXEC and the confirmation's WAIT (none for 0 replicas), as the
    transaction's own replies and the replicas that confirmed them. A command the server refused to queue raises
    its error (nothing ran); an EXEC that answers nothing (a watched key changed) raises ``discarded``."""
    executed = replies[1 + queued]
    if isinstance(executed, ExecAbortError):
        raise next((reply for reply in replies[1 : 1 + queued] if isinstance(reply, Exception)), executed)
    if isinstance(executed, Exception):
        raise executed
    if executed is None:
        raise discarded
    return confirmation.counted(executed, replies[-1])


async def confirmed_writes(
    primary_for: Callable[[str], Awaitable[redis.Redis]],
    writes: Sequence[tuple[str, QueueCommands]],
    confirmation: ReplicaConfirmation,
) -> list[tuple[Any, bool]]:
    """Writes that need not be one transaction (an import's threads, a migration's), each ``(key, queue)`` with
    ``queue(pipe)`` queuing one command: pipelined per primary (``primary_for(key)``: the client whose
    connection serves the key), the confirmation's WAIT last on each, so that it counts exactly those writes.
    Each write's reply and whether its primary's replicas confirmed it; a reply that is an error is raised.
    """
    groups: dict[int, tuple[redis.Redis, list[int]]] = {}
    for position, (key, _queue) in enumerate(writes):
        client = await primary_for(key)
        groups.setdefault(id(client), (client, []))[1].append(position)
    results: list[tuple[Any, bool]] = [(None, False)] * len(writes)
    for client, positions in groups.values():

        def queue_all(pipe: Any, positions: list[int] = positions) -> None:
            for position in positions:
                writes[position][1](pipe)

        done = await run_confirmed(client, queue_all, confirmation, transaction=False)
        for position, reply in zip(positions, done.replies, strict=True):
            if isinstance(reply, Exception):
                raise reply
            results[position] = (reply, done.confirmed)
    return results


async def replicas_caught_up(client: redis.Redis, confirmation: ReplicaConfirmation) -> int:
    """How many replicas of ``client``'s primary hold everything it had accepted when asked: ``ROLE`` gives the
    primary's replication offset, then the replicas' acknowledged offsets are read until ``min_replicas`` of
    them reach it, or the time runs out.

    WAIT needs a write of the connection's own; this confirms writes made earlier on other connections (a rekey
    run again, finding the threads an unconfirmed run rewrote already done). It waits up to the confirmation's
    timeout, and at least ``REPLICA_ACK_INTERVAL_MS``: an idle replica reports only that often.
    """
    target = _role_offsets(await client.execute_command("ROLE"))[0]
    deadline = time.monotonic() + max(confirmation.timeout_ms, REPLICA_ACK_INTERVAL_MS) / 1000
    while True:
        replicas = _role_offsets(await client.execute_command("ROLE"))[1]
        caught_up = sum(1 for offset in replicas if offset >= target)
        if caught_up >= confirmation.min_replicas or time.monotonic() >= deadline:
            return caught_up
        await asyncio.sleep(0.05)


def _role_offsets(role: Any) -> tuple[int, list[int]]:
    """A primary's ``ROLE`` reply as its offset and each replica's acknowledged one (a replica node: ValueError)."""
    if not isinstance(role, (list, tuple)) or len(role) < 3 or str(role[0]) != "master":
        raise ValueError("Not a primary: ROLE did not answer 'master'.")
    return int(role[1]), [int(replica[2]) for replica in role[2]]
