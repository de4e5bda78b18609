"""Progress of a long thread command (import, migrate, prune) on standard error.

Quiet for a short run: the count appears only once the work has taken more than a second, then at
most once a second; on a terminal it rewrites one line, elsewhere (a log file) it writes one line each.
"""

from __future__ import annotations

import sys
import time

from lab11_persistence.counting import counted

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
