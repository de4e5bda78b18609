"""The lab's release (agent-framework-core 1.0.0b260130) as ``app.py`` uses it: its ``ChatAgent``, saving
a turn in one ``add_messages`` call, the chat client the settings ask for, and the summarizer of what
falls out of the model's window.

Imported in the background while the first menu is read (``console.startup``), never before.
"""

from __future__ import annotations

from typing import Any

import agent_framework
from agent_framework import ChatMessage

from lab11_persistence import config
from lab11_persistence.agent_wiring import azure_openai_client
from lab11_persistence.config import Settings
from lab11_persistence.redis_history.window import Summarizer
from lab11_persistence.summaries import ModelSummarizer


class ChatAgent(agent_framework.ChatAgent):  # type: ignore[misc]
    """``agent_framework.ChatAgent`` that saves a turn (the user's message and the reply) in one ``add_messages``.

    The lab's release calls ``thread.on_new_messages`` twice per turn (input, then response): if Redis
    went away between the two, the user's message would be saved without its reply. One call is one
    MULTI/EXEC in the store: all or nothing.
    """

    async def _notify_thread_of_new_messages(  # type: ignore[override]
        self, thread: Any, input_messages: Any, response_messages: Any, **kwargs: Any
    ) -> None:
        def as_list(messages: Any) -> list[Any]:
            return [messages] if isinstance(messages, ChatMessage) else list(messages or [])

        turn = [*as_list(input_messages), *as_list(response_messages)]
        if turn:
            await thread.on_new_messages(turn)
        if thread.context_provider:  # as the framework's own version does
            await thread.context_provider.invoked(input_messages, response_messages, **kwargs)


def build_chat_client(settings: Settings) -> Any:
    """Azure OpenAI, OpenAI (or any OpenAI-compatible server), or the offline model."""
    kind = settings.model_kind
    if kind == "azure":
        from agent_framework.azure import AzureOpenAIChatClient

        return AzureOpenAIChatClient(
            deployment_name=settings.aoai_deployment, async_client=azure_openai_client(settings)
        )
    if kind == "openai":
        from agent_framework.openai import OpenAIChatClient

        return OpenAIChatClient(
            model_id=settings.openai_chat_model_id or config.DEFAULT_OPENAI_MODEL,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
        )
    from lab11_persistence.offline_model.lab_client import OfflineChatClient

    return OfflineChatClient()


def preload(settings: Settings) -> None:
    """Import what the first turn needs (run in the background while the menu is read)."""
    import redis_chat_message_store  # noqa: F401  (the lab's store, by its public name: redis.asyncio, pydantic)

    if settings.model_kind == "azure":
        import agent_framework.azure

        if not settings.aoai_api_key:
            import azure.identity  # noqa: F401
    elif settings.model_kind == "openai":
        import agent_framework.openai  # noqa: F401
    else:
        import lab11_persistence.offline_model.lab_client  # noqa: F401


def summarizer_for(chat_client: Any) -> Summarizer:
    """``chat_client`` (a chat client of the lab's release) asked to summarize what fell out of the window."""
    return ModelSummarizer(chat_client, lambda role, text: ChatMessage(role=role, text=text))
