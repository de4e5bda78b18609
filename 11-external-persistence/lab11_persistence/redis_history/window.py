"""What a model is sent of a long thread: its newest messages (the window) and a durable summary of
everything before them, kept in Redis beside the thread.

The thread's list keeps every message, up to the store's ``max_messages``; a message leaves it only
once the summary covers it. The summary is a JSON record at ``{<thread key>}:summary``
(``RedisHistory.summary_key``), in the thread's hash slot::

    {"text": "...", "covers": 180, "in_list": 40, "last": "<fingerprint>", "updated_at": 1764590000.0}

``covers`` is how many messages it folds in, in all; ``in_list`` how many of the list's first entries
those are (the others were trimmed once covered); ``last`` a fingerprint of the newest entry it covers,
by which a fold notices that another writer (a store without a window, which trims by count) moved the
list's head.

A turn reads the window and the summary in one round trip (``read``). A fold reads what fell out of
the window, asks the summarizer, then writes the new summary, and trims what it now covers beyond
``max_messages``, in one optimistic transaction: WATCH on the summary key, so two folds of one
thread never both land (the loser looks again and finds less to do), and a crash, a kill or Ctrl-C
before EXEC changes nothing. Messages appended at the tail meanwhile are never touched.

Nothing here imports the Agent Framework: a summarizer takes and returns text and neutral message
dicts (``message_json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError, WatchError

from lab11_persistence.redis_history.codec import EntryCodec
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.message_json import decode_entry
from lab11_persistence.redis_history.summary import Summary, fingerprint

__all__ = ["CATCH_UP_NOTICE", "ContextWindow", "Summarizer", "Window"]

logger = logging.getLogger(__name__)

#: ``await summarizer(previous summary or None, the messages to fold in, oldest first)``: the new summary.
Summarizer = Callable[[str | None, list[dict[str, Any]]], Awaitable[str]]

#: Whoever shows progress (the menu) sets this: it is called with how many messages a fold before a
#: turn is summarizing, once that has taken NOTICE_AFTER_SECONDS.
CATCH_UP_NOTICE: ContextVar[Callable[[int], None] | None] = ContextVar("catch_up_notice", default=None)
NOTICE_AFTER_SECONDS = 1.0
#: WATCH conflicts in a row (each a fold by another process that landed first) before giving up till the next turn.
FOLD_ATTEMPTS = 5
#: How long closing a store waits for a fold still running (it is safe to abandon: nothing is written).
SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class Window:
    """One read of a thread for a turn: its summary, its newest entries and its length."""

    summary: Summary | None
    entries: list[str]
    length: int

    @property
    def backlog(self) -> int:
        """Messages before the window that the summary does not cover yet."""
        covered = self.summary.in_list if self.summary else 0
        return max(0, self.length - covered - len(self.entries))

    @property
    def first_index(self) -> int:
        """The list index of the first entry of the window."""
        return self.length - len(self.entries)

    def for_model(self) -> tuple[Summary | None, list[str], int]:
        """What the model is sent: the summary and the window's entries it does not stand for (with the list
        index of the first), so that no message reaches it twice.

        A window that grew since the summary was written (a larger ``context_messages``) reaches back over
        messages the summary covers: those are left to the summary, unless the window now holds every
        message the summary stands for, which is then not sent at all.
        """
        overlap = max(0, self.summary.in_list - self.first_index) if self.summary else 0
        if not overlap:
            return self.summary, self.entries, self.first_index
        assert self.summary is not None
        if self.first_index == 0 and self.summary.covers == self.summary.in_list:
            return None, self.entries, 0
        return self.summary, self.entries[overlap:], self.first_index + overlap


class ContextWindow:
    """The window and the summary of the threads of one ``RedisHistory``.

    ``size`` messages reach the model (at most ``max_messages``); with a ``summarizer``, what falls
    out of the window is folded into the summary after each turn (``fold_soon``), off the turn's path.
    """

    def __init__(self, history: RedisHistory, size: int, summarizer: Summarizer | None = None) -> None:
        if size <= 0:
            raise ValueError("context_messages must be a positive number of messages (or None for all of them).")
        self.history = history
        self.size = min(size, history.max_messages) if history.max_messages else size
        self.summarizer = summarizer
        self._folds: dict[str, asyncio.Task[None]] = {}

    @property
    def summarizes(self) -> bool:
        """Whether what falls out of the window leaves the list through a summary (else by the lab's LTRIM)."""
        return self.summarizer is not None

    # -- a turn's read ---------------------------------------------------------------------------

    async def read(self, thread_id: str) -> Window:
        """The summary, the newest ``size`` entries and the length: one round trip."""
        key, summary_key = self.history.key(thread_id), self.history.summary_key(thread_id)

        async def snapshot() -> list[Any]:
            pipe = self.history.client.pipeline(transaction=False)  # one slot, so one node on a cluster
            pipe.get(summary_key)
            pipe.llen(key)
            pipe.lrange(key, -self.size, -1)
            return await self.history.replies(pipe)

        raw_summary, length, entries = await self.history.call(snapshot)
        if isinstance(length, ResponseError) or isinstance(entries, ResponseError):
            logger.warning("%s is not a list, so it holds no messages; left as it is", key)
            length, entries = 0, []
        return Window(self.history.codec.open_summary(raw_summary, key), list(entries), int(length))

    async def read_for_turn(self, thread_id: str) -> Window:
        """What a turn sends the model: a fold of this process is awaited first, and a backlog (left by
        a failed fold, or by another store) is folded before the turn, with a notice if that takes long."""
        await self.settle(thread_id)
        window = await self.read(thread_id)
        if not window.backlog or self.summarizer is None:
            return window
        notice = CATCH_UP_NOTICE.get()
        timer = asyncio.get_running_loop().call_later(NOTICE_AFTER_SECONDS, notice, window.backlog) if notice else None
        try:
            if await self._fold_or_say_why(thread_id, logging.WARNING):
                window = await self.read(thread_id)
        finally:
            if timer is not None:
                timer.cancel()
        return window

    # -- folding -----------------------------------------------------------------------------------

    async def fold(self, thread_id: str) -> Summary | None:
        """Fold every message before the window into the summary; the new summary, or None if there was
        nothing to fold. A summarizer's failure propagates, and leaves everything as it was."""
        if self.summarizer is None:
            return None
        for _ in range(FOLD_ATTEMPTS):
            try:
                return await self.history.call(lambda: self._fold_once(thread_id))
            except WatchError:
                continue  # another process's fold landed first: look again
        logger.info("%s is being summarized by others; left to them", self.history.key(thread_id))
        return None

    async def _fold_once(self, thread_id: str) -> Summary | None:
        assert self.summarizer is not None
        history = self.history
        key, summary_key = history.key(thread_id), history.summary_key(thread_id)
        async with await history.transaction() as pipe:
            await pipe.watch(summary_key)
            summary = history.codec.open_summary(await pipe.get(summary_key), key)
            length = int(await pipe.llen(key))
            in_list = await _covered_in_list(pipe, key, summary, history.codec)
            end = length - self.size  # fold the entries [in_list, end)
            if end <= in_list:
                return None
            # opened: the summary's fingerprint is of the entry as written, so a rekey leaves it valid
            entries = [
                history.codec.open_or_none(entry, key) or "" for entry in await pipe.lrange(key, in_list, end - 1)
            ]
            messages = [message for message in map(_message_or_none, entries) if message is not None]
            text = (await self.summarizer(summary.text if summary else None, messages)).strip()
            trim = max(0, min(end, length - history.max_messages)) if history.max_messages else 0
            folded = Summary(
                text=text,
                covers=(summary.covers if summary else 0) + len(entries),
                in_list=end - trim,
                last=fingerprint(entries[-1]),
                updated_at=time.time(),
            )
            pipe.multi()
            if trim:
                pipe.ltrim(key, trim, -1)
            pipe.set(summary_key, history.codec.seal_summary(folded, key), ex=history.ttl_seconds)
            await pipe.execute()
        return folded

    async def _fold_or_say_why(self, thread_id: str, level: int) -> bool:
        """Fold; a failure is logged at ``level`` in one line (the turn goes on, the next one tries again)."""
        try:
            return await self.fold(thread_id) is not None
        except asyncio.CancelledError:
            raise
        except Exception as error:
            reason = " ".join(str(error).split())[:200] or type(error).__name__
            logger.log(
                level, "Could not summarize %s yet (%s); the next turn tries again", self.history.key(thread_id), reason
            )
            return False

    def fold_soon(self, thread_id: str, length: int | None = None) -> None:
        """Fold after this turn, in the background; the thread's next ``read_for_turn`` waits for it.

        ``length``: the thread's length after the turn, when known (a thread within the window has
        nothing to fold).
        """
        if self.summarizer is None or (length is not None and length <= self.size):
            return
        before = self._folds.get(thread_id)

        async def fold_after_the_one_before() -> None:
            if before is not None:
                await asyncio.gather(before, return_exceptions=True)
            await self._fold_or_say_why(thread_id, logging.INFO)

        self._folds[thread_id] = asyncio.get_running_loop().create_task(fold_after_the_one_before())

    async def settle(self, thread_id: str | None = None, timeout: float | None = None) -> None:
        """Wait for this process's folds (of one thread, or all); past ``timeout`` they are cancelled."""
        folds = [self._folds.pop(thread_id, None)] if thread_id else [*self._folds.values()]
        if thread_id is None:
            self._folds.clear()
        pending = [fold for fold in folds if fold is not None]
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout)
        for fold in late:  # abandoned before its EXEC: the summary and every message stay as they were
            fold.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*late, return_exceptions=True)


async def _covered_in_list(pipe: Any, key: str, summary: Summary | None, codec: EntryCodec) -> int:
    """How many of the list's first entries the summary covers, checked by the fingerprint of the last one
    (of the entry opened, as the fold took it)."""
    if summary is None or summary.in_list == 0:
        return 0
    at = summary.in_list - 1
    entry = await pipe.lindex(key, at)
    if isinstance(entry, str) and fingerprint(codec.open_or_none(entry, key) or "") == summary.last:
        return summary.in_list
    # Another writer trimmed the head by count: find where the newest covered entry went.
    head = await pipe.lrange(key, 0, at)
    for position in range(len(head) - 1, -1, -1):
        if fingerprint(codec.open_or_none(head[position], key) or "") == summary.last:
            return position + 1
    return 0  # trimmed away with everything before it: all that is left is uncovered


def _message_or_none(entry: str) -> dict[str, Any] | None:
    try:
        return decode_entry(entry)
    except ValueError:
        return None  # not a message: left in the list, not summarized
