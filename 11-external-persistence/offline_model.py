"""An offline chat model: a real ``BaseChatClient`` that answers from the history it is given.

It needs no network and no key. It is not clever, but it is honest about what it
received: every reply says how many earlier messages reached it and repeats the
facts the user stated in them ("my name is ...", "I want to go to ..."). That
makes the lab's "verify the assistant still remembers" step visible offline: after
a restart and a resumed thread, the reply can only mention those facts if the
Redis history really was sent to the model.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterable, MutableSequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from agent_framework import (
    BaseChatClient,
    ChatMessage,
    ChatResponse,
    ChatResponseUpdate,
    Content,
    Role,
    use_function_invocation,
)

DISPLAY_NAME = "offline model"
MODEL_ID = "lab11-offline"

_STOP = r"(?=\s+(?:and|but|in|on|for|with|next|this|because|so)\b|[.,!?;:]|$)"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "name",
        re.compile(r"\b(?:my name is|my name's|call me|i'm called)\s+([\w'-]+(?-i:\s+[A-Z][\w'-]*)?)", re.I),
    ),
    (
        "destination",
        re.compile(
            r"\b(?:(?:go|travel|fly|get|move|head)\s+to|visit(?:ing)?|trip to|holiday in|vacation in)\s+"
            r"(?!a\b|an\b|the\b|somewhere\b)(.+?)" + _STOP,
            re.I,
        ),
    ),
    (
        "when",
        re.compile(
            r"\b(?:in|during|next|this)\s+((?:early |late |mid-)?(?-i:January|February|March|April|May|June|July"
            r"|August|September|October|November|December)|(?:the )?(?:spring|summer|autumn|fall|winter))\b",
            re.I,
        ),
    ),
    ("home", re.compile(r"\b(?:i live in|i'm from|i am from|i come from)\s+(.+?)" + _STOP, re.I)),
    ("budget", re.compile(r"\bbudget (?:is |of |around |about )?(.+?)" + _STOP, re.I)),
    ("likes", re.compile(r"\bi (?:really )?(?:like|love|enjoy)\s+(.+?)" + _STOP, re.I)),
    ("dislikes", re.compile(r"\bi (?:hate|dislike|don't like|do not like)\s+(.+?)" + _STOP, re.I)),
)
_PHRASES = {
    "name": "your name is {}",
    "destination": "you want to go to {}",
    "when": "you travel in {}",
    "home": "you live in {}",
    "budget": "your budget is {}",
    "likes": "you like {}",
    "dislikes": "you don't like {}",
}
_QUESTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("name", re.compile(r"\b(?:my name|who am i|what am i called)\b", re.I)),
    ("destination", re.compile(r"\b(?:where|destination|which (?:city|country|place))\b", re.I)),
    ("budget", re.compile(r"\b(?:budget|afford|cost)\b", re.I)),
)
_QUESTION_START = re.compile(r"\s*(?:what|where|who|which|how|do|does|did|can|could|remind|tell me)\b", re.I)


@dataclass
class Recollection:
    """What the offline model gathered from the history it was sent."""

    earlier_messages: int = 0
    earlier_user_messages: int = 0
    facts: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        if not self.facts:
            return ""
        return "; ".join(_PHRASES[kind].format(value) for kind, value in self.facts.items())


def _clean(value: str) -> str:
    return " ".join(value.strip(" '\"").split())


def facts_in(text: str) -> dict[str, str]:
    """The facts one user message states, by kind."""
    facts: dict[str, str] = {}
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            value = _clean(match.group(1))
            if value:
                facts[kind] = value
    return facts


def recollect(messages: MutableSequence[ChatMessage] | list[ChatMessage]) -> tuple[Recollection, str]:
    """Facts from every user message before the last one, and the last user message itself."""
    conversation = [message for message in messages if message.role != Role.SYSTEM]
    last_user = next((m for m in reversed(conversation) if m.role == Role.USER), None)
    earlier = conversation[: conversation.index(last_user)] if last_user is not None else conversation
    memory = Recollection(earlier_messages=len(earlier))
    for message in earlier:
        if message.role != Role.USER:
            continue
        memory.earlier_user_messages += 1
        memory.facts.update(facts_in(message.text or ""))  # a later statement wins
    return memory, (last_user.text if last_user is not None else "") or ""


def compose_reply(memory: Recollection, question: str) -> str:
    """The offline answer: how much history arrived, what it says, and a reply to the question."""
    plural = "" if memory.earlier_messages == 1 else "s"
    parts = [f"[{DISPLAY_NAME}] I received {memory.earlier_messages} earlier message{plural} from this thread."]
    if memory.facts:
        parts.append(f"From them I remember: {memory.summary()}.")
    elif memory.earlier_messages:
        parts.append("None of them told me your name or where you want to go.")
    else:
        parts.append("This is the start of our conversation.")
    is_question = "?" in question or bool(_QUESTION_START.match(question))
    stated = facts_in(question)
    if stated:
        parts.append("Noted: " + "; ".join(_PHRASES[kind].format(value) for kind, value in stated.items()) + ".")
    asked = [kind for kind, pattern in _QUESTIONS if is_question and kind not in stated and pattern.search(question)]
    answered = False
    for kind in asked:
        if kind in memory.facts:
            sentence = _PHRASES[kind].format(memory.facts[kind])
            parts.append(sentence[0].upper() + sentence[1:] + ".")
            answered = True
        else:
            parts.append(f"You have not told me {'your ' + kind if kind != 'destination' else 'where you want to go'}.")
            answered = True
    if not answered:
        destination = facts_in(question).get("destination") or memory.facts.get("destination")
        if destination:
            parts.append(f"For {destination}: pick one neighbourhood as a base and keep a day free for surprises.")
        elif question.strip():
            parts.append("Tell me where you would like to go and I will plan around what you've told me.")
    return " ".join(parts)


@use_function_invocation
class OfflineChatClient(BaseChatClient):
    """A chat client that needs no service: it replies from the conversation history it receives."""

    OTEL_PROVIDER_NAME: ClassVar[str] = "lab11-offline"
    display_name: ClassVar[str] = DISPLAY_NAME

    def __init__(self, *, chunk_delay: float = 0.015, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_id = MODEL_ID
        self.chunk_delay = chunk_delay

    def service_url(self) -> str:
        return "offline"

    def _reply_text(self, messages: MutableSequence[ChatMessage]) -> str:
        memory, question = recollect(messages)
        return compose_reply(memory, question)

    async def _inner_get_response(
        self, *, messages: MutableSequence[ChatMessage], options: dict[str, Any], **kwargs: Any
    ) -> ChatResponse:
        reply = ChatMessage(role="assistant", text=self._reply_text(messages), message_id=f"msg_{uuid.uuid4().hex}")
        return ChatResponse(messages=[reply], response_id=f"resp_{uuid.uuid4().hex}", model_id=self.model_id)

    async def _inner_get_streaming_response(
        self, *, messages: MutableSequence[ChatMessage], options: dict[str, Any], **kwargs: Any
    ) -> AsyncIterable[ChatResponseUpdate]:
        text = self._reply_text(messages)
        response_id, message_id = f"resp_{uuid.uuid4().hex}", f"msg_{uuid.uuid4().hex}"
        for chunk in re.findall(r"\S+\s*", text):
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            yield ChatResponseUpdate(
                role="assistant",
                contents=[Content.from_text(chunk)],
                response_id=response_id,
                message_id=message_id,
                model_id=self.model_id,
            )
