"""How every count the project prints is worded: one function, below everything that prints one."""

from __future__ import annotations


def counted(number: int, noun: str) -> str:
    """``1 message``, ``2 messages``, ``1,204 messages``: every count the app prints goes through here."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
