"""The lab's ``ChatMessageStore``: an agent thread's history in a Redis list.

The lab's protocol, as the framework calls it:

- ``add_messages``: RPUSH the turn, then LTRIM to ``max_messages`` (one MULTI/EXEC);
- ``list_messages``: LRANGE 0 -1, each entry back into a ``ChatMessage``; with ``context_messages=N``,
  what the model is sent instead: a summary of the older messages (kept beside the thread in Redis,
  written by ``summarizer``) and the newest N (``lab11_persistence.redis_history.window``);
- ``serialize`` / ``deserialize`` / ``update_from_state``: only what it takes to reconnect (thread id,
  key prefix, limits, the URL without credentials), because Redis already holds the transcript;
- ``serialize_state`` / ``deserialize_state``: the same as a ``RedisStoreState`` dict.

The Redis work itself (the transaction, retries, failover, listing threads) is the package's
``lab11_persistence.redis_history``, shared with the Agent Framework 1.x provider. Entries are
``ChatMessage.to_dict()`` as compact JSON, the layout of Microsoft's ``agent_framework_redis`` store, so
each reads the other's threads; the list-like methods of Microsoft's store are in
``lab11_persistence.lab_release.microsoft_list_methods``. Given ``application_id`` (and optionally
``tenant_id``, ``agent_id``), a thread lives at the scoped key of Microsoft's 1.x provider instead,
in the 1.x JSON that provider reads.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any, ClassVar

from agent_framework import AgentThread, ChatMessage
from agent_framework._threads import ChatMessageStoreState
from pydantic import BaseModel, field_validator

from lab11_persistence.lab_release.microsoft_list_methods import MicrosoftListMethods
from lab11_persistence.redis_history.connection import (
    RedisClient,
    RedisEndpoint,
    RedisPasswordRefusedError,
    RedisUnavailableError,
    describe_redis_url,
    url_without_credentials,
)
from lab11_persistence.redis_history.history import RedisHistory, SavedThread
from lab11_persistence.redis_history.keys import new_thread_id
from lab11_persistence.redis_history.message_json import encode_entry, lab_message_dict, normalize, v1_message_dict
from lab11_persistence.redis_history.summary import Summary, read_summary
from lab11_persistence.redis_history.window import SETTLE_SECONDS, ContextWindow, Summarizer
from lab11_persistence.summaries import summary_for_model

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


class RedisStoreState(BaseModel):
    """What it takes to reconnect to a thread: stored in thread snapshots, so never a secret."""

    thread_id: str
    key_prefix: str = "chat_messages"
    max_messages: int | None = None
    ttl_seconds: int | None = None
    redis_url: str | None = None
    cluster: bool = False
    # Microsoft's scoped keys (None: the lab's layout)
    tenant_id: str | None = None
    application_id: str | None = None
    agent_id: str | None = None
    source_id: str | None = None

    @field_validator("redis_url")
    @classmethod
    def _strip_credentials(cls, value: str | None) -> str | None:
        return url_without_credentials(value) if value else value


class RedisStoreSnapshot(ChatMessageStoreState, Mapping[str, Any]):
    """What ``serialize()`` returns: ``{"messages": [], "store_metadata": {...}}``.

    A ``ChatMessageStoreState`` rather than a plain dict: ``AgentThread.serialize`` rebuilds plain
    dicts through ``ChatMessageStoreState`` and drops every key but ``messages`` (trap 1 in the
    notes), while an instance is serialized with all its fields.
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


class RedisChatMessageStore(MicrosoftListMethods):
    """The lab's ``ChatMessageStoreProtocol`` implementation on a Redis list.

    Connect with exactly one of: ``redis_url``; ``credential_provider`` with ``host`` (Microsoft
    Entra ID); ``redis_client`` (borrowed, never closed here); or a ``history`` to share.
    ``tenant_id``, ``application_id``, ``agent_id``, ``key_format`` and ``source_id`` choose the key as
    Microsoft's 1.x ``RedisHistoryProvider`` does; with none of them, the lab's ``{key_prefix}:{thread_id}``.
    ``context_messages`` and ``summarizer`` bound what the model is sent; without them, the lab's store.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        thread_id: str | None = None,
        key_prefix: str = "chat_messages",
        max_messages: int | None = None,
        *,
        credential_provider: Any = None,
        host: str | None = None,
        port: int = 6380,
        ssl: bool = True,
        username: str | None = None,
        messages: Sequence[ChatMessage] | None = None,
        ttl_seconds: int | None = None,
        ssl_ca_certs: str | None = None,
        redis_client: RedisClient | None = None,
        cluster: bool = False,
        history: RedisHistory | None = None,
        context_messages: int | None = None,
        summarizer: Summarizer | None = None,
        tenant_id: str | None = None,
        application_id: str | None = None,
        agent_id: str | None = None,
        key_format: str | None = None,
        source_id: str = "redis_memory",
    ) -> None:
        self.redis_url = redis_url
        self.thread_id = thread_id or new_thread_id()
        self.history = history or RedisHistory.connect(  # the arguments in Microsoft's order
            redis_url, credential_provider, host, port, ssl, username, redis_client=redis_client,
            ssl_ca_certs=ssl_ca_certs, cluster=cluster, key_prefix=key_prefix, max_messages=max_messages,
            ttl_seconds=ttl_seconds, tenant_id=tenant_id, application_id=application_id, agent_id=agent_id,
            key_format=key_format, source_id=source_id,
        )  # fmt: skip
        self._initial_messages = list(messages or [])
        self.context_messages, self.summarizer = context_messages, summarizer
        self._window: ContextWindow | None = None

    # -- identity ------------------------------------------------------------------------------

    key_prefix = property(lambda self: self.history.key_prefix)
    max_messages = property(lambda self: self.history.max_messages)
    ttl_seconds = property(lambda self: self.history.ttl_seconds)
    cluster = property(lambda self: self.history.cluster)
    location = property(lambda self: self.history.location, doc="Where the data lives, without credentials.")

    @property
    def redis_key(self) -> str:
        return self.history.key(self.thread_id)

    @property
    def _redis_client(self) -> RedisClient:
        """The Redis client, under the name the lab's listing and Microsoft's store give it (their tests
        close a store with ``await store._redis_client.aclose()``); ``aclose()`` is the store's own way."""
        return self.history.client

    def __repr__(self) -> str:
        return (
            f"RedisChatMessageStore(thread_id={self.thread_id!r}, key_prefix={self.key_prefix!r}, "
            f"max_messages={self.max_messages!r}, redis={self.location!r})"
        )

    def __bool__(self) -> bool:
        """Always true: ``__len__`` is a coroutine here (as in Microsoft's store), so ``bool()`` must not call it."""
        return True

    @property
    def window(self) -> ContextWindow | None:
        """The model's window over this store's history, with ``context_messages``; else None."""
        if not self.context_messages:
            return None
        if self._window is None or self._window.history is not self.history:
            self._window = ContextWindow(self.history, self.context_messages, self.summarizer)
        return self._window

    def for_thread(self, thread_id: str) -> RedisChatMessageStore:
        """A store for another thread with the same connection, limits and window (its own pool when built
        from a URL)."""
        store = type(self)(
            thread_id=thread_id,
            history=self.history.sibling(),
            context_messages=self.context_messages,
            summarizer=self.summarizer,
        )
        store.redis_url = self.redis_url
        return store

    # -- how a message is stored and read back: override these to store another shape --------

    def encode_message(self, message: ChatMessage | Mapping[str, Any] | str) -> str:
        """``ChatMessage.to_dict()`` as compact JSON; a dict is stored as it is, a bare string as a user message.

        On a scoped key, in the 1.x shape, which Microsoft's 1.x provider reads there."""
        if isinstance(message, str):
            message = ChatMessage(role="user", text=message)
        payload = message.to_dict() if hasattr(message, "to_dict") else dict(message)
        return encode_entry(v1_message_dict(normalize(payload)) if self.history.layout.scoped else payload)

    def decode_message(self, message: dict[str, Any]) -> ChatMessage:
        """A message of any release, as ``message_json`` normalized it."""
        return ChatMessage.from_dict(lab_message_dict(message))

    @staticmethod
    def read_as_written(payload: dict[str, Any]) -> ChatMessage:
        """An entry in this release's own shape, read as ``ChatMessage.from_dict`` reads it (the fast path)."""
        if payload.get("type") != "chat_message":
            raise ValueError("not this release's shape")
        return ChatMessage.from_dict(payload)

    # -- the ChatMessageStoreProtocol ------------------------------------------------------------

    async def add_messages(self, messages: Sequence[ChatMessage]) -> None:
        """RPUSH the messages and LTRIM to ``max_messages``: one MULTI/EXEC, saved exactly once.

        With a window and a summarizer, nothing is trimmed here: what falls out of the window is folded
        into the summary after the turn, and only then trimmed. Without a window, the lab's LTRIM.
        """
        await self.ensure_initial_messages()
        entries = [self.encode_message(message) for message in messages]
        summarized = self.window is not None and self.window.summarizes
        length = await self.history.append(self.thread_id, entries, summarized=summarized)
        if self.window is not None:
            self.window.fold_soon(self.thread_id, length)

    async def list_messages(self) -> list[ChatMessage]:
        """LRANGE 0 -1, oldest first; entries that are not messages are skipped (one warning each), never deleted.

        With ``context_messages``, what the model is sent: the summary (a system message) and the newest
        messages, read in one round trip.
        """
        await self.ensure_initial_messages()
        if self.window is None:
            return await self.list_all_messages()
        summary, entries, first_index = (await self.window.read_for_turn(self.thread_id)).for_model()
        messages = self.history.decode(
            self.thread_id, entries, self.decode_message, read_as_written=self.read_as_written, first_index=first_index
        )
        if summary is not None:
            messages.insert(0, ChatMessage(role="system", text=summary_for_model(summary.text, summary.covers)))
        return messages

    async def list_all_messages(self) -> list[ChatMessage]:
        """Every stored message, oldest first, whatever the window (what ``lab11 show`` shows)."""
        await self.ensure_initial_messages()
        return await self.history.messages(self.thread_id, self.decode_message, read_as_written=self.read_as_written)

    async def summary(self) -> Summary | None:
        """The thread's summary of the messages that fell out of the window; None when there is none."""
        return await read_summary(self.history, self.thread_id)

    async def ensure_initial_messages(self) -> None:
        """Write ``messages=`` into the thread if it is empty: once, even when stores race to do it."""
        if self._initial_messages:
            initial, self._initial_messages = self._initial_messages, []
            await self.history.append_if_empty(self.thread_id, [self.encode_message(m) for m in initial])

    async def clear(self) -> None:
        """Delete this thread's history and forget it in the recency index."""
        await self.history.clear(self.thread_id)

    async def aclose(self) -> None:
        """Close the connection, once a summary still being written has landed (or, after a few seconds, been
        abandoned: that leaves the previous summary and every message as they were)."""
        if self._window is not None:
            await self._window.settle(timeout=SETTLE_SECONDS)
        await self.history.aclose()

    # -- serialization hooks for AgentThread -----------------------------------------------------

    def current_state(self) -> RedisStoreState:
        return RedisStoreState(**self.history.state_of(self.thread_id))

    async def serialize_state(self) -> dict[str, Any]:
        """The lab's call: this store's ``RedisStoreState`` as a dict (credential-free)."""
        return self.current_state().model_dump()

    async def deserialize_state(self, state: RedisStoreState | Mapping[str, Any], **kwargs: Any) -> None:
        """The lab's call: point this store at the state's thread, prefix and limits.

        When the state names the server this store already talks to, its working credentials are kept.
        """
        await self._repoint(_as_state(state), **kwargs)

    async def serialize(self, **kwargs: Any) -> RedisStoreSnapshot:
        """The protocol's ``messages`` (empty: Redis holds them) plus ``store_metadata``."""
        return RedisStoreSnapshot(store_metadata=await self.serialize_state())

    @classmethod
    def from_state(
        cls,
        state: RedisStoreState | Mapping[str, Any],
        *,
        redis_url: str | None = None,
        redis_client: RedisClient | None = None,
        ssl_ca_certs: str | None = None,
        cluster: bool | None = None,
    ) -> RedisChatMessageStore:
        """A new store for the state's thread, on the first candidate URL (not tried here).

        ``cluster`` overrides the stored flag (a thread moved to or from a cluster).
        """
        state = _as_state(state)
        url = None if redis_client is not None else _candidate_urls(redis_url, state.redis_url)[0]
        return cls(
            redis_url=url,
            thread_id=state.thread_id,
            key_prefix=state.key_prefix,
            max_messages=state.max_messages,
            ttl_seconds=state.ttl_seconds,
            ssl_ca_certs=ssl_ca_certs,
            redis_client=redis_client,
            cluster=state.cluster if cluster is None else cluster,
            **_scope_of(state),
        )

    @classmethod
    async def deserialize(
        cls, serialized_store_state: MutableMapping[str, Any], **kwargs: Any
    ) -> RedisChatMessageStore:
        """Rebuild from ``serialize()`` output with the first connection URL that answers.

        The snapshot holds no credentials, so the candidates are, in order: an explicit
        ``redis_url=``, ``REDIS_URL`` from the environment, and the stored URL as it is.
        """
        state = _state_from_serialized(serialized_store_state)
        options = {"ssl_ca_certs": kwargs.get("ssl_ca_certs"), "cluster": kwargs.get("cluster")}
        if kwargs.get("redis_client") is not None:
            return cls.from_state(state, redis_client=kwargs["redis_client"], cluster=kwargs.get("cluster"))
        failures: list[str] = []
        for url in _candidate_urls(kwargs.get("redis_url"), state.redis_url):
            store = cls.from_state(state, redis_url=url, **options)
            try:
                await store.history.ping()
            except RedisUnavailableError as error:
                await store.aclose()
                failures.append(str(error))
                continue
            return store
        raise RedisUnavailableError("Could not reconnect the thread to Redis. " + " ".join(failures))

    async def update_from_state(self, serialized_store_state: MutableMapping[str, Any], **kwargs: Any) -> None:
        """Point this instance at the thread in the state (reconnecting if the server changes)."""
        if serialized_store_state:
            await self._repoint(_state_from_serialized(serialized_store_state), **kwargs)

    async def _repoint(
        self,
        state: RedisStoreState,
        *,
        redis_url: str | None = None,
        redis_client: RedisClient | None = None,
        cluster: bool | None = None,
        **_: Any,
    ) -> None:
        settings = {
            "key_prefix": state.key_prefix,
            "max_messages": state.max_messages,
            "ttl_seconds": state.ttl_seconds,
            **_scope_of(state),
        }
        cluster = state.cluster if cluster is None else cluster
        endpoint = self.history.endpoint
        same_server = redis_url is None and (
            state.redis_url is None
            if endpoint is None
            else (endpoint.public_url, endpoint.cluster) == (state.redis_url, cluster)
        )
        if redis_client is not None:
            history, self.redis_url = RedisHistory(redis_client, **settings), None
        elif same_server:  # keep the connection, and so the credentials that work
            history = self.history.reconfigured(**settings)
        else:
            url = _candidate_urls(redis_url, state.redis_url)[0]
            new_endpoint = (
                endpoint.with_url(url, cluster=cluster) if endpoint else RedisEndpoint(url=url, cluster=cluster)
            )
            history, self.redis_url = RedisHistory.open(new_endpoint, **settings), url
        if self._window is not None:
            await self._window.settle(timeout=SETTLE_SECONDS)
        await self.history.aclose()
        self.history, self.thread_id = history, state.thread_id

    # -- beyond the protocol ---------------------------------------------------------------------

    async def list_saved_threads(self, limit: int | None = None) -> list[SavedThread]:
        """Threads under this store's prefix, most recently written first (see ``RedisHistory.list_threads``)."""
        return await self.history.list_threads(limit)

    async def count_messages(self) -> int:
        return await self.count()


def _as_state(state: RedisStoreState | Mapping[str, Any]) -> RedisStoreState:
    return state if isinstance(state, RedisStoreState) else RedisStoreState.model_validate(dict(state))


def _scope_of(state: RedisStoreState) -> dict[str, Any]:
    """The state's scope arguments (none for a thread in the lab's layout)."""
    if state.application_id is None:
        return {}
    scope = {"tenant_id": state.tenant_id, "application_id": state.application_id, "agent_id": state.agent_id}
    return {**scope, "source_id": state.source_id} if state.source_id is not None else scope


def _state_from_serialized(serialized: Mapping[str, Any]) -> RedisStoreState:
    metadata = serialized.get("store_metadata") if isinstance(serialized, Mapping) else None
    if not isinstance(metadata, Mapping) or not metadata.get("thread_id"):
        raise ValueError(
            "This snapshot has no Redis store_metadata; it was not written by RedisChatMessageStore.serialize()."
        )
    return _as_state(metadata)


def _candidate_urls(explicit: str | None, stored: str | None) -> list[str]:
    """Credentials are never stored, so try the caller's URL, then REDIS_URL, then the stored one."""
    candidates = list(dict.fromkeys(url for url in (explicit, os.environ.get("REDIS_URL"), stored) if url))
    if not candidates:
        raise ValueError(
            "No usable redis_url: pass redis_url=..., or set REDIS_URL, to reconnect this thread to Redis."
        )
    return candidates


async def resume_thread(
    snapshot: Mapping[str, Any] | str, *, redis_url: str | None = None, **kwargs: Any
) -> AgentThread:
    """Rebuild an ``AgentThread`` on its Redis history from ``await thread.serialize()`` output.

    ``agent.deserialize_thread`` cannot do this: it makes a new store through the factory and
    copies the snapshot's (empty) messages into it (trap 2 in the notes).
    """
    if isinstance(snapshot, str):
        snapshot = json.loads(snapshot)
    store_state = snapshot.get("chat_message_store_state") if isinstance(snapshot, Mapping) else None
    if not isinstance(store_state, Mapping):
        raise ValueError("Not an AgentThread snapshot with a message store (no chat_message_store_state).")
    store = await RedisChatMessageStore.deserialize(dict(store_state), redis_url=redis_url, **kwargs)
    return AgentThread(message_store=store)
