"""When whoever reads the program's output stops reading (``lab11 < answers | head -1``,
``lab11 export --all | head``): the program ends quietly, as a Unix filter does, with no traceback."""

from __future__ import annotations

import contextlib
import os
import sys

from lab11_persistence.config import EXIT_OK


def output_closed() -> int:
    """Call on the BrokenPipeError a write to standard output raised; returns the exit status.

    Standard output is pointed at the null device first: Python flushes it once more at exit, and
    that flush into the closed pipe would print an "Exception ignored" traceback of its own.
    """
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    return EXIT_OK
