"""``app.py``'s agent on Agent Framework 1.x: an ``Agent`` whose history comes from ``RedisHistoryProvider``.

1.x has no ``ChatAgent`` or ``chat_message_store_factory``. The same thread continues through a
session whose id is the lab's thread id (``agent.create_session(session_id=thread_id)``), so the
provider reads and writes the lab's key ``lab11:{thread_id}``: a thread started on the lab's release
goes on here, and back. The menu drives it through the same ``Conversation`` calls as ``app.py``'s.

Imported in the background while the first menu is read (``console.startup``), never before; so it
imports at the top what every turn needs, and only the chat client's module by the settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agent_framework import Agent, Message

from lab11_persistence.agent_wiring import azure_openai_client, history_options
from lab11_persistence.config import DEFAULT_OPENAI_MODEL, INSTRUCTIONS, KEY_PREFIX, MAX_MESSAGES, Settings
from lab11_persistence.offline_model.v1_client import OfflineChatClientV1
from lab11_persistence.redis_history.message_json import shown
from lab11_persistence.server.entra_id import store_connection
from lab11_persistence.transcript import Transcript
from lab11_persistence.v1.history_provider import RedisHistoryProvider, summarizer_for

if TYPE_CHECKING:  # pragma: no cover
    from lab11_persistence.redis_history.history import SavedThread


def openai_client_class() -> type:
    """1.x's OpenAI chat client, imported only when a model other than the offline one is configured.

    The one place this module imports lazily: ``agent_framework.openai`` takes about a second (``preload``
    calls this in the background while the menu is read).
    """
    from agent_framework.openai import OpenAIChatCompletionClient

    return OpenAIChatCompletionClient


def preload(settings: Settings) -> None:
    """Import what the first turn needs (run in the background while the menu is read): this module and the
    provider are in by now, the chat client's module follows."""
    if settings.model_kind != "offline":
        openai_client_class()


def build_chat_client(settings: Settings) -> Any:
    """OpenAI (or any OpenAI-compatible server, Azure OpenAI's deployment route included), or the offline model."""
    if settings.model_kind == "offline":
        return OfflineChatClientV1()
    client_class = openai_client_class()
    if settings.model_kind == "azure":
        return client_class(model=settings.aoai_deployment, async_client=azure_openai_client(settings))
    return client_class(
        model=settings.openai_chat_model_id or DEFAULT_OPENAI_MODEL,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
    )


def build_agent(provider: RedisHistoryProvider, chat_client: Any) -> Agent:
    """The travel planner on 1.x: the provider loads the thread before each run and saves the turn after it."""
    return Agent(chat_client, INSTRUCTIONS, name="TravelPlanner", context_providers=[provider])


def open_conversation(settings: Settings, redis_url: str, thread_id: str) -> ConversationV1:
    chat_client = build_chat_client(settings)
    provider = RedisHistoryProvider(
        **store_connection(settings, redis_url),
        key_prefix=KEY_PREFIX,
        max_messages=MAX_MESSAGES,
        **history_options(settings, chat_client, summarizer_for),
    )
    return ConversationV1(build_agent(provider, chat_client), provider, thread_id)


def shown_message(message: Message) -> tuple[str, str]:
    """(role, text) of a 1.x Message, as the menu shows it (the same rendering as the lab's)."""
    return shown(message.to_dict())


class ConversationV1:
    """The menu's view of a 1.x ``Agent``: its current session and the Redis history behind it."""

    def __init__(self, agent: Agent, provider: RedisHistoryProvider, thread_id: str) -> None:
        self.agent, self.provider = agent, provider
        self.session = agent.create_session(session_id=thread_id)
        self.thread_id = thread_id

    async def reply(self, prompt: str) -> AsyncIterator[str]:
        """``agent.run(..., stream=True)``: the provider's ``save_messages`` saves the turn when it ends."""
        async for update in self.agent.run(prompt, session=self.session, stream=True):
            if update.text:
                yield update.text

    async def history(self) -> Transcript:
        """Every stored message (``get_messages`` is what the model is sent: the summary and the window)."""
        messages = [shown_message(message) for message in await self.provider.all_messages(self.thread_id)]
        return Transcript.of(messages, await self.provider.summary(self.thread_id))

    async def switch_to(self, thread_id: str) -> None:
        self.session = self.agent.create_session(session_id=thread_id)
        self.thread_id = thread_id

    async def saved_threads(self, limit: int) -> list[SavedThread]:
        return await self.provider.history.list_threads(limit)

    async def delete_thread(self, thread_id: str) -> None:
        await self.provider.history.clear(thread_id)

    def state(self) -> dict[str, Any]:
        return self.provider.history.state_of(self.thread_id)

    async def aclose(self) -> None:
        await self.provider.aclose()
