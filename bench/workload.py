"""Deterministic chat turns of realistic size, so every store stores exactly the same messages.

The texts come from ``turn_texts``, which imports no framework: the 1.x comparison builds its
``Message`` objects from the very same texts in its own environment.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_framework import ChatMessage

_VOCABULARY = (
    "redis thread message agent history store latency cache azure trim list round trip snapshot "
    "resume conversation assistant user model token prompt answer question window memory budget "
    "the a of to and in is it that for on with as was at by be this from or have an they which"
)
WORDS = tuple(_VOCABULARY.split())

USER_WORDS = (12, 40)  # a short question, roughly 70 to 250 characters
ASSISTANT_WORDS = (60, 160)  # a paragraph of an answer, roughly 350 to 1,000 characters


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    return " ".join(words).capitalize() + "."


def turn_texts(count: int, seed: int = 11) -> list[tuple[str, str]]:
    """``count`` (user, assistant) texts; the same seed gives the same texts in any environment."""
    rng = random.Random(seed)
    result = []
    for number in range(count):
        user = f"[{number}] " + _sentence(rng, *USER_WORDS)
        result.append((user, _sentence(rng, *ASSISTANT_WORDS)))
    return result


def turns(count: int, seed: int = 11) -> list[list[ChatMessage]]:
    """``count`` user + assistant pairs, the unit the framework hands ``add_messages`` per run."""
    from agent_framework import ChatMessage

    return [
        [ChatMessage(role="user", text=user), ChatMessage(role="assistant", text=assistant)]
        for user, assistant in turn_texts(count, seed)
    ]


def messages(count: int, seed: int = 11) -> list[ChatMessage]:
    """``count`` messages alternating user and assistant."""
    flat = [message for pair in turns((count + 1) // 2, seed) for message in pair]
    return flat[:count]
