"""Turns and stores on the lab's Agent Framework release (``ChatMessage``, ``RedisChatMessageStore``).

One place for what the store tests build over and over; framework-free helpers are in
``tests.support.messages``.
"""

from __future__ import annotations

from typing import Any

from agent_framework import ChatMessage

from redis_chat_message_store import RedisChatMessageStore


def chat_turn(number: int, user: str = "u{}", assistant: str = "a{}") -> list[ChatMessage]:
    """A user message and its reply (texts ``u3`` and ``a3`` unless told otherwise)."""
    return [
        ChatMessage(role="user", text=user.format(number)),
        ChatMessage(role="assistant", text=assistant.format(number)),
    ]


def lab_store(thread_id: str = "thread_1", *, key_prefix: str = "lab11", **options: Any) -> RedisChatMessageStore:
    """The lab's store on one thread under ``lab11`` (pass ``redis_url=`` or ``redis_client=`` and any option)."""
    return RedisChatMessageStore(thread_id=thread_id, key_prefix=key_prefix, **options)
