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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ExecAbortError, ResponseError

__all__ = ["ConfirmedReplies", "ReplicaConfirmationError", "execute_confirmed"]


class ReplicaConfirmationError(RuntimeError):
    """The transaction ran on the primary, but fewer replicas than asked confirmed it in time.

    Not a failed write: the data is on the primary, and sending it again would store it twice. It is at
    risk only if the primary fails before a replica catches up. ``replies`` are the transaction's own.
    """

    def __init__(self, confirmed: int, required: int, replies: Sequence[Any] = (), *, on_disk: bool = False) -> None:
        self.confirmed = confirmed
        self.required = required
        self.replies = list(replies)
        where = "on disk by" if on_disk else "by"
        super().__init__(
            f"The turn is saved on the primary but confirmed {where} {confirmed} of {required} "
            f"replica{'s' if required != 1 else ''} in time; it would be lost if the primary failed now."
        )


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

    def check(self) -> list[Any]:
        """The replies, or ReplicaConfirmationError if fewer replicas than required confirmed."""
        if not self.confirmed:
            raise ReplicaConfirmationError(self.replicas, self.required, self.replies, on_disk=self.on_disk)
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
    ``min_replicas`` replicas for at most ``timeout_ms`` (WAITAOF with ``on_disk``).

    ``min_replicas=0`` sends no WAIT: the plain transaction. A reply inside EXEC that is an error (say
    WRONGTYPE) is returned in ``replies`` as the exception, as ``pipe.execute(raise_on_error=False)`` does;
    a command the server refused to queue raises it, and the transaction did not run. Whether to send
    again after a lost connection is the caller's decision (the transaction may have run): wrap the call
    in ``connection.single_attempt()`` as ``RedisHistory.append`` does. The client's socket timeout must
    exceed ``timeout_ms``. A plain client only: on a cluster, give the client of the slot's primary.
    """
    if min_replicas < 0 or timeout_ms < 0:
        raise ValueError("min_replicas and timeout_ms are 0 or more.")
    async with client.pipeline(transaction=False) as pipe:
        pipe.execute_command("MULTI")
        for command in commands:
            pipe.execute_command(*command)
        pipe.execute_command("EXEC")
        if min_replicas:
            # WAITAOF numlocal=0: the primary's own disk is its appendfsync setting's business, and numlocal=1
            # would be an error on a primary without an append-only file.
            wait = ("WAITAOF", 0, min_replicas, timeout_ms) if on_disk else ("WAIT", min_replicas, timeout_ms)
            pipe.execute_command(*wait)
        replies = await pipe.execute(raise_on_error=False)
    queued, executed = replies[1 : 1 + len(commands)], replies[1 + len(commands)]
    if isinstance(executed, ExecAbortError):
        raise next((reply for reply in queued if isinstance(reply, Exception)), executed)
    if isinstance(executed, Exception):
        raise executed
    if executed is None:
        raise ResponseError("EXEC returned nothing: the transaction was discarded")
    if not min_replicas:
        return ConfirmedReplies(list(executed), replicas=0, required=0)
    waited = replies[-1]
    if isinstance(waited, Exception):
        raise waited
    replicas = int(waited[1]) if on_disk else int(waited)
    return ConfirmedReplies(list(executed), replicas=replicas, required=min_replicas, on_disk=on_disk)
