"""The list-like methods of Microsoft's ``agent_framework_redis.RedisChatMessageStore`` (1.0.0b260130).

Code written against Microsoft's store calls these; the lab never does. They raise what Microsoft's
raise (``IndexError``, ``ValueError``) and, like theirs, are coroutines: ``await store.__len__()``,
``await store.getitem(0)``. Messages are matched by their decoded content, not by the bytes of their
JSON, so a message written by either store (or by another release) is found.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.message_json import decode_entry

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from agent_framework import ChatMessage


class MicrosoftListMethods:
    """Mixed into the lab's store, which provides the attributes and hooks named below."""

    history: RedisHistory
    thread_id: str

    def encode_message(self, message: ChatMessage) -> str:
        raise NotImplementedError

    def decode_message(self, message: dict[str, Any]) -> ChatMessage:
        raise NotImplementedError

    async def add_messages(self, messages: Sequence[ChatMessage]) -> None:
        raise NotImplementedError

    async def ensure_initial_messages(self) -> None:
        raise NotImplementedError

    @property
    def _redis_client(self) -> Any:
        """The Redis client, under the name the lab's listing and Microsoft's store give it (their tests
        close a store with ``await store._redis_client.aclose()``); ``aclose()`` is the store's own way."""
        return self.history.client

    def __bool__(self) -> bool:
        """Always true: ``__len__`` is a coroutine here (as in Microsoft's store), so ``bool()`` must not call it."""
        return True

    async def count(self) -> int:
        """LLEN: how many entries the thread holds."""
        await self.ensure_initial_messages()
        return await self.history.count(self.thread_id)

    async def __len__(self) -> int:  # type: ignore[misc]  # a coroutine, as in Microsoft's store
        return await self.count()

    async def count_messages(self) -> int:
        return await self.count()

    async def getitem(self, index: int) -> ChatMessage:
        """LINDEX; negative indexes count from the newest message."""
        await self.ensure_initial_messages()
        raw = await self.history.entry_at(self.thread_id, index)
        if raw is None:
            raise IndexError("list index out of range")
        return self.decode_message(decode_entry(raw))

    async def setitem(self, index: int, item: ChatMessage) -> None:
        """LSET: replace one message in place."""
        await self.ensure_initial_messages()
        await self.history.replace_at(self.thread_id, index, self.encode_message(item))

    async def append(self, item: ChatMessage) -> None:
        await self.add_messages([item])

    async def extend(self, items: Sequence[ChatMessage]) -> None:
        await self.add_messages(list(items))

    async def index(self, item: ChatMessage) -> int:
        """Where the first message equal to ``item`` is; ValueError when there is none."""
        position, _ = await self._find(item)
        return position

    async def remove(self, item: ChatMessage) -> None:
        """LREM the first message equal to ``item``; ValueError when there is none."""
        _, raw = await self._find(item)
        if not await self.history.remove_entry(self.thread_id, raw):
            raise ValueError("ChatMessage not found in store")

    async def ping(self) -> bool:
        """True when Redis answers; never raises (as Microsoft's)."""
        try:
            await self.history.ping()
        except Exception:
            return False
        return True

    async def _find(self, item: ChatMessage) -> tuple[int, str]:
        await self.ensure_initial_messages()
        wanted = decode_entry(self.encode_message(item))
        for position, raw in enumerate(await self.history.entries(self.thread_id)):
            try:
                if decode_entry(self.history.opened(self.thread_id, raw)) == wanted:
                    return position, raw
            except ValueError:
                continue
        raise ValueError("ChatMessage not found in store")
