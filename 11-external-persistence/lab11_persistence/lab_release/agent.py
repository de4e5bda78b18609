"""The lab's release (agent-framework-core 1.0.0b260130) as ``app.py`` uses it: its ``ChatAgent``, saving
a turn in one ``add_messages`` call, the chat client the settings ask for, and the summarizer of what
falls out of the model's window.

Imported in the background while the first menu is read (``console.startup``), never before; so it
imports at the top what every turn needs, and only the chat client's module by the settings.
"""

from __future__ import annotations

from typing import Any

import agent_framework
from agent_framework import ChatMessage

import redis_chat_message_store  # noqa: F401  (loaded here, in the background, for app.py: redis.asyncio, pydantic)
from lab11_persistence.agent_wiring import azure_openai_client
from lab11_persistence.config import DEFAULT_OPENAI_MODEL, Settings
from lab11_persistence.offline_model.lab_client import OfflineChatClient
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


def chat_client_class(settings: Settings) -> type:
    """The chat client class the settings ask for, its module imported now and only that one.

    The one place this module imports lazily: ``agent_framework.openai`` alone takes about a second, and an
    offline or Azure app never needs it (``preload`` calls this in the background while the menu is read).
    """
    if settings.model_kind == "azure":
        from agent_framework.azure import AzureOpenAIChatClient

        return AzureOpenAIChatClient
    if settings.model_kind == "openai":
        from agent_framework.openai import OpenAIChatClient

        return OpenAIChatClient
    return OfflineChatClient


def build_chat_client(settings: Settings) -> Any:
    """Azure OpenAI, OpenAI (or any OpenAI-compatible server), or the offline model."""
    client_class = chat_client_class(settings)
    if settings.model_kind == "azure":
        return client_class(deployment_name=settings.aoai_deployment, async_client=azure_openai_client(settings))
    if settings.model_kind == "openai":
        return client_class(
            model_id=settings.openai_chat_model_id or DEFAULT_OPENAI_MODEL,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
        )
    return client_class()


def preload(settings: Settings) -> None:
    """Import what the first turn needs (run in the background while the menu is read): this module and
    the lab's store are in by now, the chat client's module follows."""
    chat_client_class(settings)


def summarizer_for(chat_client: Any) -> Summarizer:
    """``chat_client`` (a chat client of the lab's release) asked to summarize what fell out of the window."""
    return ModelSummarizer(chat_client, lambda role, text: ChatMessage(role=role, text=text))
