"""The offline model as an Agent Framework 1.x chat client (``reasoning`` is shared with the lab's release)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from agent_framework import (
    BaseChatClient,
    ChatResponse,
    ChatResponseUpdate,
    Content,
    FunctionInvocationLayer,
    Message,
)

from lab11_persistence.offline_model.reasoning import DISPLAY_NAME, MODEL_ID, compose_reply, recollect, typed_out

__all__ = ["OfflineChatClientV1"]


class OfflineChatClientV1(FunctionInvocationLayer, BaseChatClient):  # type: ignore[misc]
    """A 1.x chat client that needs no service: it replies from the conversation history it receives."""

    OTEL_PROVIDER_NAME = "lab11-offline"
    display_name = DISPLAY_NAME

    def __init__(self, *, chunk_delay: float = 0.015, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_id = MODEL_ID
        self.chunk_delay = chunk_delay

    def _reply_text(self, messages: Sequence[Message]) -> str:
        memory, question = recollect((str(message.role), message.text or "") for message in messages)
        return compose_reply(memory, question)

    def _inner_get_response(
        self, *, messages: Sequence[Message], stream: bool, options: Mapping[str, Any], **kwargs: Any
    ) -> Any:
        text = self._reply_text(messages)
        response_id, message_id = f"resp_{uuid.uuid4().hex}", f"msg_{uuid.uuid4().hex}"
        if not stream:

            async def whole() -> ChatResponse:
                reply = Message(role="assistant", contents=[Content.from_text(text)], message_id=message_id)
                return ChatResponse(messages=[reply], response_id=response_id, model=self.model_id)

            return whole()

        async def chunks() -> AsyncIterator[ChatResponseUpdate]:
            fields = {"role": "assistant", "response_id": response_id, "message_id": message_id, "model": self.model_id}
            async for chunk in typed_out(text, self.chunk_delay):
                yield ChatResponseUpdate(contents=[Content.from_text(chunk)], **fields)

        return self._build_response_stream(chunks())
