"""The lab's own store, written from the lab text, as the first baseline.

The lab pushes, then asks for the length, then trims: separate commands, each its
own round trip. It lists saved threads with KEYS and one count per key. Nothing
here is tuned beyond what the lab describes, except that the per-key counts are
pipelined, which only makes the baseline faster than the lab.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from agent_framework import ChatMessage


class LabStore:
    """``RedisChatMessageStore`` as the lab describes it: RPUSH, LLEN, LTRIM; LRANGE + from_dict."""

    def __init__(
        self,
        redis_url: str,
        thread_id: str | None = None,
        key_prefix: str = "lab11",
        max_messages: int | None = None,
    ) -> None:
        self.thread_id = thread_id or f"thread_{uuid.uuid4()}"
        self.key_prefix = key_prefix
        self.max_messages = max_messages
        self._redis_client = redis.from_url(redis_url, decode_responses=True)

    @property
    def redis_key(self) -> str:
        return f"{self.key_prefix}:{self.thread_id}"

    @staticmethod
    def _serialize_message(message: Any) -> str:
        if hasattr(message, "to_dict"):
            return json.dumps(message.to_dict())
        return json.dumps(message)

    @staticmethod
    def _deserialize_message(raw: str) -> ChatMessage:
        return ChatMessage.from_dict(json.loads(raw))

    async def add_messages(self, messages: Sequence[ChatMessage]) -> None:
        serialized = [self._serialize_message(message) for message in messages]
        if not serialized:
            return
        await self._redis_client.rpush(self.redis_key, *serialized)
        if self.max_messages:
            length = await self._redis_client.llen(self.redis_key)
            if length > self.max_messages:
                await self._redis_client.ltrim(self.redis_key, -self.max_messages, -1)

    async def list_messages(self) -> list[ChatMessage]:
        raw_entries = await self._redis_client.lrange(self.redis_key, 0, -1)
        return [self._deserialize_message(raw) for raw in raw_entries]

    async def aclose(self) -> None:
        await self._redis_client.aclose()


async def lab_list_threads(client: redis.Redis, key_prefix: str, limit: int = 20) -> list[tuple[str, int]]:
    """The lab's way to list saved threads: KEYS under the prefix, then a count for every key.

    The lab has no notion of recency, so the "first 20" are the first 20 by name.
    Keys that are not lists (such as another store's index) are skipped.
    """
    keys = sorted(await client.keys(f"{key_prefix}:*"))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
    counts = await pipe.execute(raise_on_error=False)
    listed = [(key, int(count)) for key, count in zip(keys, counts, strict=True) if isinstance(count, int) and count]
    return listed[:limit]
