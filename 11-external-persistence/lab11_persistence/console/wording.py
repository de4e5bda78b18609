"""Words the menu and the thread commands both print, so that the two say the same thing the same way.

Plain functions of numbers and strings: nothing here reads Redis or the terminal. Stored text that goes
into a sentence (a key) is made inert here, where the sentence is built.
"""

from __future__ import annotations

from datetime import datetime

from lab11_persistence.console.inert_text import inert_line
from lab11_persistence.counting import counted


def local_time(timestamp: float | None) -> str:
    """A recency-index score (seconds since the epoch) as the local date and minute; ``unknown`` for none."""
    if timestamp is None:
        return "unknown"
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


# -- deleting: the menu's option 5 asks what ``lab11 delete`` asks -----------------------------


def delete_question(redis_key: str, message_count: int) -> str:
    return f"Delete {inert_line(redis_key)} and its {counted(message_count, 'message')}? (y/N): "


def said_yes(answer: str) -> bool:
    return answer.strip().lower() in ("y", "yes")


# -- a thread's history: menu option 2 and ``lab11 show`` ------------------------------------


def summary_heading(covers: int) -> str:
    return f"Summary of the {counted(covers, 'oldest message')}, sent to the model in their place:"


def removed_note(removed: int) -> str:
    """Said under the summary once trimming (``max_messages``) has taken messages out of Redis: the summary
    is all that is left of them, and the screen must not suggest that the history below is all there was."""
    if removed == 1:
        return "The oldest message was removed from Redis: it lives on only in this summary."
    return f"The {removed:,} oldest messages were removed from Redis: they live on only in this summary."


def history_heading(redis_key: str, kept: int, removed: int) -> str:
    """The line above a thread's messages; once ``removed`` were trimmed, the kept ones are numbered by their
    place in the whole conversation, from ``removed + 1``."""
    if not removed:
        return f"History of {inert_line(redis_key)} ({counted(kept, 'message')}, oldest first):"
    first, last = removed + 1, removed + kept
    return f"History of {inert_line(redis_key)} (messages {first:,} to {last:,} of the conversation, oldest first):"


def unconfirmed_line(threads: int, required: int, done: str = "written", risk: str = "they would be lost") -> str:
    """What a writing command says of the threads it wrote (``done``: or deleted, or rekeyed) that fewer replicas
    than asked confirmed in time, and what a failover now would do to them (``risk``)."""
    return (
        f"{counted(threads, 'thread')} {done} on the primary but not confirmed by {required} "
        f"replica{'s' if required != 1 else ''} in time (LAB11_MIN_REPLICAS): {risk} if the primary "
        "failed before its replicas catch up."
    )


def interrupted_line(done: int, verb: str) -> str:
    """What a long command says on Ctrl-C: how far it got, and that running it again goes on (it is resumable)."""
    return (
        f"\nlab11: interrupted after {counted(done, 'thread')}. Each thread is {verb} whole or not at all: "
        "run the same command again to go on.\n"
    )
