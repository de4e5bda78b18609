"""Chat threads in Redis lists: the Redis work of the lab's store, for any Agent Framework release.

Nothing here imports the Agent Framework. A thread's messages are plain dicts on the way in and out
(``message_json`` reads every shape a release ever wrote); the framework adapters,
``redis_chat_message_store`` (the lab's release) and ``v1.history_provider`` (1.x), only turn
those dicts into their release's message class.

Layout (the same as Microsoft's ``agent_framework_redis`` store and provider, so either can read the
other's threads). A thread key is the lab's ``{key_prefix}:{thread_id}``, or Microsoft's scoped
``{key_prefix}|v2|{tenant}|{application}|{agent}|{source}|{session}`` (``keys.KeyLayout``):

- ``<thread key>``: a list, oldest message first, one compact JSON document per entry (the lab's JSON
  in the lab's layout, 1.x JSON in the scoped one: each layout in the shape its other readers read);
- the recency index, a sorted set of thread ids scored by the time of their last write (``recency``);
- ``{<thread key>}:<name>``: a thread's side keys, in its own hash slot (``KeyLayout.side_key``), such
  as ``:last-write``, the token of the thread's latest write, kept for a few minutes so a write whose
  reply was lost can tell whether it went through, and ``:summary``, the durable summary of what fell
  out of a model's window (``window``): one transaction covers it and the thread on a cluster.

This module: ways to build a history (``RedisHistory.over``, ``connect``, ``open``), the failure
policy, and reading and writing threads. How to connect, and redis-py's bounded retry of a dropped
connection, are ``connection``'s; the recency index and listing are ``recency``'s; exporting and
importing whole threads is ``archive``'s, over this module's public methods.
What a failure means for a call is decided in one place, ``RedisHistory.call``: a longer wait
through a cluster failover, never a retry of a refused password, a write resent only after checking
it did not go through, and every failure turned into one password-free ``RedisUnavailableError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import AuthenticationError, ResponseError, WatchError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lab11_persistence.redis_history.certificates import untrusted_certificate
from lab11_persistence.redis_history.codec import BrokenSealError, EntryCodec
from lab11_persistence.redis_history.confirmation import ConfirmedReplies, QueueCommands, ReplicaConfirmation
from lab11_persistence.redis_history.confirmed_writer import ConfirmedWriter
from lab11_persistence.redis_history.connection import (
    CLUSTER_RETRYABLE_ERRORS,
    RETRIES,
    RETRY_BACKOFF_BASE,
    RedisClient,
    RedisConnection,
    RedisEndpoint,
    RedisPasswordRefusedError,
    RedisUnavailableError,
    pipeline_replies,
    single_attempt,
)
from lab11_persistence.redis_history.keys import KeyLayout
from lab11_persistence.redis_history.message_json import decode_entry
from lab11_persistence.redis_history.recency import RecencyIndex, SavedThread
from lab11_persistence.redis_history.sealing import Keyring

__all__ = ["RedisHistory", "SavedThread"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Long enough to outlast every retry of a write; short enough to leave nothing behind.
WRITE_TOKEN_TTL_SECONDS = 600

# On a cluster, how long a call waits for a replica to take over from a failed primary (the engine
# needs about cluster-node-timeout plus an election).
CLUSTER_FAILOVER_WAIT_SECONDS = 30.0

#: ``push(pipe, key)``: queues a turn's own commands on the transaction, its RPUSH first (see ``write_turn``).
TurnCommands = Callable[[Any, str], None]


class RedisHistory:
    """Every thread under one key prefix: append, read, count, clear, list.

    A turn is one MULTI/EXEC round trip (``write_turn``: the caller's RPUSH and LTRIM, then EXPIRE, the
    write token and the recency index), so two writers cannot interleave between the push and the trim.
    A history opened from an endpoint owns its client and closes it; one given a client borrows it.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        layout: KeyLayout | None = None,
        max_messages: int | None = None,
        ttl_seconds: int | None = None,
        endpoint: RedisEndpoint | None = None,
        owns_client: bool = False,
        encryption_keys: str | Sequence[str] | Keyring | None = None,
        confirmation: ReplicaConfirmation | None = None,
        min_replicas: int = 0,
        replica_timeout_ms: int | None = None,
        **layout_arguments: Any,
    ) -> None:
        """``layout``, or the arguments that give one: ``key_prefix`` and Microsoft's scope arguments, as
        ``KeyLayout.resolve`` takes them (with none, the lab's layout ``chat_messages:{thread_id}``).
        ``encryption_keys``: ``LAB11_ENCRYPTION_KEYS`` (``sealing``), applied to every entry by ``codec``.
        ``confirmation``: how many replicas must hold a turn before ``write_turn`` returns (none by default), or
        the two numbers that give one, ``min_replicas`` and ``replica_timeout_ms`` (None: the default, 1 s)."""
        self.confirmed = ConfirmedWriter.of(client, confirmation, min_replicas, replica_timeout_ms)
        self.confirmation = self.confirmed.confirmation
        if max_messages is not None and max_messages <= 0:
            raise ValueError("max_messages must be a positive number or None.")
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be a positive number of seconds or None.")
        if layout is not None and layout_arguments:
            raise TypeError("Give a layout, or the arguments of one, not both.")
        self.layout = layout or KeyLayout.resolve(**layout_arguments)
        if not self.layout.key_prefix:
            raise ValueError("key_prefix must not be empty.")
        self.client = client
        self.key_prefix = self.layout.key_prefix
        self.max_messages = max_messages
        self.ttl_seconds = ttl_seconds
        self.endpoint = endpoint
        self.cluster = isinstance(client, RedisCluster)
        self.codec = EntryCodec(Keyring.parse(encryption_keys))
        self.index = RecencyIndex(client, self.layout, self.codec)
        self.index_key = self.index.key
        self._owns_client = owns_client
        # A cluster or a Sentinel-managed primary can fail over: a call waits for the new primary.
        self.fails_over = self.cluster or (endpoint is not None and endpoint.sentinel)
        # Entries already reported as unreadable: the agent reads the whole thread on every turn,
        # and one warning per bad entry is enough.
        self._reported_entries: set[int] = set()

    @classmethod
    def open(cls, endpoint: RedisEndpoint, **settings: Any) -> RedisHistory:
        return cls(endpoint.open(), endpoint=endpoint, owns_client=True, **settings)

    @classmethod
    def over(cls, connection: RedisConnection, **settings: Any) -> RedisHistory:
        """A history over ``connection`` (checked: exactly one source); ``settings`` as the constructor takes them."""
        connection.check()
        if connection.redis_client is not None:
            return cls(connection.redis_client, **settings)
        return cls.open(connection.endpoint(), **settings)

    @classmethod
    def connect(cls, redis_url: str | None = None, **arguments: Any) -> RedisHistory:
        """By keyword, as Microsoft's store takes them: the connection's arguments (``RedisConnection``), the
        layout's and the limits."""
        connection, settings = RedisConnection.taken_from({"redis_url": redis_url, **arguments})
        return cls.over(connection, **settings)

    def sibling(self) -> RedisHistory:
        """The same settings on a client of its own (closing one leaves the other working) when this
        one owns its client; otherwise the same borrowed client."""
        settings = {**self.settings, "encryption_keys": self.codec.keyring, "confirmation": self.confirmation}
        if self._owns_client and self.endpoint is not None:
            return RedisHistory.open(self.endpoint, **settings)
        return RedisHistory(self.client, endpoint=self.endpoint, **settings)

    @property
    def settings(self) -> dict[str, Any]:
        """What this history was built with besides its client: prefix, scope and limits."""
        return {
            "key_prefix": self.key_prefix,
            "max_messages": self.max_messages,
            "ttl_seconds": self.ttl_seconds,
            **self.layout.scope,
        }

    def with_settings(self, **settings: Any) -> RedisHistory:
        """The same client, borrowed (this history still owns it), under other settings: another layout
        of the same server, e.g. the source and the target of a migration."""
        carried = {"encryption_keys": self.codec.keyring, "confirmation": self.confirmation}
        return RedisHistory(self.client, endpoint=self.endpoint, **{**carried, **settings})

    def reconfigured(self, **settings: Any) -> RedisHistory:
        """The same client (and its ownership) under another prefix or limits; this one is not to be used again."""
        settings = {"encryption_keys": self.codec.keyring, "confirmation": self.confirmation, **settings}
        history = RedisHistory(self.client, endpoint=self.endpoint, owns_client=self._owns_client, **settings)
        self._owns_client = False
        return history

    @property
    def location(self) -> str:
        """Where the data lives, without credentials."""
        if self.endpoint is not None:
            return self.endpoint.location
        pool_kwargs = getattr(getattr(self.client, "connection_pool", None), "connection_kwargs", {})
        return f"{pool_kwargs.get('host', 'redis')}:{pool_kwargs.get('port', '?')}"

    def key(self, thread_id: str) -> str:
        return self.layout.key(thread_id)

    def sealed(self, thread_id: str, entries: Sequence[str]) -> list[str]:
        """``entries`` as the thread stores them: sealed under the first key when keys are set (``codec``)."""
        return self.codec.seal(entries, self.key(thread_id))

    def opened(self, thread_id: str, entry: str) -> str:
        """A stored entry of the thread as written (``codec.open``: a missing key raises, a broken seal too)."""
        return self.codec.open(entry, self.key(thread_id))

    def state_of(self, thread_id: str) -> dict[str, Any]:
        """What it takes to reconnect to a thread (the lab's ``RedisStoreState``): never a credential."""
        return {
            "thread_id": thread_id,
            "key_prefix": self.key_prefix,
            "max_messages": self.max_messages,
            "ttl_seconds": self.ttl_seconds,
            "redis_url": self.endpoint.public_url if self.endpoint is not None else None,
            "cluster": self.cluster,
            **self.layout.scope,
        }

    def side_key(self, thread_id: str, name: str) -> str:
        return self.layout.side_key(thread_id, name)

    def write_token_key(self, thread_id: str) -> str:
        return self.layout.write_token_key(thread_id)

    def summary_key(self, thread_id: str) -> str:
        return self.layout.summary_key(thread_id)

    def thread_keys(self, thread_id: str) -> list[str]:
        return self.layout.thread_keys(thread_id)

    async def aclose(self) -> None:
        await self.confirmed.aclose()
        if self._owns_client:
            await self.client.aclose()

    # -- the failure policy ------------------------------------------------------------------

    async def call(self, operation: Callable[[], Awaitable[T]], *, tries_of_our_own: int = 0) -> T:
        """Run ``operation`` against Redis, through a failover, with failures as one clear error.

        Public so that other work over these threads (``archive``, ``migration``, ``retention``) fails the
        same way a turn does. On a single server redis-py's own retries are enough, except for what runs with them off
        (``tries_of_our_own`` more tries). On a cluster, or under Sentinel, redis-py gives up sooner than a new
        primary can be elected, so this waits up to CLUSTER_FAILOVER_WAIT_SECONDS. A refused password
        is never retried, nor waited out is a TLS certificate nobody trusts (no failover changes it).
        """
        retryable = CLUSTER_RETRYABLE_ERRORS if self.cluster else (RedisConnectionError, RedisTimeoutError)
        started = time.monotonic()
        delay = 0.1 if self.fails_over else RETRY_BACKOFF_BASE
        failures = 0
        while True:
            try:
                result = await operation()
            except AuthenticationError:
                if self.endpoint is not None and self.endpoint.credential_provider is not None:
                    hint = "the signed-in identity has no access: check the cache's data access policy"
                elif self.endpoint is not None and self.endpoint.has_password:
                    hint = "wrong password in REDIS_URL?"
                else:
                    hint = "it needs a password: redis://:PASSWORD@host:port"
                raise RedisPasswordRefusedError(f"Redis at {self.location} refused the connection ({hint}).") from None
            except (*retryable, OSError) as error:
                failures += 1
                if self.fails_over:
                    out_of_time = time.monotonic() - started + delay > CLUSTER_FAILOVER_WAIT_SECONDS
                else:
                    out_of_time = failures > tries_of_our_own
                if out_of_time or not isinstance(error, retryable) or untrusted_certificate(error):
                    reason = error.__class__.__name__
                    if self.endpoint is not None:
                        reason = self.endpoint.redact(str(error)) or reason
                    raise RedisUnavailableError(f"Cannot reach Redis at {self.location}: {reason}") from None
                logger.debug("Redis unavailable (%s); retrying in %.1fs", error.__class__.__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if failures:  # say how long it waited, for whoever watches failovers
                logger.warning("Redis answered at %s after waiting %.2fs", self.location, time.monotonic() - started)
            return result

    async def ping(self) -> None:
        await self.call(self.client.ping)

    #: A pipeline's replies, each command's own error among them; a connection's or cluster's raised.
    replies = staticmethod(pipeline_replies)

    # -- one thread --------------------------------------------------------------------------

    async def append(
        self,
        thread_id: str,
        entries: Sequence[str],
        *,
        summarized: bool = False,
        on_saved: Callable[[int | None], None] | None = None,
    ) -> int | None:
        """RPUSH ``entries`` and LTRIM to ``max_messages``: one turn's transaction (see ``write_turn``).

        ``summarized``: what falls out of a model's window leaves the list through its summary
        (``window``), so the trim is left to the transaction that summarizes. Returns the thread's length
        after the push (None when there was nothing to push, or only a resend's check saw it through).
        """
        if not entries:
            return None
        entries = self.sealed(thread_id, entries)

        def push_and_trim(pipe: Any, key: str) -> None:
            pipe.rpush(key, *entries)
            if self.max_messages and not summarized:
                pipe.ltrim(key, -self.max_messages, -1)

        return await self.write_turn(thread_id, push_and_trim, summarized=summarized, on_saved=on_saved)

    async def write_turn(
        self,
        thread_id: str,
        push: TurnCommands,
        *,
        summarized: bool = False,
        on_saved: Callable[[int | None], None] | None = None,
    ) -> int | None:
        """One turn's MULTI/EXEC, in one round trip, saved exactly once.

        ``push(pipe, key)`` queues the turn's own commands, its RPUSH first (the lab's RPUSH and LTRIM);
        this adds the thread's expiry (and, ``summarized``, its summary's), the write token and the
        recency index. Returns the RPUSH's reply, the thread's length (None when only a resend's check
        saw the write through).

        redis-py would resend a transaction by itself when the connection drops, and if the server
        had already run it (only the reply was lost) the turn would be saved twice. So the
        transaction also stores a fresh token, redis-py's own retry is off for it, and before each
        resend the token tells whether the earlier attempt was applied. On a cluster the index lives
        in another slot, so it is its own command, sent alongside.

        With ``confirmation`` (``min_replicas`` > 0) the WAIT follows the EXEC in the same round trip, on the
        same connection (``confirmed_writer``); fewer replicas in time raise ReplicaConfirmationError once
        the turn is saved: it is on the primary, and it is never sent again. ``on_saved(length)`` runs once the
        turn is on the primary, confirmed or not (a window's fold, which need not wait for the replicas).
        """
        key, token_key, token = self.key(thread_id), self.write_token_key(thread_id), uuid.uuid4().hex
        sent = False
        length: int | None = None
        confirmed: ConfirmedReplies | None = None

        def queue_turn(pipe: Any) -> None:
            push(pipe, key)
            if self.ttl_seconds:
                pipe.expire(key, self.ttl_seconds)
                if summarized:
                    pipe.expire(self.summary_key(thread_id), self.ttl_seconds)
            pipe.set(token_key, token, ex=WRITE_TOKEN_TTL_SECONDS)
            if not self.cluster:
                pipe.zadd(self.index_key, {thread_id: time.time()})

        async def send_once() -> None:
            nonlocal sent, length, confirmed
            if sent and await self.client.get(token_key) == token:  # applied; only its reply was lost
                if self.confirmation:  # a confirmed write after it (the token again) vouches for it too
                    confirmed = await self.confirmed.transaction(
                        key, lambda pipe: pipe.set(token_key, token, xx=True, keepttl=True)
                    )
                return
            sent = True
            if self.confirmation:
                confirmed = await self.confirmed.transaction(key, queue_turn)
                replies = confirmed.replies
            else:
                pipe = await self.transaction()
                queue_turn(pipe)
                replies = await pipe.execute(raise_on_error=False)
            turn_replies, index_replies = (replies, []) if self.cluster else (replies[:-1], replies[-1:])
            for reply in turn_replies:  # the turn itself failed (e.g. the key is not a list)
                if isinstance(reply, Exception):
                    raise reply
            length = int(turn_replies[0])  # RPUSH's reply
            for reply in index_replies:  # the turn is saved; only the index is unusable
                if isinstance(reply, Exception):
                    self.index.warn_unusable(reply)

        async def attempt() -> None:
            with single_attempt():  # the retries are call()'s, not redis-py's too
                await send_once()

        write = self.call(attempt, tries_of_our_own=RETRIES)
        if self.cluster:
            await asyncio.gather(write, self.call(lambda: self.index.touch(thread_id)))
        else:
            await write
        if on_saved is not None:
            on_saved(length)
        if confirmed is not None:  # saved on the primary either way: never sent again, reported instead
            confirmed.check()
        return length

    async def append_if_empty(self, thread_id: str, entries: Sequence[str]) -> bool:
        """Seed a thread with ``entries`` unless it already holds messages; True if this call did.

        WATCH makes it one decision even when several stores seed the same thread at once: whoever
        writes second sees its transaction refused, looks again, and finds the thread no longer empty.
        """
        if not entries:
            return False
        key = self.key(thread_id)
        entries = self.sealed(thread_id, entries)

        async def seed() -> bool:
            async with self.client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        if await pipe.llen(key):
                            return False
                        pipe.multi()
                        pipe.rpush(key, *entries)
                        if self.max_messages:
                            pipe.ltrim(key, -self.max_messages, -1)
                        await pipe.execute()
                        return True
                    except WatchError:
                        continue

        seeded = await self.call(seed)
        if seeded:
            await self.call(lambda: self.index.touch(thread_id))
        return seeded

    async def write_each(self, writes: Sequence[tuple[str, QueueCommands]]) -> list[tuple[Any, bool]]:
        """Writes that need not be one transaction (an import's threads, a migration's, a prune's), each ``(key,
        queue)`` with ``queue(pipe)`` queuing one command, pipelined: each reply (an error reply raised), and whether
        ``confirmation``'s replicas hold it (``ConfirmedWriter.writes``, a WAIT per primary; always so without)."""
        if self.confirmation:
            return await self.confirmed.writes(writes)
        pipe = self.client.pipeline(transaction=False)
        for _key, queue in writes:
            queue(pipe)
        return [(reply, True) for reply in await pipe.execute()]

    async def entries_and_summaries(self, thread_ids: Sequence[str]) -> list[tuple[Any, Any]]:
        """Each thread's stored entries and summary record as stored, in one pipeline: ``(entries, summary)``
        per thread, in order, a command's own error (a key that is not a list) in its place."""

        async def read() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for thread_id in thread_ids:
                pipe.lrange(self.key(thread_id), 0, -1)
                pipe.get(self.summary_key(thread_id))
            return await self.replies(pipe)

        replies = await self.call(read)
        return [(replies[position], replies[position + 1]) for position in range(0, len(replies), 2)]

    async def entries(self, thread_id: str) -> list[str]:
        """The thread's stored entries, oldest first, as they are (a key that is not a list holds none)."""
        return await self.read_list(thread_id, lambda client, key: client.lrange(key, 0, -1))

    async def read_list(self, thread_id: str, command: Callable[[RedisClient, str], Awaitable[list[str]]]) -> list[str]:
        """``command(client, key)`` on the thread's list (an LRANGE), under the failure policy; a key that is
        not a list holds no entries (one warning, and left as it is)."""
        key = self.key(thread_id)
        try:
            return await self.call(lambda: command(self.client, key))
        except ResponseError as error:
            if not str(error).startswith("WRONGTYPE"):
                raise
            logger.warning("%s is not a list, so it holds no messages; left as it is", key)
            return []

    async def messages(
        self,
        thread_id: str,
        convert: Callable[[dict[str, Any]], T],
        *,
        read_as_written: Callable[[dict[str, Any]], T] | None = None,
    ) -> list[T]:
        """The thread's messages, oldest first, each decoded and handed to ``convert`` (see ``decode``)."""
        return self.decode(thread_id, await self.entries(thread_id), convert, read_as_written=read_as_written)

    def decode(
        self,
        thread_id: str,
        entries: Sequence[str],
        convert: Callable[[dict[str, Any]], T],
        *,
        read_as_written: Callable[[dict[str, Any]], T] | None = None,
        first_index: int = 0,
    ) -> list[T]:
        """Stored entries of a thread as messages, each decoded and handed to ``convert``.

        ``read_as_written`` is the adapter's release reading an entry in its own shape as it is
        (its ``from_dict``), the fast path for the entries it wrote itself; it must raise on any other
        shape, which is then normalized (``message_json``) and handed to ``convert``. An entry that is
        not a message (or that ``convert`` refuses, or a sealed one that does not open) is skipped with one
        warning per distinct entry, and never deleted: it may be someone else's data. ``first_index`` is the
        list index of the first entry, for that warning. An entry under a key id the keyring lacks raises
        ``MissingKeyError``: a configuration error, not a corrupt entry.
        """
        messages: list[T] = []
        for index, stored in enumerate(entries, start=first_index):
            try:
                raw = self.opened(thread_id, stored)
            except BrokenSealError as error:
                self._report_unreadable(stored, index, thread_id, str(error))
                continue
            if read_as_written is not None:
                try:
                    messages.append(read_as_written(json.loads(raw)))
                    continue
                except Exception:  # another release's shape, or not a message: the tolerant way below
                    pass
            try:
                messages.append(convert(decode_entry(raw)))
            except Exception as error:  # a framework raises assorted types on shapes it cannot read
                reason = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
                self._report_unreadable(stored, index, thread_id, reason)
        return messages

    def _report_unreadable(self, stored: str, index: int, thread_id: str, reason: str) -> None:
        if hash(stored) not in self._reported_entries:
            self._reported_entries.add(hash(stored))
            logger.warning("Skipping entry %d of %s: %s", index, self.key(thread_id), reason)

    async def count(self, thread_id: str) -> int:
        return int(await self.call(lambda: self.client.llen(self.key(thread_id))))

    async def entry_at(self, thread_id: str, index: int) -> str | None:
        """LINDEX, the entry opened (``opened``)."""
        entry = await self.call(lambda: self.client.lindex(self.key(thread_id), index))
        return None if entry is None else self.opened(thread_id, entry)

    async def replace_at(self, thread_id: str, index: int, entry: str) -> None:
        """LSET (the entry sealed); IndexError when there is no such entry (as a Python list would say)."""
        entry = self.sealed(thread_id, [entry])[0]
        try:
            await self.call(lambda: self.client.lset(self.key(thread_id), index, entry))
        except ResponseError as error:
            if "index out of range" in str(error) or "no such key" in str(error):
                raise IndexError("list index out of range") from None
            raise

    async def remove_entry(self, thread_id: str, entry: str) -> bool:
        return bool(await self.call(lambda: self.client.lrem(self.key(thread_id), 1, entry)))

    async def clear(self, thread_id: str) -> None:
        """Delete the thread's history (its side keys, such as its summary, too) and forget it in the recency index.

        With ``confirmation``, the deletion is confirmed as a turn is (a failover to a replica that missed it
        would bring the thread back): ReplicaConfirmationError once it is done on the primary, if fewer
        replicas confirmed it in time.
        """
        keys = self.thread_keys(thread_id)
        confirmed: ConfirmedReplies | None = None

        def queue_deletion(pipe: Any) -> None:
            pipe.delete(*keys)
            if not self.cluster:
                pipe.zrem(self.index_key, thread_id)

        async def delete_thread() -> None:
            nonlocal confirmed
            if self.confirmation:
                confirmed = await self.confirmed.transaction(keys[0], queue_deletion)
                return
            pipe = await self.transaction()
            queue_deletion(pipe)
            await pipe.execute()

        if self.cluster:  # the index is in another slot: its own command, alongside
            await asyncio.gather(
                self.call(delete_thread), self.call(lambda: self.client.zrem(self.index_key, thread_id))
            )
        else:
            await self.call(delete_thread)
        if confirmed is not None:
            confirmed.check(deletion=True)

    async def transaction(self) -> Any:
        """A MULTI/EXEC pipeline (use ``watch`` on it for an optimistic transaction)."""
        if self.cluster:
            # redis-py queues each command of a cluster transaction through asyncio.run() in a worker
            # thread; if the client still had to (re)learn the topology it would do so there and keep
            # connections bound to that dead loop. Learning it here avoids that.
            await self.client.initialize()
        return self.client.pipeline(transaction=True)

    # -- the recency index (``recency``) ---------------------------------------------------------

    async def list_threads(self, limit: int | None = None) -> list[SavedThread]:
        """Threads under the prefix, most recently written first.

        With ``limit`` the recency index answers (cost independent of how many threads exist);
        without it every list-typed key is found with SCAN.
        """
        if limit is None:
            return await self.call(self.index.scan_saved_threads)
        if limit <= 0:
            return []
        return await self.call(lambda: self.index.saved_threads(limit))

    async def rebuild_index(self) -> int:
        """Index threads written by other tools (the lab's store, Microsoft's); returns how many were added."""
        return await self.call(self.index.index_unindexed_threads)

    def scan_thread_keys(self) -> AsyncIterator[str]:
        """Every thread's list in the layout, by SCAN (see ``RecencyIndex.scan_thread_keys``)."""
        return self.index.scan_thread_keys()

    def thread_id_of(self, key: str) -> str:
        """The thread id of a key ``scan_thread_keys`` found (ValueError for any other key)."""
        return self.index.thread_id_of(key)
