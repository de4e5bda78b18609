"""Ctrl-C for a thread command: the command stops at once, whatever it is awaiting.

``asyncio.run`` turns the first SIGINT into one cancellation of the command. On Python 3.11 that one
cancellation can be lost: ``asyncio.wait_for``, which redis-py uses for every command it sends, returns
normally when the cancellation lands just as the send finishes, swallowing it (fixed in 3.12), and a
long ``rekey --all``, ``migrate --all`` or ``import`` then runs to its end. So the command's task is
cancelled again every ``RECANCEL_SECONDS`` until it has stopped; each thread stays whole either way
(every rewrite is one transaction or one script).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_until_interrupted"]

T = TypeVar("T")
RECANCEL_SECONDS = 0.2


def run_until_interrupted(command: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(command)``; Ctrl-C cancels it (again until it stops) and raises KeyboardInterrupt."""

    async def guarded() -> T:
        task, loop = asyncio.current_task(), asyncio.get_running_loop()
        assert task is not None

        def cancel_until_stopped() -> None:
            if not task.done():
                task.cancel()
                loop.call_later(RECANCEL_SECONDS, cancel_until_stopped)

        try:
            loop.add_signal_handler(signal.SIGINT, cancel_until_stopped)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread: asyncio.run's own
            return await command
        try:
            return await command
        finally:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signal.SIGINT)

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
