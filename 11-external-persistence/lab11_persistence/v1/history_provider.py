"""The lab's Redis history on Agent Framework 1.x: a ``HistoryProvider`` on the lab's key layout, or Microsoft's.

1.x replaced ``ChatMessageStore`` with ``HistoryProvider``: the agent calls ``get_messages`` before
the model and ``save_messages`` once per run with the input and the reply. A session id is the lab's
thread id (``agent.create_session(session_id=thread_id)``), so the key is the lab's
``{key_prefix}:{thread_id}`` and a thread started on the lab's release continues here, and back.
There, entries are written in the lab's JSON shape (``"type": "chat_message"``), which the lab's
store, Microsoft's 1.0.0b260130 store and this provider all read.

Given ``application_id`` (or ``key_format="scoped"``), the key is the one Microsoft's 1.x
``RedisHistoryProvider`` uses by default, ``{key_prefix}|v2|{tenant}|{application}|{agent}|{source}|{session}``,
and entries are ``Message.to_dict()``, the shape that provider reads: each reads the other's sessions.
Every older and newer shape reads back in both layouts.
The Redis work (one MULTI/EXEC per save, exactly once, retries, failover, listing) is
``redis_history``'s, shared with the lab's store; so is the window: with ``context_messages=N`` the
agent is given a summary of the older messages and the newest N (``redis_history.window``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from functools import partial
from typing import Any

from agent_framework import Content, HistoryProvider, Message

from lab11_persistence.redis_history.connection import RedisClient, RedisConnection
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.keys import KeyLayout
from lab11_persistence.redis_history.message_json import encode_entry, lab_message_dict, normalize, v1_message_dict
from lab11_persistence.redis_history.sealing import Keyring
from lab11_persistence.redis_history.summary import Summary, read_summary
from lab11_persistence.redis_history.window import SETTLE_SECONDS, ContextWindow, Summarizer
from lab11_persistence.summaries import ModelSummarizer, summary_for_model

__all__ = ["RedisHistoryProvider", "summarizer_for"]

#: What this 1.x release's ``Content`` accepts: a field written by a newer 1.x (``hosted`` is 1.23's)
#: is left out rather than making the whole entry unreadable on an older one.
CONTENT_FIELDS = frozenset(inspect.signature(Content.__init__).parameters) - {"self", "raw_representation"}


class RedisHistoryProvider(HistoryProvider):
    """Conversation history in Redis lists, one per session, constructed like Microsoft's provider.

    Connect with exactly one of: ``redis_url``; ``credential_provider`` with ``host`` (Microsoft
    Entra ID); or ``redis_client`` (borrowed, never closed here). ``tenant_id``, ``application_id``,
    ``agent_id`` and ``key_format`` are Microsoft's, with its checks; with none of them (Microsoft's
    default would refuse to start without ``application_id``) the key is the lab's, and no warning.
    ``encryption_keys`` (``"ID:KEY,..."``, a sequence of entries, or a ``Keyring``) seals every entry.
    ``redis_url`` may be a ``redis+sentinel://`` URL. With ``min_replicas=N``, ``save_messages`` returns once N
    replicas hold the run's messages, or raises ``ReplicaConfirmationError`` after ``replica_timeout_ms`` (default
    1 s): they are saved on the primary then, and are not sent again.
    """

    def __init__(
        self,
        source_id: str = "redis_memory",
        redis_url: str | None = None,
        credential_provider: Any = None,
        host: str | None = None,
        port: int = 6380,
        ssl: bool = True,
        username: str | None = None,
        *,
        redis_client: RedisClient | None = None,
        key_prefix: str = "chat_messages",
        tenant_id: str | None = None,
        application_id: str | None = None,
        agent_id: str | None = None,
        key_format: str | None = None,
        max_messages: int | None = None,
        ttl_seconds: int | None = None,
        ssl_ca_certs: str | None = None,
        cluster: bool = False,
        context_messages: int | None = None,
        summarizer: Summarizer | None = None,
        encryption_keys: str | Sequence[str] | Keyring | None = None,
        min_replicas: int = 0,
        replica_timeout_ms: int | None = None,
        **history_options: Any,
    ) -> None:
        super().__init__(source_id, **history_options)
        # the connection arguments in RedisConnection's order: Microsoft's six, then the client and two options
        connection = RedisConnection(
            redis_url, credential_provider, host, port, ssl, username, redis_client, ssl_ca_certs, cluster
        ).check_as_microsofts_provider()
        if max_messages is not None and max_messages < 0:
            raise ValueError("max_messages must be None (unlimited) or a non-negative integer")
        scope = {"tenant_id": tenant_id, "application_id": application_id, "agent_id": agent_id}
        layout = KeyLayout.resolve(key_prefix, key_format=key_format, source_id=source_id, **scope)
        self.redis_url = redis_url  # Microsoft's public attribute, as given
        self.max_messages = max_messages  # 0, as Microsoft's: nothing is saved (and nothing stored is removed)
        limits = {"max_messages": max_messages or None, "ttl_seconds": ttl_seconds}
        confirmation = {"min_replicas": min_replicas, "replica_timeout_ms": replica_timeout_ms}
        sealing = {"encryption_keys": encryption_keys}  # LAB11_ENCRYPTION_KEYS: every entry sealed by the core
        self.history = RedisHistory.over(connection, layout=layout, **limits, **confirmation, **sealing)
        self.summarizer = summarizer
        self.window = ContextWindow(self.history, context_messages, summarizer) if context_messages else None

    def __repr__(self) -> str:
        layout = self.history.layout
        scope = "".join(f", {name}={value!r}" for name, value in layout.scope.items() if name != "source_id")
        return (
            f"RedisHistoryProvider(source_id={self.source_id!r}, key_prefix={self.history.key_prefix!r}{scope}, "
            f"max_messages={self.max_messages!r}, redis={self.history.location!r})"
        )

    # Microsoft's attribute names
    key_prefix = property(lambda self: self.history.key_prefix)
    tenant_id = property(lambda self: self.history.layout.tenant_id)
    application_id = property(lambda self: self.history.layout.application_id)
    agent_id = property(lambda self: self.history.layout.agent_id)
    key_format = property(lambda self: self.history.layout.key_format)

    def redis_key(self, session_id: str | None) -> str:
        return self.history.key(self.history.layout.session_thread_id(session_id))

    async def get_messages(self, session_id: str | None, *, state: Any = None, **kwargs: Any) -> list[Message]:
        """LRANGE 0 -1, oldest first, whichever release wrote each entry; unreadable entries skipped, kept.

        With ``context_messages``, what the agent sends the model: the summary (a system message) and the
        newest messages, read in one round trip.
        """
        session_id = self.history.layout.session_thread_id(session_id)
        if self.window is None:
            return await self.all_messages(session_id)
        summary, entries, first_index = (await self.window.read_for_turn(session_id)).for_model()
        messages = self.history.decode(session_id, entries, _as_message, first_index=first_index)
        if summary is not None:
            messages.insert(0, Message("system", [summary_for_model(summary.text, summary.covers)]))
        return messages

    async def all_messages(self, session_id: str) -> list[Message]:
        """Every stored message of the session, oldest first, whatever the window."""
        return await self.history.messages(session_id, _as_message)

    async def summary(self, session_id: str) -> Summary | None:
        """The session's summary of the messages that fell out of the window; None when there is none."""
        return await read_summary(self.history, session_id)

    async def save_messages(
        self, session_id: str | None, messages: Sequence[Message], *, state: Any = None, **kwargs: Any
    ) -> None:
        """RPUSH the run's messages and LTRIM to ``max_messages``: one MULTI/EXEC, saved exactly once.

        With a window and a summarizer, what falls out of the window is folded into the summary after the run
        (and only then trimmed); without a window, the lab's LTRIM.
        """
        session_id = self.history.layout.session_thread_id(session_id)
        if self.max_messages == 0:  # Microsoft's: retention off, so not one message reaches Redis
            return
        if self.history.layout.scoped:  # where Microsoft's 1.x provider reads them: its own shape
            entries = [encode_entry(message.to_dict()) for message in messages]
        else:
            entries = [encode_entry(lab_message_dict(normalize(message.to_dict()))) for message in messages]
        summarized = self.window is not None and self.window.summarizes
        fold = None if self.window is None else partial(self.window.fold_soon, session_id)  # confirmed or not
        await self.history.append(session_id, entries, summarized=summarized, on_saved=fold)

    async def clear(self, session_id: str | None) -> None:
        await self.history.clear(self.history.layout.session_thread_id(session_id))

    async def aclose(self) -> None:
        """Close the connection, once a summary still being written has landed (or been abandoned)."""
        if self.window is not None:
            await self.window.settle(timeout=SETTLE_SECONDS)
        await self.history.aclose()


def summarizer_for(chat_client: Any) -> Summarizer:
    """``chat_client`` (an Agent Framework 1.x chat client) asked to summarize what fell out of the window."""
    return ModelSummarizer(chat_client, lambda role, text: Message(role, [text]))


def _as_message(message: dict[str, Any]) -> Message:
    return Message.from_dict(v1_message_dict(message, CONTENT_FIELDS))
