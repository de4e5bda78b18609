"""A ChatMessageStore that keeps an agent thread's history in a Redis list.

Redis holds the whole transcript, so the thread snapshot the framework asks for
only needs what it takes to reconnect: the thread id, the key prefix, the limits
and a connection URL with the credentials taken out.

Layout (the same as Microsoft's ``agent_framework_redis`` store, so either can
read the other's threads):

- ``{key_prefix}:{thread_id}``: a list, oldest message first, one compact JSON
  document of ``ChatMessage.to_dict()`` per entry;
- ``{key_prefix}:recent-threads``: a sorted set of thread ids scored by the time
  of their last write, so "the 20 most recently used threads" costs the same
  whether there are a thousand threads or a million;
- ``{<thread key>}:last-write``: the token of the thread's latest write, kept for a
  few minutes in the thread's own hash slot, so that a write whose reply was lost
  can tell whether it went through instead of saving the turn twice.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as redis
from agent_framework import AgentThread, ChatMessage, Role
from agent_framework._threads import ChatMessageStoreState
from pydantic import BaseModel, field_validator
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    AuthenticationError,
    ClusterError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = [
    "RedisChatMessageStore",
    "RedisPasswordRefusedError",
    "RedisStoreState",
    "RedisUnavailableError",
    "SavedThread",
    "describe_redis_url",
    "resume_thread",
    "url_without_credentials",
]

logger = logging.getLogger(__name__)

RECENT_THREADS_SUFFIX = "recent-threads"
PREVIEW_LENGTH = 60
# Long enough to outlast every retry of a write; short enough to leave nothing behind.
WRITE_TOKEN_TTL_SECONDS = 600

# Bounded reconnects: a restarted server or a dropped socket costs a few tries
# spread over about a second, never an endless loop.
RETRIES = 4
RETRY_BACKOFF_BASE = 0.05
RETRY_BACKOFF_CAP = 0.8
CONNECT_TIMEOUT_SECONDS = 5.0
COMMAND_TIMEOUT_SECONDS = 15.0
# On a cluster, how long a turn waits for a replica to take over from a failed
# primary (the engine needs about cluster-node-timeout plus an election).
CLUSTER_FAILOVER_WAIT_SECONDS = 30.0
# What a failover looks like from the client (ClusterError covers CLUSTERDOWN and MASTERDOWN).
CLUSTER_RETRYABLE_ERRORS = (RedisConnectionError, RedisTimeoutError, ClusterError, TryAgainError, SlotNotCoveredError)

T = TypeVar("T")

# Set while a write transaction runs: redis-py must not resend it on its own (see add_messages).
_ONE_ATTEMPT: contextvars.ContextVar[bool] = contextvars.ContextVar("one_attempt", default=False)


class _RetryUnlessRefused(Retry):
    """Retry dropped connections with backoff, but not a refused password: that will not fix itself."""

    async def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):  # type: ignore[no-untyped-def]
        def retryable(error: Exception) -> bool:
            if _ONE_ATTEMPT.get() or isinstance(error, AuthenticationError):
                return False
            return is_retryable is None or bool(is_retryable(error))

        return await super().call_with_retry(do, fail, retryable, with_failure_count)


class RedisUnavailableError(RuntimeError):
    """Redis could not be reached or refused us; the message names host and port, never a password."""


class RedisPasswordRefusedError(RedisUnavailableError):
    """Redis refused the credentials: unlike a lost connection, trying again will not help."""


def url_without_credentials(url: str) -> str:
    """The same URL with any username and password removed (safe to store or show)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def describe_redis_url(url: str) -> str:
    """A short, password-free description of where a URL points, for messages."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix socket {parts.path}"
    host = parts.hostname or "localhost"
    port = parts.port or 6379
    database = parts.path.lstrip("/") or "0"
    return f"{host}:{port}/{database}"


def _redact(text: str, url: str | None) -> str:
    """Remove a URL's password from text that might echo it back."""
    if not url:
        return text
    parts = urlsplit(url)
    for secret in (parts.password, parts.username):
        if secret:
            text = text.replace(secret, "***")
    return text


class RedisStoreState(BaseModel):
    """What it takes to reconnect to a thread: stored in thread snapshots, so never a secret."""

    thread_id: str
    key_prefix: str = "chat_messages"
    max_messages: int | None = None
    ttl_seconds: int | None = None
    redis_url: str | None = None
    cluster: bool = False

    @field_validator("redis_url")
    @classmethod
    def _strip_credentials(cls, value: str | None) -> str | None:
        return url_without_credentials(value) if value else value


class RedisStoreSnapshot(ChatMessageStoreState, Mapping[str, Any]):
    """The value ``serialize()`` returns.

    A ``ChatMessageStoreState`` rather than a plain dict: ``AgentThread.serialize``
    rebuilds plain dicts through ``ChatMessageStoreState`` and drops every key but
    ``messages`` (trap 1 in the notes), while an instance is serialized with all its
    fields. It also reads like the dict the protocol promises.
    """

    TYPE: ClassVar[str] = "chat_message_store_state"

    def __init__(self, store_metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(messages=[])
        self.store_metadata: dict[str, Any] = dict(store_metadata or {})

    def _as_dict(self) -> dict[str, Any]:
        return {"messages": [], "store_metadata": self.store_metadata}

    def __getitem__(self, key: str) -> Any:
        return self._as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._as_dict())

    def __len__(self) -> int:
        return len(self._as_dict())


@dataclass(frozen=True)
class SavedThread:
    """One thread found under the key prefix, as a menu would show it."""

    thread_id: str
    redis_key: str
    message_count: int
    preview: str
    last_used: float | None = None


def encode_message(message: ChatMessage | Mapping[str, Any] | str) -> str:
    """Compact JSON of ``ChatMessage.to_dict()``; dicts and bare strings are accepted too."""
    if isinstance(message, ChatMessage):
        payload: Any = message.to_dict()
    elif isinstance(message, Mapping):
        payload = dict(message)
    elif isinstance(message, str):
        payload = ChatMessage(role="user", text=message).to_dict()
    elif hasattr(message, "to_dict"):
        payload = message.to_dict()
    else:
        raise TypeError(f"Cannot store a {type(message).__name__} as a chat message")
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def decode_message(raw: str) -> ChatMessage:
    """Parse one stored entry; raises ValueError when it is not a chat message."""
    try:
        payload = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"not JSON ({error.__class__.__name__})") from None
    if not isinstance(payload, dict) or "role" not in payload:
        raise ValueError("JSON without a role is not a chat message")
    try:
        if payload.get("type") == "chat_message" or "contents" in payload:
            return ChatMessage.from_dict(payload)
        # Other shapes seen in the wild: {"role": "user", "content"|"text": "..."}.
        role = payload["role"]
        if isinstance(role, Mapping):
            role = role.get("value")
        text = payload.get("text", payload.get("content"))
        if not isinstance(role, str) or not isinstance(text, str):
            raise ValueError("role and text must be strings")
        return ChatMessage(
            role=Role(value=role),
            text=text,
            author_name=payload.get("author_name"),
            message_id=payload.get("message_id"),
        )
    except ValueError:
        raise
    except Exception as error:  # the framework raises assorted types on bad shapes
        raise ValueError(f"not a chat message ({error.__class__.__name__}: {error})") from None


def _escape_glob(text: str) -> str:
    """Make text match itself literally in a Redis SCAN MATCH pattern."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _message_preview(raw: str | None) -> str:
    if raw is None:
        return ""
    try:
        message = decode_message(raw)
    except ValueError:
        return ""
    return " ".join((message.text or "").split())[:PREVIEW_LENGTH]


class RedisChatMessageStore:
    """The lab's ``ChatMessageStoreProtocol`` implementation on a Redis list.

    Every ``add_messages`` is one MULTI/EXEC round trip (RPUSH, LTRIM, EXPIRE and
    the recency index together), so a reader never sees more than ``max_messages``
    and two writers cannot interleave between the push and the trim.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        thread_id: str | None = None,
        key_prefix: str = "chat_messages",
        max_messages: int | None = None,
        *,
        ttl_seconds: int | None = None,
        ssl_ca_certs: str | None = None,
        redis_client: redis.Redis | RedisCluster | None = None,
        cluster: bool = False,
    ) -> None:
        if not redis_url and redis_client is None:
            raise ValueError("RedisChatMessageStore needs a redis_url (for example redis://localhost:6379/0).")
        if max_messages is not None and max_messages <= 0:
            raise ValueError("max_messages must be a positive number or None.")
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be a positive number of seconds or None.")
        if not key_prefix:
            raise ValueError("key_prefix must not be empty.")
        if thread_id == RECENT_THREADS_SUFFIX:
            raise ValueError(f"The thread id {thread_id!r} is taken by the store's own index of threads.")
        self.thread_id = thread_id or f"thread_{uuid.uuid4()}"
        self.key_prefix = key_prefix
        self.max_messages = max_messages
        self.ttl_seconds = ttl_seconds
        self.cluster = cluster
        self._redis_url = redis_url
        self._ssl_ca_certs = ssl_ca_certs
        self._owns_client = redis_client is None
        # Entries already reported as not being messages: the agent reads the whole thread on
        # every turn, and one warning per bad entry is enough.
        self._reported_entries: set[int] = set()  # hash() of each entry
        self._redis_client = redis_client if redis_client is not None else self._connect(redis_url or "")

    def _connect(self, url: str) -> redis.Redis | RedisCluster:
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": COMMAND_TIMEOUT_SECONDS,
            "retry": _RetryUnlessRefused(
                ExponentialWithJitterBackoff(base=RETRY_BACKOFF_BASE, cap=RETRY_BACKOFF_CAP), RETRIES
            ),
            "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        }
        if urlsplit(url).scheme == "rediss" and self._ssl_ca_certs:
            options["ssl_ca_certs"] = self._ssl_ca_certs
        try:
            if self.cluster:  # discovers every node from this one and routes each key to its slot's owner
                return RedisCluster.from_url(url, **options)
            return redis.from_url(url, **options)
        except (ValueError, RedisClusterException) as error:
            raise ValueError(f"Not a usable Redis URL ({_redact(str(error), url)}).") from None

    # -- identity -------------------------------------------------------------

    @property
    def redis_key(self) -> str:
        return f"{self.key_prefix}:{self.thread_id}"

    @property
    def recent_threads_key(self) -> str:
        return f"{self.key_prefix}:{RECENT_THREADS_SUFFIX}"

    @property
    def write_token_key(self) -> str:
        """A key in the thread key's hash slot (so it can join the thread's transaction on a cluster)."""
        key = self.redis_key
        opening = key.find("{")
        closing = key.find("}", opening + 1)
        if opening != -1 and closing > opening + 1:  # the key already names its slot
            return f"{key}:last-write"
        return f"{{{key}}}:last-write"

    @property
    def location(self) -> str:
        """Where the data lives, without credentials."""
        if self._redis_url:
            return describe_redis_url(self._redis_url)
        pool_kwargs = getattr(getattr(self._redis_client, "connection_pool", None), "connection_kwargs", {})
        return f"{pool_kwargs.get('host', 'redis')}:{pool_kwargs.get('port', '?')}"

    def __repr__(self) -> str:
        return (
            f"RedisChatMessageStore(thread_id={self.thread_id!r}, key_prefix={self.key_prefix!r}, "
            f"max_messages={self.max_messages!r}, redis={self.location!r})"
        )

    def for_thread(self, thread_id: str) -> RedisChatMessageStore:
        """A store for another thread with the same connection settings and limits.

        A store built from a URL gets a connection pool of its own (closing one store leaves
        the other working); one built around a caller's client shares that client.
        """
        return RedisChatMessageStore(
            redis_url=self._redis_url,
            thread_id=thread_id,
            key_prefix=self.key_prefix,
            max_messages=self.max_messages,
            ttl_seconds=self.ttl_seconds,
            ssl_ca_certs=self._ssl_ca_certs,
            redis_client=None if self._redis_url else self._redis_client,
            cluster=self.cluster,
        )

    @asynccontextmanager
    async def _talking_to_redis(self):  # type: ignore[no-untyped-def]
        """Turn connection failures into one clear, password-free error."""
        try:
            yield
        except AuthenticationError:
            has_password = bool(self._redis_url and urlsplit(self._redis_url).password)
            hint = (
                "wrong password in REDIS_URL?" if has_password else "it needs a password: redis://:PASSWORD@host:port"
            )
            raise RedisPasswordRefusedError(f"Redis at {self.location} refused the connection ({hint}).") from None
        except (*CLUSTER_RETRYABLE_ERRORS, OSError) as error:
            reason = _redact(str(error), self._redis_url) or error.__class__.__name__
            raise RedisUnavailableError(f"Cannot reach Redis at {self.location}: {reason}") from None

    # -- the ChatMessageStoreProtocol ---------------------------------------

    async def add_messages(self, messages: Sequence[ChatMessage]) -> None:
        """Append in order and trim, in one transaction and one round trip."""
        payloads = [encode_message(message) for message in messages]
        if not payloads:
            return
        async with self._talking_to_redis():
            if self.cluster:  # the index lives in another slot: its own command, sent alongside
                await asyncio.gather(
                    self._append_exactly_once(payloads, with_index=False),
                    self._through_failover(lambda: self._touch_index(self._redis_client)),
                )
            else:
                await self._append_exactly_once(payloads, with_index=True)

    async def _append_exactly_once(self, payloads: Sequence[str], *, with_index: bool) -> None:
        """Send the turn's MULTI/EXEC; after a lost reply, resend it only if it did not go through.

        redis-py would resend a transaction by itself when the connection drops, and if the
        server had already run it (only the reply was lost) the turn would be saved twice.
        So the transaction also stores a fresh token, redis-py's own retry is off for it, and
        before each resend the token tells whether the earlier attempt was applied.
        """
        token = uuid.uuid4().hex
        sent = False

        async def attempt() -> None:
            one_attempt = _ONE_ATTEMPT.set(True)  # the retries are _through_failover's, not redis-py's too
            try:
                await send_once()
            finally:
                _ONE_ATTEMPT.reset(one_attempt)

        async def send_once() -> None:
            nonlocal sent
            if sent and await self._redis_client.get(self.write_token_key) == token:
                return  # applied; only its reply was lost
            if self.cluster:
                # redis-py queues each command of a cluster transaction through asyncio.run() in a
                # worker thread; if the client still has to (re)learn the topology it would do so
                # there and keep connections bound to that dead loop. Learning it here avoids that.
                await self._redis_client.initialize()
            pipe = self._redis_client.pipeline(transaction=True)
            self._queue_append(pipe, payloads)
            pipe.set(self.write_token_key, token, ex=WRITE_TOKEN_TTL_SECONDS)
            if with_index:
                pipe.zadd(self.recent_threads_key, {self.thread_id: time.time()})
            sent = True
            replies = await pipe.execute(raise_on_error=False)
            turn_replies, index_replies = (replies[:-1], replies[-1:]) if with_index else (replies, [])
            for reply in turn_replies:  # the turn itself failed (e.g. the key is not a list)
                if isinstance(reply, Exception):
                    raise reply
            for reply in index_replies:  # the turn is saved; only the index is unusable
                if isinstance(reply, Exception):
                    self._warn_index_unusable(reply)

        await self._through_failover(attempt, single_server_retries=RETRIES)

    async def _touch_index(self, client: Any) -> None:
        """Mark this thread as just used; a foreign key where the index should be only costs a warning."""
        try:
            await client.zadd(self.recent_threads_key, {self.thread_id: time.time()})
        except ResponseError as error:
            self._warn_index_unusable(error)

    def _warn_index_unusable(self, error: Exception) -> None:
        logger.warning(
            "%s is not the sorted set this store keeps its thread index in (%s); left as it is",
            self.recent_threads_key,
            error,
        )

    def _queue_append(self, pipe: Any, payloads: Sequence[str]) -> Any:
        """RPUSH, then LTRIM and EXPIRE when set: all on the thread's own key, so one hash slot."""
        pipe.rpush(self.redis_key, *payloads)
        if self.max_messages:
            pipe.ltrim(self.redis_key, -self.max_messages, -1)
        if self.ttl_seconds:
            pipe.expire(self.redis_key, self.ttl_seconds)
        return pipe

    async def list_messages(self) -> list[ChatMessage]:
        """The whole thread, oldest first; entries that are not messages are skipped (one warning
        per distinct entry and store), never deleted."""
        try:
            async with self._talking_to_redis():
                raw_entries = await self._through_failover(lambda: self._redis_client.lrange(self.redis_key, 0, -1))
        except ResponseError as error:
            if not str(error).startswith("WRONGTYPE"):
                raise
            logger.warning("%s is not a list, so it holds no messages; left as it is", self.redis_key)
            return []
        messages: list[ChatMessage] = []
        for index, raw in enumerate(raw_entries):
            try:
                messages.append(decode_message(raw))
            except ValueError as error:
                if hash(raw) not in self._reported_entries:
                    self._reported_entries.add(hash(raw))
                    logger.warning("Skipping entry %d of %s: %s", index, self.redis_key, error)
        return messages

    async def count_messages(self) -> int:
        async with self._talking_to_redis():
            return int(await self._redis_client.llen(self.redis_key))

    async def clear(self) -> None:
        """Delete this thread's history and forget it in the recency index."""
        async with self._talking_to_redis():
            if self.cluster:
                await self._write_on_cluster(
                    lambda pipe: pipe.delete(self.redis_key, self.write_token_key),
                    lambda client: client.zrem(self.recent_threads_key, self.thread_id),
                )
                return
            pipe = self._redis_client.pipeline(transaction=True)
            pipe.delete(self.redis_key, self.write_token_key)
            pipe.zrem(self.recent_threads_key, self.thread_id)
            await pipe.execute()

    # -- on a Redis Cluster ------------------------------------------------------

    async def _write_on_cluster(
        self, queue_thread_commands: Callable[[Any], Any], update_index: Callable[[Any], Awaitable[Any]]
    ) -> None:
        """A write on a cluster: the thread's own MULTI/EXEC, and the recency index beside it.

        The index key hashes to another slot, usually on another node, so it cannot join the
        transaction (CROSSSLOT); it goes as its own command, concurrently. Each part rides out
        a failover on its own, so a failed index update never makes the messages go in twice.
        """

        async def thread_transaction() -> Any:
            # redis-py queues each command of a cluster transaction through asyncio.run() in a
            # worker thread; if the client still has to (re)learn the topology, it would do so
            # there and keep connections bound to that dead loop. Learning it here avoids that.
            await self._redis_client.initialize()
            return await queue_thread_commands(self._redis_client.pipeline(transaction=True)).execute()

        await asyncio.gather(
            self._through_failover(thread_transaction),
            self._through_failover(lambda: update_index(self._redis_client)),
        )

    async def _through_failover(self, operation: Callable[[], Awaitable[T]], *, single_server_retries: int = 0) -> T:
        """Run ``operation``, retrying while the server is briefly away.

        On a cluster, redis-py gives up sooner than the engine can elect a new primary, so this
        waits up to CLUSTER_FAILOVER_WAIT_SECONDS. On a single server redis-py's own retries
        are enough, except for what runs with them off (``single_server_retries`` more tries).
        A refused password is never retried.
        """
        retryable = CLUSTER_RETRYABLE_ERRORS if self.cluster else (RedisConnectionError, RedisTimeoutError)
        started = time.monotonic()
        delay = 0.1 if self.cluster else RETRY_BACKOFF_BASE
        failures = 0
        while True:
            try:
                result = await operation()
            except retryable as error:
                if isinstance(error, AuthenticationError):
                    raise
                failures += 1
                if self.cluster:
                    out_of_time = time.monotonic() - started + delay > CLUSTER_FAILOVER_WAIT_SECONDS
                else:
                    out_of_time = failures > single_server_retries
                if out_of_time:
                    raise
                logger.debug("Redis unavailable (%s); retrying in %.1fs", error.__class__.__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if failures:  # say how long it waited, for whoever watches failovers
                waited = time.monotonic() - started
                logger.warning("Redis answered for %s after waiting %.2fs", self.redis_key, waited)
            return result

    async def ping(self) -> None:
        async with self._talking_to_redis():
            await self._redis_client.ping()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._redis_client.aclose()

    # -- finding saved threads ----------------------------------------------

    async def list_saved_threads(self, limit: int | None = None) -> list[SavedThread]:
        """Threads under this store's prefix, most recently written first.

        With ``limit`` the recency index answers (cost independent of how many
        threads exist); without it every list-typed key is found with SCAN.
        """
        async with self._talking_to_redis():
            if limit is None:
                return await self._scan_saved_threads()
            if limit <= 0:
                return []
            try:
                first_page = await self._recent_page(0, limit)
            except ResponseError as error:  # someone else's key where the index should be
                self._warn_index_unusable(error)
                return (await self._scan_saved_threads())[:limit]
            if not first_page and await self.rebuild_thread_index():  # threads written by other tools
                first_page = await self._recent_page(0, limit)
            return await self._recent_saved_threads(limit, first_page)

    async def rebuild_thread_index(self) -> int:
        """Index threads written by other tools (the lab's store, Microsoft's); returns how many were added."""
        async with self._talking_to_redis():
            keys = [key async for key in self._scan_thread_keys()]
            if not keys:
                return 0
            idle = await self._idle_seconds(keys)
            now = time.time()
            scores = {self._thread_id_of(key): now - idle.get(key, 0) for key in keys}
            return int(await self._redis_client.zadd(self.recent_threads_key, scores, nx=True))

    async def _scan_thread_keys(self) -> Any:
        pattern = f"{_escape_glob(self.key_prefix)}:*"
        async for key in self._redis_client.scan_iter(match=pattern, count=1000, _type="list"):
            yield key

    def _thread_id_of(self, key: str) -> str:
        return key[len(self.key_prefix) + 1 :]

    async def _idle_seconds(self, keys: Sequence[str]) -> dict[str, float]:
        """How long each key has gone unused, as a stand-in for recency where the index has none."""
        pipe = self._redis_client.pipeline(transaction=False)
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
        """Counts and previews for the given threads; also the ids whose key is gone or is not a list."""
        pipe = self._redis_client.pipeline(transaction=False)
        for thread_id in thread_ids:
            key = f"{self.key_prefix}:{thread_id}"
            pipe.llen(key)
            pipe.lrange(key, 0, 1)
        replies = await pipe.execute(raise_on_error=False)
        found: list[SavedThread] = []
        gone: list[str] = []
        for position, thread_id in enumerate(thread_ids):
            count, head = replies[2 * position], replies[2 * position + 1]
            if isinstance(count, Exception) or isinstance(head, Exception) or not count:
                gone.append(thread_id)
                continue
            first_user = next((raw for raw in head if '"user"' in raw), head[0] if head else None)
            found.append(
                SavedThread(
                    thread_id=thread_id,
                    redis_key=f"{self.key_prefix}:{thread_id}",
                    message_count=int(count),
                    preview=_message_preview(first_user),
                    last_used=last_used.get(thread_id),
                )
            )
        return found, gone

    async def _recent_page(self, start: int, size: int) -> list[tuple[str, float]]:
        return await self._redis_client.zrevrange(self.recent_threads_key, start, start + size - 1, withscores=True)

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
            if gone:  # cleared or expired since their last write: drop them from the index
                await self._forget_if_still_gone(gone)
            if len(entries) < page:  # that was the end of the index
                break
        return found[:limit]

    async def _forget_if_still_gone(self, thread_ids: Sequence[str]) -> None:
        for thread_id in thread_ids:
            key = f"{self.key_prefix}:{thread_id}"
            if await self._redis_client.type(key) in ("none",):
                await self._redis_client.zrem(self.recent_threads_key, thread_id)

    async def _scan_saved_threads(self) -> list[SavedThread]:
        keys = [key async for key in self._scan_thread_keys()]
        thread_ids = [self._thread_id_of(key) for key in keys]
        if not thread_ids:
            return []
        scores_pipe = self._redis_client.pipeline(transaction=False)
        for thread_id in thread_ids:
            scores_pipe.zscore(self.recent_threads_key, thread_id)
        scores = {
            thread_id: float(score)
            for thread_id, score in zip(thread_ids, await scores_pipe.execute(raise_on_error=False), strict=True)
            if isinstance(score, (int, float))
        }
        threads, _ = await self._describe_threads(thread_ids, scores)
        return sorted(threads, key=lambda thread: (thread.last_used or 0.0, thread.thread_id), reverse=True)

    # -- serialization hooks for AgentThread ------------------------------------

    def serialize_state(self) -> RedisStoreState:
        return RedisStoreState(
            thread_id=self.thread_id,
            key_prefix=self.key_prefix,
            max_messages=self.max_messages,
            ttl_seconds=self.ttl_seconds,
            redis_url=self._redis_url,
            cluster=self.cluster,
        )

    @classmethod
    def deserialize_state(
        cls,
        state: RedisStoreState | Mapping[str, Any],
        *,
        redis_url: str | None = None,
        redis_client: redis.Redis | RedisCluster | None = None,
        ssl_ca_certs: str | None = None,
        cluster: bool | None = None,
    ) -> RedisChatMessageStore:
        """A store for the thread the state describes; credentials come from ``_resolve_url``.

        ``cluster`` overrides the stored flag (a thread moved to or from a cluster).
        """
        if not isinstance(state, RedisStoreState):
            state = RedisStoreState.model_validate(dict(state))
        url = None if redis_client is not None else _resolve_url(redis_url, state.redis_url)
        return cls(
            redis_url=url,
            thread_id=state.thread_id,
            key_prefix=state.key_prefix,
            max_messages=state.max_messages,
            ttl_seconds=state.ttl_seconds,
            ssl_ca_certs=ssl_ca_certs,
            redis_client=redis_client,
            cluster=state.cluster if cluster is None else cluster,
        )

    async def serialize(self, **kwargs: Any) -> RedisStoreSnapshot:
        """The protocol's ``messages`` (empty: Redis holds them) plus ``store_metadata``."""
        return RedisStoreSnapshot(store_metadata=self.serialize_state().model_dump())

    @classmethod
    async def deserialize(
        cls, serialized_store_state: MutableMapping[str, Any], **kwargs: Any
    ) -> RedisChatMessageStore:
        """Rebuild from ``serialize()`` output with the first connection URL that answers.

        The snapshot holds no credentials, so the candidates are, in order: an explicit
        ``redis_url=``, ``REDIS_URL`` from the environment, and the stored URL as it is.
        """
        state = _state_from_serialized(serialized_store_state)
        if kwargs.get("redis_client") is not None:
            return cls.deserialize_state(state, redis_client=kwargs["redis_client"], cluster=kwargs.get("cluster"))
        failures: list[str] = []
        for url in _candidate_urls(kwargs.get("redis_url"), state.redis_url):
            store = cls.deserialize_state(
                state, redis_url=url, ssl_ca_certs=kwargs.get("ssl_ca_certs"), cluster=kwargs.get("cluster")
            )
            try:
                await store.ping()
            except RedisUnavailableError as error:
                await store.aclose()
                failures.append(str(error))
                continue
            return store
        if not failures:
            raise ValueError(
                "No usable redis_url: pass redis_url=..., or set REDIS_URL, to reconnect this thread to Redis."
            )
        raise RedisUnavailableError("Could not reconnect the thread to Redis. " + " ".join(failures))

    async def update_from_state(self, serialized_store_state: MutableMapping[str, Any], **kwargs: Any) -> None:
        """Point this instance at the thread in the state (reconnecting if the URL changes)."""
        if not serialized_store_state:
            return
        state = _state_from_serialized(serialized_store_state)
        self.thread_id = state.thread_id
        self.key_prefix = state.key_prefix
        self.max_messages = state.max_messages
        self.ttl_seconds = state.ttl_seconds
        cluster = state.cluster if kwargs.get("cluster") is None else bool(kwargs["cluster"])
        reconnect = cluster != self.cluster
        self.cluster = cluster
        if kwargs.get("redis_client") is not None:
            if self._owns_client:
                await self._redis_client.aclose()
            self._redis_client, self._owns_client, self._redis_url = kwargs["redis_client"], False, None
            return
        url = _resolve_url(kwargs.get("redis_url"), state.redis_url, current=self._redis_url)
        if url != self._redis_url or reconnect:
            if self._owns_client:
                await self._redis_client.aclose()
            self._redis_url = url
            self._redis_client = self._connect(url)
            self._owns_client = True


def _state_from_serialized(serialized: Mapping[str, Any]) -> RedisStoreState:
    metadata = serialized.get("store_metadata") if isinstance(serialized, Mapping) else None
    if not isinstance(metadata, Mapping) or not metadata.get("thread_id"):
        raise ValueError(
            "This snapshot has no Redis store_metadata; it was not written by RedisChatMessageStore.serialize()."
        )
    return RedisStoreState.model_validate(dict(metadata))


def _candidate_urls(explicit: str | None, stored: str | None) -> list[str]:
    """Credentials are never stored, so try the caller's URL, then REDIS_URL, then the stored one."""
    candidates = [explicit, os.environ.get("REDIS_URL"), stored]
    return list(dict.fromkeys(url for url in candidates if url))


def _resolve_url(explicit: str | None, stored: str | None, current: str | None = None) -> str:
    """The first candidate URL, without trying it (for code paths that cannot wait for a ping)."""
    candidates = _candidate_urls(explicit, current or stored)
    if not candidates:
        raise ValueError(
            "No usable redis_url: pass redis_url=..., or set REDIS_URL, to reconnect this thread to Redis."
        )
    return candidates[0]


async def resume_thread(
    snapshot: Mapping[str, Any] | str, *, redis_url: str | None = None, **kwargs: Any
) -> AgentThread:
    """Rebuild an ``AgentThread`` on its Redis history from ``await thread.serialize()`` output.

    ``agent.deserialize_thread`` cannot do this: it makes a new store through the
    factory and copies the snapshot's (empty) messages into it (trap 2 in the notes).
    """
    if isinstance(snapshot, str):
        snapshot = json.loads(snapshot)
    store_state = snapshot.get("chat_message_store_state") if isinstance(snapshot, Mapping) else None
    if not isinstance(store_state, Mapping):
        raise ValueError("Not an AgentThread snapshot with a message store (no chat_message_store_state).")
    store = await RedisChatMessageStore.deserialize(dict(store_state), redis_url=redis_url, **kwargs)
    return AgentThread(message_store=store)
