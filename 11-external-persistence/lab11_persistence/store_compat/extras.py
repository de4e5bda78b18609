"""What the package's app and commands ask of the lab's store beyond the lab's page: where it is, another
thread on the same connection, every message whatever the window, the summary, the saved threads.

Mixed into ``RedisChatMessageStore``, which provides the attributes and hooks named below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from lab11_persistence.redis_history.history import RedisHistory, SavedThread
from lab11_persistence.redis_history.summary import Summary, read_summary

if TYPE_CHECKING:  # pragma: no cover
    from agent_framework import ChatMessage

Store = TypeVar("Store", bound="StoreExtras")


class StoreExtras:
    history: RedisHistory
    thread_id: str
    redis_url: str | None
    context_messages: int | None
    summarizer: Any

    def decode_message(self, message: dict[str, Any]) -> ChatMessage:
        raise NotImplementedError

    def read_as_written(self, payload: dict[str, Any]) -> ChatMessage:
        raise NotImplementedError

    async def ensure_initial_messages(self) -> None:
        raise NotImplementedError

    ttl_seconds = property(lambda self: self.history.ttl_seconds)
    cluster = property(lambda self: self.history.cluster)
    location = property(lambda self: self.history.location, doc="Where the data lives, without credentials.")

    def for_thread(self: Store, thread_id: str) -> Store:
        """A store for another thread with the same connection, limits and window (its own pool when built
        from a URL)."""
        store = type(self)(  # type: ignore[call-arg]  # the store's constructor
            thread_id=thread_id,
            history=self.history.sibling(),
            context_messages=self.context_messages,
            summarizer=self.summarizer,
        )
        store.redis_url = self.redis_url
        return store

    async def list_all_messages(self) -> list[ChatMessage]:
        """Every stored message, oldest first, whatever the window (what ``lab11 show`` shows)."""
        await self.ensure_initial_messages()
        return await self.history.messages(self.thread_id, self.decode_message, read_as_written=self.read_as_written)

    async def summary(self) -> Summary | None:
        """The thread's summary of the messages that fell out of the window; None when there is none."""
        return await read_summary(self.history, self.thread_id)

    async def list_saved_threads(self, limit: int | None = None) -> list[SavedThread]:
        """Threads under this store's prefix, most recently written first (see ``RedisHistory.list_threads``)."""
        return await self.history.list_threads(limit)
