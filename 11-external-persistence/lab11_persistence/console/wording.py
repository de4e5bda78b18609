"""Words the menu and the thread commands both print, so that the two say the same thing the same way.

Plain functions of numbers and strings: nothing here reads Redis or the terminal. Stored text that goes
into a sentence (a key) is made inert here, where the sentence is built.
"""

from __future__ import annotations

from datetime import datetime

from lab11_persistence.console.inert_text import inert_line


def counted(number: int, noun: str) -> str:
    """``1 message``, ``2 messages``, ``1,204 messages``: every count the app prints goes through here."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


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
