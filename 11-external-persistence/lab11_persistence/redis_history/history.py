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
- ``{key_prefix}.recent-threads`` (scoped: ``<scope>|~recent-threads``): a sorted set of thread ids
  scored by the time of their last write, so "the 20 most recently used threads" costs the same at a
  thousand threads or a million. It is outside ``{key_prefix}:*``, where the workshop's own app takes
  every key for a thread; a scoped one lies inside its scope, so one tenant's ACL covers it;
- ``{<thread key>}:<name>``: a thread's side keys, in its own hash slot (``side_key``), such as
  ``:last-write``, the token of the thread's latest write, kept for a few minutes so a write whose
  reply was lost can tell whether it went through, and ``:summary``, the durable summary of what fell
  out of a model's window (``window``): one transaction covers it and the thread on a cluster.

How to connect, and redis-py's bounded retry of a dropped connection, are ``connection``'s;
exporting and importing whole threads is ``archive``'s, over this module's public methods.
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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import (
    AuthenticationError,
    ClusterError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
    WatchError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lab11_persistence.redis_history.connection import (
    RETRIES,
    RETRY_BACKOFF_BASE,
    RedisClient,
    RedisEndpoint,
    RedisPasswordRefusedError,
    RedisUnavailableError,
    single_attempt,
)
from lab11_persistence.redis_history.keys import DEFAULT_SOURCE_ID, KeyLayout
from lab11_persistence.redis_history.message_json import decode_entry, message_text
from lab11_persistence.redis_history.summary import Summary

__all__ = ["RedisHistory", "SavedThread"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
OLD_INDEX_SUFFIX = ":recent-threads"  # where releases before the move kept it
PREVIEW_LENGTH = 60
# Long enough to outlast every retry of a write; short enough to leave nothing behind.
WRITE_TOKEN_TTL_SECONDS = 600
#: Every side key a thread has (``side_key``): deleted with the thread, by ``clear`` and by pruning.
SIDE_KEYS = ("last-write", "summary")

# On a cluster, how long a call waits for a replica to take over from a failed primary (the engine
# needs about cluster-node-timeout plus an election).
CLUSTER_FAILOVER_WAIT_SECONDS = 30.0
# What a failover looks like from the client (ClusterError covers CLUSTERDOWN and MASTERDOWN).
CLUSTER_RETRYABLE_ERRORS = (RedisConnectionError, RedisTimeoutError, ClusterError, TryAgainError, SlotNotCoveredError)


@dataclass(frozen=True)
class SavedThread:
    """One thread found under the key prefix, as a menu would show it."""

    thread_id: str
    redis_key: str
    message_count: int
    preview: str
    last_used: float | None = None
    summary_covers: int = 0  # how many earlier messages the thread's summary folds in (see ``window``)


def _preview(raw: str | None) -> str:
    if raw is None:
        return ""
    try:
        return " ".join(message_text(decode_entry(raw)).split())[:PREVIEW_LENGTH]
    except ValueError:
        return ""


class RedisHistory:
    """Every thread under one key prefix: append, read, count, clear, list.

    ``append`` is one MULTI/EXEC round trip (RPUSH, LTRIM, EXPIRE and the recency index together),
    so a reader never sees more than ``max_messages`` and two writers cannot interleave between the
    push and the trim. A history opened from an endpoint owns its client and closes it; one given a
    client borrows it.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        key_prefix: str = "chat_messages",
        max_messages: int | None = None,
        ttl_seconds: int | None = None,
        endpoint: RedisEndpoint | None = None,
        owns_client: bool = False,
        tenant_id: str | None = None,
        application_id: str | None = None,
        agent_id: str | None = None,
        key_format: str | None = None,
        source_id: str = DEFAULT_SOURCE_ID,
    ) -> None:
        """Scope arguments as Microsoft's provider takes them (``keys.KeyLayout.resolve``): with none,
        the lab's layout ``{key_prefix}:{thread_id}``."""
        if max_messages is not None and max_messages <= 0:
            raise ValueError("max_messages must be a positive number or None.")
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be a positive number of seconds or None.")
        if not key_prefix:
            raise ValueError("key_prefix must not be empty.")
        self.layout = KeyLayout.resolve(
            key_prefix,
            tenant_id=tenant_id,
            application_id=application_id,
            agent_id=agent_id,
            key_format=key_format,
            source_id=source_id,
        )
        self.client = client
        self.key_prefix = key_prefix
        self.max_messages = max_messages
        self.ttl_seconds = ttl_seconds
        self.endpoint = endpoint
        self.cluster = isinstance(client, RedisCluster)
        self.index_key = self.layout.index_key
        self._owns_client = owns_client
        self._index_moved = self.layout.scoped  # an index of older releases exists only in the lab's layout
        # Entries already reported as unreadable: the agent reads the whole thread on every turn,
        # and one warning per bad entry is enough.
        self._reported_entries: set[int] = set()

    @classmethod
    def open(cls, endpoint: RedisEndpoint, **settings: Any) -> RedisHistory:
        return cls(endpoint.open(), endpoint=endpoint, owns_client=True, **settings)

    @classmethod
    def connect(
        cls,
        redis_url: str | None = None,
        credential_provider: Any = None,
        host: str | None = None,
        port: int = 6380,
        ssl: bool = True,
        username: str | None = None,
        *,
        redis_client: RedisClient | None = None,
        ssl_ca_certs: str | None = None,
        cluster: bool = False,
        **settings: Any,
    ) -> RedisHistory:
        """From exactly one connection source, as Microsoft's store and provider take it: ``redis_url``;
        ``credential_provider`` with ``host`` (Microsoft Entra ID); or ``redis_client`` (borrowed)."""
        sources = [redis_url is not None, credential_provider is not None or host is not None, redis_client is not None]
        if sum(sources) != 1 or (credential_provider is None) != (host is None):
            raise ValueError(
                "Redis needs exactly one of: redis_url (for example redis://localhost:6379/0), "
                "credential_provider with host, or redis_client."
            )
        if redis_client is not None:
            return cls(redis_client, **settings)
        endpoint = RedisEndpoint(
            url=redis_url,
            host=host,
            port=port,
            ssl=ssl,
            username=username,
            credential_provider=credential_provider,
            ssl_ca_certs=ssl_ca_certs,
            cluster=cluster,
        )
        return cls.open(endpoint, **settings)

    def sibling(self) -> RedisHistory:
        """The same settings on a client of its own (closing one leaves the other working) when this
        one owns its client; otherwise the same borrowed client."""
        settings = self.settings
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
        return RedisHistory(self.client, endpoint=self.endpoint, **settings)

    def reconfigured(self, **settings: Any) -> RedisHistory:
        """The same client (and its ownership) under another prefix or limits; this one is not to be used again."""
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
        """``{<thread key>}:<name>``: a key beside the thread in its hash slot (so it can join the thread's
        transaction on a cluster), under the ACL pattern ``{<prefix>*}:*`` whatever its name."""
        key = self.key(thread_id)
        opening = key.find("{")
        closing = key.find("}", opening + 1)
        if opening != -1 and closing > opening + 1:  # the key already names its slot
            return f"{key}:{name}"
        return f"{{{key}}}:{name}"

    def write_token_key(self, thread_id: str) -> str:
        return self.side_key(thread_id, "last-write")

    def summary_key(self, thread_id: str) -> str:
        return self.side_key(thread_id, "summary")

    def thread_keys(self, thread_id: str) -> list[str]:
        """The thread's key and every side key it may have (``SIDE_KEYS``): what deleting it deletes."""
        return [self.key(thread_id), *(self.side_key(thread_id, name) for name in SIDE_KEYS)]

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    # -- the failure policy ------------------------------------------------------------------

    async def call(self, operation: Callable[[], Awaitable[T]], *, tries_of_our_own: int = 0) -> T:
        """Run ``operation`` against Redis, through a failover, with failures as one clear error.

        Public so that other work over these threads (``thread_archive``) fails the same way a turn
        does. On a single server redis-py's own retries are enough, except for what runs with them off
        (``tries_of_our_own`` more tries). On a cluster redis-py gives up sooner than the engine can
        elect a new primary, so this waits up to CLUSTER_FAILOVER_WAIT_SECONDS. A refused password
        is never retried.
        """
        retryable = CLUSTER_RETRYABLE_ERRORS if self.cluster else (RedisConnectionError, RedisTimeoutError)
        started = time.monotonic()
        delay = 0.1 if self.cluster else RETRY_BACKOFF_BASE
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
                if self.cluster:
                    out_of_time = time.monotonic() - started + delay > CLUSTER_FAILOVER_WAIT_SECONDS
                else:
                    out_of_time = failures > tries_of_our_own
                if out_of_time or not isinstance(error, retryable):
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

    @staticmethod
    async def replies(pipe: Any) -> list[Any]:
        """A pipeline's replies, each command's own error (a key of another type, say) among them.

        An error of the connection or of the cluster is raised instead, so that ``call`` waits it out as it
        would for a single command: a cluster pipeline hands it back as one more reply.
        """
        replies = await pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, Exception) and (
                not isinstance(reply, ResponseError) or isinstance(reply, CLUSTER_RETRYABLE_ERRORS)
            ):
                raise reply
        return list(replies)

    # -- one thread --------------------------------------------------------------------------

    async def append(self, thread_id: str, entries: Sequence[str], *, summarized: bool = False) -> int | None:
        """Append in order and trim, in one transaction and one round trip, saved exactly once.

        ``summarized``: the thread has a summary beside it (``window``); trimming is then left to the
        transaction that summarizes, so that a message leaves the list only once the summary covers it,
        and the summary's expiry is refreshed with the thread's. Returns the thread's length after the
        push (None when only a resend's check saw the write through).

        redis-py would resend a transaction by itself when the connection drops, and if the server
        had already run it (only the reply was lost) the turn would be saved twice. So the
        transaction also stores a fresh token, redis-py's own retry is off for it, and before each
        resend the token tells whether the earlier attempt was applied. On a cluster the index lives
        in another slot, so it is its own command, sent alongside.
        """
        if not entries:
            return None
        key, token_key, token = self.key(thread_id), self.write_token_key(thread_id), uuid.uuid4().hex
        sent = False
        length: int | None = None

        async def send_once() -> None:
            nonlocal sent, length
            if sent and await self.client.get(token_key) == token:
                return  # applied; only its reply was lost
            pipe = await self.transaction()
            pipe.rpush(key, *entries)
            if self.max_messages and not summarized:
                pipe.ltrim(key, -self.max_messages, -1)
            if self.ttl_seconds:
                pipe.expire(key, self.ttl_seconds)
                if summarized:
                    pipe.expire(self.summary_key(thread_id), self.ttl_seconds)
            pipe.set(token_key, token, ex=WRITE_TOKEN_TTL_SECONDS)
            if not self.cluster:
                pipe.zadd(self.index_key, {thread_id: time.time()})
            sent = True
            replies = await pipe.execute(raise_on_error=False)
            turn_replies, index_replies = (replies, []) if self.cluster else (replies[:-1], replies[-1:])
            for reply in turn_replies:  # the turn itself failed (e.g. the key is not a list)
                if isinstance(reply, Exception):
                    raise reply
            length = int(turn_replies[0])  # RPUSH's reply
            for reply in index_replies:  # the turn is saved; only the index is unusable
                if isinstance(reply, Exception):
                    self._warn_index_unusable(reply)

        async def attempt() -> None:
            with single_attempt():  # the retries are call()'s, not redis-py's too
                await send_once()

        write = self.call(attempt, tries_of_our_own=RETRIES)
        if self.cluster:
            await asyncio.gather(write, self.call(lambda: self._touch_index(thread_id)))
        else:
            await write
        return length

    async def append_if_empty(self, thread_id: str, entries: Sequence[str]) -> bool:
        """Seed a thread with ``entries`` unless it already holds messages; True if this call did.

        WATCH makes it one decision even when several stores seed the same thread at once: whoever
        writes second sees its transaction refused, looks again, and finds the thread no longer empty.
        """
        if not entries:
            return False
        key = self.key(thread_id)

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
            await self.call(lambda: self._touch_index(thread_id))
        return seeded

    async def entries(self, thread_id: str) -> list[str]:
        """The thread's stored entries, oldest first, as they are (a key that is not a list holds none)."""
        key = self.key(thread_id)
        try:
            return await self.call(lambda: self.client.lrange(key, 0, -1))
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
        not a message (or that ``convert`` refuses) is skipped with one warning per distinct entry,
        and never deleted: it may be someone else's data. ``first_index`` is the list index of the first
        entry, for that warning.
        """
        messages: list[T] = []
        for index, raw in enumerate(entries, start=first_index):
            if read_as_written is not None:
                try:
                    messages.append(read_as_written(json.loads(raw)))
                    continue
                except Exception:  # another release's shape, or not a message: the tolerant way below
                    pass
            try:
                messages.append(convert(decode_entry(raw)))
            except Exception as error:  # a framework raises assorted types on shapes it cannot read
                if hash(raw) not in self._reported_entries:
                    self._reported_entries.add(hash(raw))
                    reason = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
                    logger.warning("Skipping entry %d of %s: %s", index, self.key(thread_id), reason)
        return messages

    async def count(self, thread_id: str) -> int:
        return int(await self.call(lambda: self.client.llen(self.key(thread_id))))

    async def entry_at(self, thread_id: str, index: int) -> str | None:
        return await self.call(lambda: self.client.lindex(self.key(thread_id), index))

    async def replace_at(self, thread_id: str, index: int, entry: str) -> None:
        """LSET; IndexError when there is no such entry (as a Python list would say)."""
        try:
            await self.call(lambda: self.client.lset(self.key(thread_id), index, entry))
        except ResponseError as error:
            if "index out of range" in str(error) or "no such key" in str(error):
                raise IndexError("list index out of range") from None
            raise

    async def remove_entry(self, thread_id: str, entry: str) -> bool:
        return bool(await self.call(lambda: self.client.lrem(self.key(thread_id), 1, entry)))

    async def clear(self, thread_id: str) -> None:
        """Delete the thread's history (its side keys, such as its summary, too) and forget it in the recency index."""
        keys = self.thread_keys(thread_id)

        async def delete_thread() -> None:
            pipe = await self.transaction()
            pipe.delete(*keys)
            if not self.cluster:
                pipe.zrem(self.index_key, thread_id)
            await pipe.execute()

        if self.cluster:  # the index is in another slot: its own command, alongside
            await asyncio.gather(
                self.call(delete_thread), self.call(lambda: self.client.zrem(self.index_key, thread_id))
            )
        else:
            await self.call(delete_thread)

    async def transaction(self) -> Any:
        """A MULTI/EXEC pipeline (use ``watch`` on it for an optimistic transaction)."""
        if self.cluster:
            # redis-py queues each command of a cluster transaction through asyncio.run() in a worker
            # thread; if the client still had to (re)learn the topology it would do so there and keep
            # connections bound to that dead loop. Learning it here avoids that.
            await self.client.initialize()
        return self.client.pipeline(transaction=True)

    # -- the recency index -------------------------------------------------------------------

    async def _touch_index(self, thread_id: str) -> None:
        """Mark a thread as just used; a foreign key where the index should be only costs a warning."""
        try:
            await self.client.zadd(self.index_key, {thread_id: time.time()})
        except ResponseError as error:
            self._warn_index_unusable(error)

    def _warn_index_unusable(self, error: Exception) -> None:
        logger.warning(
            "%s is not the sorted set this store keeps its thread index in (%s); left as it is", self.index_key, error
        )

    async def _first_page(self, limit: int) -> list[tuple[str, float]]:
        """The newest ``limit`` index entries; the first time, also moves an index of older releases here.

        Releases before this one kept the index at ``{prefix}:recent-threads``, among the threads,
        where other tools took it for one. Its type is asked in the same round trip as the page.
        """
        if self._index_moved:
            return await self._recent_page(0, limit)
        self._index_moved = True
        old = f"{self.key_prefix}{OLD_INDEX_SUFFIX}"  # only in the lab's layout (see __init__)
        pipe = self.client.pipeline(transaction=False)
        pipe.type(old)
        pipe.zrevrange(self.index_key, 0, limit - 1, withscores=True)
        old_type, page = await self.replies(pipe)
        if isinstance(page, Exception):
            raise page
        if old_type != "zset":
            return page  # nothing to move, or a thread really named "recent-threads"
        batch: dict[str, float] = {}
        async for member, score in self.client.zscan_iter(old, count=1000):
            batch[member] = score
            if len(batch) >= 1000:
                await self.client.zadd(self.index_key, batch, gt=True)
                batch = {}
        if batch:
            await self.client.zadd(self.index_key, batch, gt=True)
        await self.client.delete(old)
        logger.info("Moved the thread index from %s to %s, order kept", old, self.index_key)
        return await self._recent_page(0, limit)

    async def list_threads(self, limit: int | None = None) -> list[SavedThread]:
        """Threads under the prefix, most recently written first.

        With ``limit`` the recency index answers (cost independent of how many threads exist);
        without it every list-typed key is found with SCAN.
        """
        if limit is None:
            return await self.call(self._scan_saved_threads)
        if limit <= 0:
            return []

        async def from_index() -> list[SavedThread]:
            try:
                first_page = await self._first_page(limit)
            except ResponseError as error:  # someone else's key where the index should be
                self._warn_index_unusable(error)
                return (await self._scan_saved_threads())[:limit]
            if not first_page and await self._index_unindexed_threads():  # threads written by other tools
                first_page = await self._recent_page(0, limit)
            return await self._recent_saved_threads(limit, first_page)

        return await self.call(from_index)

    async def rebuild_index(self) -> int:
        """Index threads written by other tools (the lab's store, Microsoft's); returns how many were added."""
        return await self.call(self._index_unindexed_threads)

    async def _index_unindexed_threads(self) -> int:
        keys = [key async for key in self.scan_thread_keys()]
        if not keys:
            return 0
        idle = await self._idle_seconds(keys)
        now = time.time()
        scores = {self.thread_id_of(key): now - idle.get(key, 0) for key in keys}
        return int(await self.client.zadd(self.index_key, scores, nx=True))

    async def scan_thread_keys(self) -> AsyncIterator[str]:
        """Every thread's list in the layout (``{prefix}:*``, or the scope's), by SCAN (never KEYS), in no
        particular order. A scoped key that names no session (or only its digest) is passed over."""
        async for key in self.client.scan_iter(match=self.layout.scan_pattern(), count=1000, _type="list"):
            if self.layout.thread_id_of(key) is not None:
                yield key
            else:
                logger.debug("%s is not a thread key this layout can name; passed over", key)

    def thread_id_of(self, key: str) -> str:
        """The thread id of a key ``scan_thread_keys`` found (ValueError for any other key)."""
        thread_id = self.layout.thread_id_of(key)
        if thread_id is None:
            raise ValueError(f"{key} is not a thread key of this layout")
        return thread_id

    async def _idle_seconds(self, keys: Sequence[str]) -> dict[str, float]:
        """How long each key has gone unused, as a stand-in for recency where the index has none."""
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.object("idletime", key)
        try:
            replies = await pipe.execute(raise_on_error=False)
        except ResponseError:
            return {}
        return {key: float(reply) for key, reply in zip(keys, replies, strict=True) if isinstance(reply, (int, float))}

    async def _describe_threads(
        self, thread_ids: Sequence[str], last_used: Mapping[str, float]
    ) -> tuple[list[SavedThread], list[str]]:
        """Counts, previews and summaries of the given threads; also the ids whose key is gone or is not a list."""
        pipe = self.client.pipeline(transaction=False)
        for thread_id in thread_ids:
            pipe.llen(self.key(thread_id))
            pipe.lrange(self.key(thread_id), 0, 1)
            pipe.get(self.summary_key(thread_id))
        replies = await self.replies(pipe)
        found: list[SavedThread] = []
        gone: list[str] = []
        for position, thread_id in enumerate(thread_ids):
            count, head, summary = replies[3 * position : 3 * position + 3]
            if isinstance(count, Exception) or isinstance(head, Exception) or not count:
                gone.append(thread_id)
                continue
            first_user = next((raw for raw in head if '"user"' in raw), head[0] if head else None)
            found.append(
                SavedThread(
                    thread_id=thread_id,
                    redis_key=self.key(thread_id),
                    message_count=int(count),
                    preview=_preview(first_user),
                    last_used=last_used.get(thread_id),
                    summary_covers=record.covers if (record := Summary.parse(summary)) else 0,
                )
            )
        return found, gone

    async def _recent_page(self, start: int, size: int) -> list[tuple[str, float]]:
        return await self.client.zrevrange(self.index_key, start, start + size - 1, withscores=True)

    async def _recent_saved_threads(self, limit: int, first_page: list[tuple[str, float]]) -> list[SavedThread]:
        """Walk the index newest first, in pages, until ``limit`` threads that still exist are found."""
        found: list[SavedThread] = []
        start = 0
        page = max(limit, 1)
        entries = first_page
        while len(found) < limit:
            if start:
                entries = await self._recent_page(start, page)
            if not entries:
                break
            start += len(entries)
            scores = dict(entries)
            threads, gone = await self._describe_threads(list(scores), scores)
            found.extend(threads)
            for thread_id in gone:  # cleared or expired since their last write: drop them from the index
                if await self.client.type(self.key(thread_id)) == "none":
                    await self.client.zrem(self.index_key, thread_id)
            if len(entries) < page:  # that was the end of the index
                break
        return found[:limit]

    async def _scan_saved_threads(self) -> list[SavedThread]:
        thread_ids = [self.thread_id_of(key) async for key in self.scan_thread_keys()]
        if not thread_ids:
            return []
        scores_pipe = self.client.pipeline(transaction=False)
        for thread_id in thread_ids:
            scores_pipe.zscore(self.index_key, thread_id)
        scores = {
            thread_id: float(score)
            for thread_id, score in zip(thread_ids, await self.replies(scores_pipe), strict=True)
            if isinstance(score, (int, float))
        }
        threads, _ = await self._describe_threads(thread_ids, scores)
        return sorted(threads, key=lambda thread: (thread.last_used or 0.0, thread.thread_id), reverse=True)
