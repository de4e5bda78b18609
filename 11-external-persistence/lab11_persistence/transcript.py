"""A thread as the menu shows it, framework-free: what both adapters' conversations hand the terminal.

Below the adapters (``app.py``'s ``LabConversation``, ``v1.agent.ConversationV1``) and the terminal program
that prints it (``console.menu``), so that neither adapter imports the terminal program.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from lab11_persistence.redis_history.summary import Summary


@dataclass(frozen=True)
class Transcript:
    """A thread as Redis holds it: its messages as (role, text), oldest first, and the summary of older ones.

    ``removed`` is how many of the oldest messages are no longer in Redis's list (trimmed at ``max_messages``
    once the summary covered them): the summary's ``covers`` less its ``in_list``.
    """

    messages: list[tuple[str, str]] = field(default_factory=list)
    summary: str | None = None
    summary_covers: int = 0
    removed: int = 0

    @classmethod
    def of(cls, messages: list[tuple[str, str]], summary: Summary | None) -> Transcript:
        if summary is None:
            return cls(messages)
        return cls(messages, summary.text, summary.covers, summary.covers - summary.in_list)
