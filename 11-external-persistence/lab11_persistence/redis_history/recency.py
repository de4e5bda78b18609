"""The recency index, and the saved threads read through it: "the 20 most recently used threads".

The index is a sorted set of thread ids scored by the time of their last write (``KeyLayout.index_key``:
``{key_prefix}.recent-threads``, or a key at the end of a scope), so a page of the newest threads costs
the same at a thousand threads or a million. Each write of a turn marks its thread (``touch``, or the
same ZADD inside the turn's transaction). A listing reads the index a page at a time, drops the threads
that were cleared or expired since, and falls back to SCAN when the index is unusable (someone else's
key where it should be) or empty while threads exist (written by other tools, which keep no index).

Releases before the index moved kept it at ``{prefix}:recent-threads``, among the threads, where other
tools took it for one; the first listing moves it here, once, order kept (``RecencyIndex.first_page``).

Nothing here imports the Agent Framework. The caller runs each of these under its failure policy
(``RedisHistory.call``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from redis.exceptions import ResponseError

from lab11_persistence.redis_history.codec import EntryCodec
from lab11_persistence.redis_history.connection import RedisClient, pipeline_replies
from lab11_persistence.redis_history.keys import KeyLayout
from lab11_persistence.redis_history.message_json import decode_entry, message_text

__all__ = ["OLD_INDEX_SUFFIX", "RecencyIndex", "SavedThread"]

logger = logging.getLogger(__name__)

OLD_INDEX_SUFFIX = ":recent-threads"  # where releases before the move kept it
PREVIEW_LENGTH = 60
MOVE_BATCH = 1000


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


class RecencyIndex:
    """The recency index of one key layout's threads, over one client."""

    def __init__(self, client: RedisClient, layout: KeyLayout, codec: EntryCodec | None = None) -> None:
        self.client = client
        self.layout = layout
        self.codec = codec or EntryCodec()  # previews and summaries are opened (``codec``)
        self.key = layout.index_key
        self._moved = layout.scoped  # an index of older releases exists only in the lab's layout

    async def touch(self, thread_id: str) -> None:
        """Mark a thread as just used; a foreign key where the index should be only costs a warning."""
        try:
            await self.client.zadd(self.key, {thread_id: time.time()})
        except ResponseError as error:
            self.warn_unusable(error)

    def warn_unusable(self, error: Exception) -> None:
        logger.warning(
            "%s is not the sorted set this store keeps its thread index in (%s); left as it is", self.key, error
        )

    # -- listing -----------------------------------------------------------------------------------

    async def saved_threads(self, limit: int) -> list[SavedThread]:
        """The ``limit`` most recently written threads that still exist, newest first."""
        try:
            first_page = await self.first_page(limit)
        except ResponseError as error:  # someone else's key where the index should be
            self.warn_unusable(error)
            return (await self.scan_saved_threads())[:limit]
        if not first_page and await self.index_unindexed_threads():  # threads written by other tools
            first_page = await self._page(0, limit)
        return await self._walk(limit, first_page)

    async def first_page(self, limit: int) -> list[tuple[str, float]]:
        """The newest ``limit`` index entries; the first time, also moves an index of older releases here.

        The old index's type is asked in the same round trip as the page.
        """
        if self._moved:
            return await self._page(0, limit)
        self._moved = True
        old = f"{self.layout.key_prefix}{OLD_INDEX_SUFFIX}"  # only in the lab's layout (see __init__)
        pipe = self.client.pipeline(transaction=False)
        pipe.type(old)
        pipe.zrevrange(self.key, 0, limit - 1, withscores=True)
        old_type, page = await pipeline_replies(pipe)
        if isinstance(page, Exception):
            raise page
        if old_type != "zset":
            return page  # nothing to move, or a thread really named "recent-threads"
        batch: dict[str, float] = {}
        async for member, score in self.client.zscan_iter(old, count=MOVE_BATCH):
            batch[member] = score
            if len(batch) >= MOVE_BATCH:
                await self.client.zadd(self.key, batch, gt=True)
                batch = {}
        if batch:
            await self.client.zadd(self.key, batch, gt=True)
        await self.client.delete(old)
        logger.info("Moved the thread index from %s to %s, order kept", old, self.key)
        return await self._page(0, limit)

    async def _page(self, start: int, size: int) -> list[tuple[str, float]]:
        return await self.client.zrevrange(self.key, start, start + size - 1, withscores=True)

    async def _walk(self, limit: int, first_page: list[tuple[str, float]]) -> list[SavedThread]:
        """Walk the index newest first, in pages, until ``limit`` threads that still exist are found."""
        found: list[SavedThread] = []
        start = 0
        page = max(limit, 1)
        entries = first_page
        while len(found) < limit:
            if start:
                entries = await self._page(start, page)
            if not entries:
                break
            start += len(entries)
            scores = dict(entries)
            threads, gone = await self.describe(list(scores), scores)
            found.extend(threads)
            for thread_id in gone:  # cleared or expired since their last write: drop them from the index
                if await self.client.type(self.layout.key(thread_id)) == "none":
                    await self.client.zrem(self.key, thread_id)
            if len(entries) < page:  # that was the end of the index
                break
        return found[:limit]

    async def describe(
        self, thread_ids: Sequence[str], last_used: Mapping[str, float]
    ) -> tuple[list[SavedThread], list[str]]:
        """Counts, previews and summaries of the given threads; also the ids whose key is gone or is not a list."""
        layout = self.layout
        pipe = self.client.pipeline(transaction=False)
        for thread_id in thread_ids:
            pipe.llen(layout.key(thread_id))
            pipe.lrange(layout.key(thread_id), 0, 1)
            pipe.get(layout.summary_key(thread_id))
        replies = await pipeline_replies(pipe)
        found: list[SavedThread] = []
        gone: list[str] = []
        for position, thread_id in enumerate(thread_ids):
            count, head, summary = replies[3 * position : 3 * position + 3]
            if isinstance(count, Exception) or isinstance(head, Exception) or not count:
                gone.append(thread_id)
                continue
            key = layout.key(thread_id)
            head = [opened for raw in head if (opened := self.codec.open_or_none(raw, key)) is not None]
            first_user = next((raw for raw in head if '"user"' in raw), head[0] if head else None)
            found.append(
                SavedThread(
                    thread_id=thread_id,
                    redis_key=layout.key(thread_id),
                    message_count=int(count),
                    preview=_preview(first_user),
                    last_used=last_used.get(thread_id),
                    summary_covers=record.covers if (record := self.codec.open_summary(summary, key)) else 0,
                )
            )
        return found, gone

    # -- threads the index does not know -----------------------------------------------------------

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

    async def index_unindexed_threads(self) -> int:
        """Index threads written by other tools (the lab's store, Microsoft's); returns how many were added."""
        keys = [key async for key in self.scan_thread_keys()]
        if not keys:
            return 0
        idle = await self._idle_seconds(keys)
        now = time.time()
        scores = {self.thread_id_of(key): now - idle.get(key, 0) for key in keys}
        return int(await self.client.zadd(self.key, scores, nx=True))

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

    async def scan_saved_threads(self) -> list[SavedThread]:
        """Every thread of the layout, by SCAN, most recently written first (as far as the index knows)."""
        thread_ids = [self.thread_id_of(key) async for key in self.scan_thread_keys()]
        if not thread_ids:
            return []
        scores_pipe = self.client.pipeline(transaction=False)
        for thread_id in thread_ids:
            scores_pipe.zscore(self.key, thread_id)
        scores = {
            thread_id: float(score)
            for thread_id, score in zip(thread_ids, await pipeline_replies(scores_pipe), strict=True)
            if isinstance(score, (int, float))
        }
        threads, _ = await self.describe(thread_ids, scores)
        return sorted(threads, key=lambda thread: (thread.last_used or 0.0, thread.thread_id), reverse=True)
