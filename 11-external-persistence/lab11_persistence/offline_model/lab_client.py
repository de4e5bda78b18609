"""An offline chat model: a real ``BaseChatClient`` that answers from the history it is given.

It needs no network and no key. It is not clever, but it is honest about what it
received: every reply says how many earlier messages reached it and repeats the
facts the user stated in them ("my name is ...", "I want to go to ..."). That
makes the lab's "verify the assistant still remembers" step visible offline: after
a restart and a resumed thread, the reply can only mention those facts if the
Redis history really was sent to the model.

The reasoning (which facts a message states, what a question asks) lives in ``reasoning``,
free of any framework type; this module is only the chat client around it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, MutableSequence
from typing import Any, ClassVar

from agent_framework import (
    BaseChatClient,
    ChatMessage,
    ChatResponse,
    ChatResponseUpdate,
    Content,
    use_function_invocation,
)

from lab11_persistence.offline_model.reasoning import (
    DISPLAY_NAME,
    MODEL_ID,
    Recollection,
    asked_in,
    compose_reply,
    facts_in,
    recollect,
    typed_out,
)

__all__ = [
    "DISPLAY_NAME",
    "MODEL_ID",
    "OfflineChatClient",
    "Recollection",
    "asked_in",
    "compose_reply",
    "facts_in",
    "recollect",
]


def _turns(messages: MutableSequence[ChatMessage]) -> list[tuple[str, str]]:
    """The messages as the ``(role, text)`` pairs the reasoning reads."""
    return [(str(getattr(message.role, "value", message.role)), message.text or "") for message in messages]


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
        memory, question = recollect(_turns(messages))
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
        ids = {"response_id": f"resp_{uuid.uuid4().hex}", "message_id": f"msg_{uuid.uuid4().hex}"}
        fields = {"role": "assistant", "model_id": self.model_id, **ids}
        async for chunk in typed_out(text, self.chunk_delay):
            yield ChatResponseUpdate(contents=[Content.from_text(chunk)], **fields)
