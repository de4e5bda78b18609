"""Progress of a long thread command (import, migrate, prune, rekey) on standard error, its walk over pages, and
its last word on threads its replicas did not confirm.

Quiet for a short run: the count appears only once the work has taken more than a second, then at
most once a second; on a terminal it rewrites one line, elsewhere (a log file) it writes one line each.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import TypeVar

from lab11_persistence.config import EXIT_REDIS
from lab11_persistence.console.wording import interrupted_line, unconfirmed_line
from lab11_persistence.counting import counted

T = TypeVar("T")

PROGRESS_AFTER_SECONDS = 1.0


class Progress:
    """``imported N of M`` (or ``migrated N``) on standard error, only once the work has taken more than a second."""

    def __init__(self, total: int | None, verb: str = "imported") -> None:
        self.total = total
        self.verb = verb
        self.started = time.monotonic()
        self.last_shown = 0.0
        self.shown = False
        self.tty = sys.stderr.isatty()

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.started < PROGRESS_AFTER_SECONDS or now - self.last_shown < 1.0:
            return
        self.last_shown, self.shown = now, True
        if self.total is None:
            self._write(f"{self.verb} {counted(done, 'thread')}")
        else:
            self._write(f"{self.verb} {done:,} of {counted(self.total, 'thread')}")

    def finish(self) -> None:
        if self.shown and self.tty:
            sys.stderr.write("\n")

    def _write(self, text: str) -> None:
        sys.stderr.write(f"\r{text}" if self.tty else f"{text}\n")
        sys.stderr.flush()


async def walk_pages(pages: AsyncIterator[list[T]], progress: Progress, verb: str, each: Callable[[T], None]) -> None:
    """Hand every result of every page to ``each``, counting on ``progress``. On Ctrl-C, say how far it got and
    that the same command goes on from there (each thread is done whole or not at all), then stop."""
    done = 0
    try:
        async with aclosing(pages):  # closed here, even when stopped, not at the loop's shutdown
            async for page in pages:
                for result in page:
                    each(result)
                done += len(page)
                progress.update(done)
    except (KeyboardInterrupt, asyncio.CancelledError):
        progress.finish()
        sys.stderr.write(interrupted_line(done, verb))
        raise
    progress.finish()


def report_unconfirmed(threads: int, required: int, *words: str, advice: str = "") -> int:
    """One line on standard error for the ``threads`` a writing command wrote that fewer than ``required``
    (LAB11_MIN_REPLICAS) replicas confirmed in time (``words``: ``unconfirmed_line``'s), and its exit status, 1."""
    line = unconfirmed_line(threads, required, *words)
    sys.stderr.write(f"lab11: {line} {advice}\n" if advice else f"lab11: {line}\n")
    return EXIT_REDIS
