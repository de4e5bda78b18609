"""Messages as the tests write and read them: stored entries in the lab's JSON, and the texts of a thread.

Framework-free (plain JSON and duck typing), so the fast layer, tests/v1 and the reliability workers
can all use it. Turns as the lab's ``ChatMessage`` are in ``tests.support.lab_turns``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def lab_entry(role: str, text: str) -> str:
    """One message as the lab's release stores it (one compact JSON document)."""
    return json.dumps(
        {"type": "chat_message", "role": {"type": "role", "value": role}, "contents": [{"type": "text", "text": text}]}
    )


def turn_entries(number: int, user: str = "u{}", assistant: str = "a{}") -> list[str]:
    """A user message and its reply, as stored entries."""
    return [lab_entry("user", user.format(number)), lab_entry("assistant", assistant.format(number))]


def turn_texts(numbers: Iterable[int], user: str = "u{}", assistant: str = "a{}") -> list[str]:
    """The texts of those turns, in order."""
    return [text for number in numbers for text in (user.format(number), assistant.format(number))]


def texts_of(messages: Iterable[Any]) -> list[str]:
    """The text of each message (any release's message class: each has ``.text``)."""
    return [message.text for message in messages]


def entry_texts(entries: Iterable[str]) -> list[str]:
    """The text of each stored entry (the first content of each)."""
    return [json.loads(entry)["contents"][0]["text"] for entry in entries]


def roles_and_texts(messages: Iterable[Any]) -> list[tuple[str, str]]:
    """(role, text) of each message of the lab's release."""
    return [(str(message.role.value), message.text or "") for message in messages]
