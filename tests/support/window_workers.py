"""A child process that writes turns into one thread through a store with a window and a summarizer.

    python -m tests.support.window_workers URL THREAD WRITER TURNS WINDOW MAX_MESSAGES DELAY [IN_SUMMARY_FILE]

Each turn is ``w{WRITER}:t{N}:user`` and ``w{WRITER}:t{N}:assistant``, then a read as the next turn
would make (which waits for, or catches up with, the fold). The summarizer's summary is the texts it
folded, joined with ``|`` after the previous summary, so a test can tell which message was folded
when; it takes DELAY seconds, as a model would. With IN_SUMMARY_FILE, the first call to the
summarizer creates that file and then waits for ever (for a test that kills the process there).
``MAX_MESSAGES`` 0 means no limit.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SEPARATOR = "|"


def turn_texts(writer: int, turn: int) -> tuple[str, str]:
    return f"w{writer}:t{turn:04d}:user", f"w{writer}:t{turn:04d}:assistant"


class ListingSummarizer:
    def __init__(self, delay: float, in_summary_file: Path | None = None) -> None:
        self.delay = delay
        self.in_summary_file = in_summary_file

    async def __call__(self, previous: str | None, messages: Sequence[dict[str, Any]]) -> str:
        from lab11_persistence.redis_history.message_json import message_text

        if self.in_summary_file is not None:
            self.in_summary_file.touch()
            await asyncio.Event().wait()
        await asyncio.sleep(self.delay)
        return SEPARATOR.join([*([previous] if previous else []), *(message_text(m) for m in messages)])


async def write(
    url: str, thread_id: str, writer: int, turns: int, window: int, limit: int, delay: float, stop: str
) -> None:
    from agent_framework import ChatMessage

    from redis_chat_message_store import RedisChatMessageStore

    summarizer = ListingSummarizer(delay, Path(stop) if stop else None)
    store = RedisChatMessageStore(
        redis_url=url,
        thread_id=thread_id,
        key_prefix="lab11",
        max_messages=limit or None,
        context_messages=window,
        summarizer=summarizer,
    )
    try:
        for turn in range(turns):
            user, assistant = turn_texts(writer, turn)
            await store.add_messages(
                [ChatMessage(role="user", text=user), ChatMessage(role="assistant", text=assistant)]
            )
            await store.list_messages()
    finally:
        await store.aclose()


if __name__ == "__main__":
    url, thread_id, writer, turns, window, limit, delay, *stop = sys.argv[1:]
    asyncio.run(
        write(url, thread_id, int(writer), int(turns), int(window), int(limit), float(delay), stop[0] if stop else "")
    )
