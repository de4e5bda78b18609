"""The lab's ``ChatMessageStore``: an agent thread's history in a Redis list.

- ``add_messages``: RPUSH the turn, then LTRIM to ``max_messages`` (one MULTI/EXEC);
- ``list_messages``: LRANGE 0 -1, each entry back into a ``ChatMessage``; with ``context_messages=N``,
  a summary of the older messages (written by ``summarizer``) and the newest N (``redis_history.window``);
- ``serialize`` / ``deserialize`` / ``update_from_state`` (``*_state``: the same as a ``RedisStoreState`` dict):
  only what it takes to reconnect (thread id, key prefix, limits, the URL without credentials), not the transcript.

The rest (a turn saved once and confirmed by replicas, retries, failover, the window, listing, sealing) is
``lab11_persistence.redis_history``, shared with the 1.x provider; Microsoft's list methods and snapshot rules are
``lab11_persistence.store_compat``. Entries are ``ChatMessage.to_dict()`` as compact JSON, as Microsoft's store
writes them (on scoped keys: 1.x JSON; with ``encryption_keys``: sealed by the core, docs/encryption.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping, Sequence
from functools import partial
from typing import Any

from agent_framework import AgentThread, ChatMessage
from pydantic import BaseModel, field_validator

from lab11_persistence.redis_history.connection import (
    RedisClient,
    RedisConnection,
    RedisPasswordRefusedError,
    RedisUnavailableError,
    describe_redis_url,
    url_without_credentials,
)
from lab11_persistence.redis_history.history import RedisHistory, SavedThread
from lab11_persistence.redis_history.keys import KeyLayout, new_thread_id
from lab11_persistence.redis_history.message_json import encode_entry, lab_message_dict, normalize, v1_message_dict
from lab11_persistence.redis_history.window import SETTLE_SECONDS, ContextWindow, Summarizer
from lab11_persistence.store_compat import snapshots
from lab11_persistence.store_compat.extras import StoreExtras
from lab11_persistence.store_compat.list_methods import MicrosoftListMethods
from lab11_persistence.store_compat.snapshots import RedisStoreSnapshot
from lab11_persistence.summaries import summary_for_model

__all__ = ["RedisChatMessageStore", "RedisPasswordRefusedError", "RedisStoreState", "RedisUnavailableError"]
__all__ += ["SavedThread", "describe_redis_url", "resume_thread", "url_without_credentials"]


class RedisStoreState(BaseModel):
    """What it takes to reconnect to a thread: stored in thread snapshots, so never a secret."""

    thread_id: str
    key_prefix: str = "chat_messages"
    max_messages: int | None = None
    ttl_seconds: int | None = None
    redis_url: str | None = None
    cluster: bool = False
    tenant_id: str | None = None  # this and the next three: Microsoft's scoped keys (None: the lab's layout)
    application_id: str | None = None
    agent_id: str | None = None
    source_id: str | None = None

    @field_validator("redis_url")
    @classmethod
    def _strip_credentials(cls, value: str | None) -> str | None:
        return url_without_credentials(value) if value else value


class RedisChatMessageStore(MicrosoftListMethods, StoreExtras):
    """The lab's ``ChatMessageStoreProtocol`` implementation on a Redis list.

    Connect with exactly one of: ``redis_url`` (``redis+sentinel://`` too); ``credential_provider`` with ``host``
    (Entra ID); ``redis_client`` (borrowed, never closed here); or a ``history`` to share. Scope arguments choose the
    key as Microsoft's 1.x provider does; ``context_messages`` and ``summarizer`` bound what the model is sent;
    ``encryption_keys`` (``"ID:KEY,..."``) seals entries; ``min_replicas`` replicas must hold each turn."""

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
        encryption_keys: str | Sequence[str] | None = None,
        min_replicas: int = 0,
        replica_timeout_ms: int | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.thread_id = thread_id or new_thread_id()
        if history is None:  # one connection and one key layout, each built in one place
            # the connection arguments in RedisConnection's order: Microsoft's six, then the client and two options
            connection = RedisConnection(
                redis_url, credential_provider, host, port, ssl, username, redis_client, ssl_ca_certs, cluster
            )
            scope = {"tenant_id": tenant_id, "application_id": application_id, "agent_id": agent_id}
            layout = KeyLayout.resolve(key_prefix, key_format=key_format, source_id=source_id, **scope)
            limits = {"max_messages": max_messages, "ttl_seconds": ttl_seconds, "encryption_keys": encryption_keys}
            replicas = {"min_replicas": min_replicas, "replica_timeout_ms": replica_timeout_ms}
            history = RedisHistory.over(connection, layout=layout, **limits, **replicas)
        self.history, self._initial_messages = history, list(messages or [])
        self.context_messages, self.summarizer = context_messages, summarizer
        self._window: ContextWindow | None = None

    # -- identity ------------------------------------------------------------------------------

    key_prefix = property(lambda self: self.history.key_prefix)
    max_messages = property(lambda self: self.history.max_messages)

    @property
    def redis_key(self) -> str:
        return self.history.key(self.thread_id)

    def __repr__(self) -> str:
        return (
            f"RedisChatMessageStore(thread_id={self.thread_id!r}, key_prefix={self.key_prefix!r}, "
            f"max_messages={self.max_messages!r}, redis={self.location!r})"
        )

    @property
    def window(self) -> ContextWindow | None:
        """The model's window over this store's history, with ``context_messages``; else None."""
        if not self.context_messages:
            return None
        if self._window is None or self._window.history is not self.history:
            self._window = ContextWindow(self.history, self.context_messages, self.summarizer)
        return self._window

    # -- how a message is stored and read back: override these to store another shape --------

    def encode_message(self, message: ChatMessage | Mapping[str, Any] | str) -> str:
        """``ChatMessage.to_dict()`` as compact JSON (a dict as it is, a str as a user message); 1.x JSON if scoped."""
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
        """RPUSH the messages and LTRIM to ``max_messages``: one MULTI/EXEC, to which the core adds the write token
        (saved exactly once), the expiry and the recency index. With a window and a summarizer, what falls out of
        the window is trimmed only once the summary covers it (after the turn), not here."""
        await self.ensure_initial_messages()
        if not messages:
            return
        serialized = self.history.sealed(self.thread_id, [self.encode_message(message) for message in messages])
        summarized = self.window is not None and self.window.summarizes

        def the_labs_commands(pipe: Any, redis_key: str) -> None:
            pipe.rpush(redis_key, *serialized)
            if self.max_messages and not summarized:
                pipe.ltrim(redis_key, -self.max_messages, -1)

        fold = None if self.window is None else partial(self.window.fold_soon, self.thread_id)  # after the turn
        await self.history.write_turn(self.thread_id, the_labs_commands, summarized=summarized, on_saved=fold)

    async def list_messages(self) -> list[ChatMessage]:
        """LRANGE 0 -1, oldest first; entries that are not messages are skipped (one warning each), never deleted.

        With ``context_messages``, the summary (a system message) and the newest messages, in one round trip."""
        await self.ensure_initial_messages()
        if self.window is None:
            serialized = await self.history.read_list(self.thread_id, lambda client, key: client.lrange(key, 0, -1))
            return self._decode(serialized)
        summary, serialized, first_index = (await self.window.read_for_turn(self.thread_id)).for_model()
        messages = self._decode(serialized, first_index)
        if summary is not None:
            messages.insert(0, ChatMessage(role="system", text=summary_for_model(summary.text, summary.covers)))
        return messages

    def _decode(self, serialized: Sequence[str], first_index: int = 0) -> list[ChatMessage]:
        read = {"read_as_written": self.read_as_written, "first_index": first_index}
        return self.history.decode(self.thread_id, serialized, self.decode_message, **read)

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
        await self._settle()
        await self.history.aclose()

    async def _settle(self) -> None:
        if self._window is not None:
            await self._window.settle(timeout=SETTLE_SECONDS)

    # -- serialization hooks for AgentThread -----------------------------------------------------

    def current_state(self) -> RedisStoreState:
        return RedisStoreState(**self.history.state_of(self.thread_id))

    async def serialize_state(self) -> dict[str, Any]:
        """The lab's call: this store's ``RedisStoreState`` as a dict (credential-free)."""
        return self.current_state().model_dump()

    async def deserialize_state(self, state: RedisStoreState | Mapping[str, Any], **kwargs: Any) -> None:
        """The lab's call: point this store at the state's thread, prefix and limits (on the same server, with the
        credentials that work)."""
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
        cluster: bool | None = None,
        **options: Any,  # what a state never holds: ssl_ca_certs, encryption_keys
    ) -> RedisChatMessageStore:
        """A store for the state's thread on the first candidate URL (not tried); ``cluster`` overrides the state's."""
        arguments = snapshots.store_arguments(_as_state(state).model_dump(), redis_url, redis_client, cluster)
        return cls(**options, **arguments)

    @classmethod
    async def deserialize(
        cls, serialized_store_state: MutableMapping[str, Any], **kwargs: Any
    ) -> RedisChatMessageStore:
        """Rebuild from ``serialize()`` output with the first connection URL that answers.

        The snapshot holds no credentials (nor keys: give ``encryption_keys=``), so the candidates are, in order: an
        explicit ``redis_url=``, ``REDIS_URL`` from the environment, and the stored URL as it is.
        """
        state = _as_state(snapshots.store_metadata(serialized_store_state))
        options = {name: kwargs.get(name) for name in ("ssl_ca_certs", "cluster", "encryption_keys")}
        if kwargs.get("redis_client") is not None:
            return cls.from_state(state, redis_client=kwargs["redis_client"], **options)
        urls = snapshots.candidate_urls(kwargs.get("redis_url"), state.redis_url)
        return await snapshots.first_that_answers(lambda url: cls.from_state(state, redis_url=url, **options), urls)

    async def update_from_state(self, serialized_store_state: MutableMapping[str, Any], **kwargs: Any) -> None:
        """Point this instance at the thread in the state (reconnecting if the server changes)."""
        if serialized_store_state:
            await self._repoint(_as_state(snapshots.store_metadata(serialized_store_state)), **kwargs)

    async def _repoint(self, state: RedisStoreState, **kwargs: Any) -> None:
        options = {name: kwargs.get(name) for name in ("redis_url", "redis_client", "cluster")}
        self.history, self.redis_url = await snapshots.repointed(
            self.history, state.model_dump(), self.redis_url, before_closing=self._settle, **options
        )
        self.thread_id = state.thread_id


def _as_state(state: RedisStoreState | Mapping[str, Any]) -> RedisStoreState:
    return state if isinstance(state, RedisStoreState) else RedisStoreState.model_validate(dict(state))


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
