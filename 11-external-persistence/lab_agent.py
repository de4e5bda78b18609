"""The lab's wiring on agent-framework-core 1.0.0b260130: a ``ChatAgent`` whose threads get the
lab's ``RedisChatMessageStore`` through ``chat_message_store_factory``, and the menu's view of it.

Nothing here is imported before the menu is on screen: the Agent Framework loads in the background.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import config
from config import INSTRUCTIONS, KEY_PREFIX, MAX_MESSAGES, Settings

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import AsyncIterator

    from agent_framework import AgentThread, ChatAgent, ChatMessage

    from redis_chat_message_store import RedisChatMessageStore
    from redis_history import SavedThread

AZURE_TOKEN_SCOPE = "https://cognitiveservices.azure.com/.default"


class StoreFactory:
    """The agent's ``chat_message_store_factory``: one ``RedisChatMessageStore`` per thread.

    ``next_thread_id`` lets the app name the thread before the framework asks for
    its store (the menu shows the key before anything is imported). ``connection`` replaces
    ``redis_url=`` when the app signs in otherwise (``entra_id.store_connection``).
    """

    def __init__(
        self,
        redis_url: str,
        *,
        ssl_ca_certs: str | None = None,
        cluster: bool = False,
        connection: dict[str, Any] | None = None,
    ) -> None:
        self.connection = connection or {"redis_url": redis_url}
        self.ssl_ca_certs = ssl_ca_certs
        self.cluster = cluster
        self.next_thread_id: str | None = None

    def __call__(self, thread_id: str | None = None) -> RedisChatMessageStore:
        from redis_chat_message_store import RedisChatMessageStore

        thread_id, self.next_thread_id = thread_id or self.next_thread_id, None
        return RedisChatMessageStore(
            **self.connection,
            thread_id=thread_id,
            key_prefix=KEY_PREFIX,
            max_messages=MAX_MESSAGES,
            ssl_ca_certs=self.ssl_ca_certs,
            cluster=self.cluster,
        )

    def __repr__(self) -> str:  # the URL may hold a password
        return f"StoreFactory(key_prefix={KEY_PREFIX!r}, max_messages={MAX_MESSAGES})"


_AGENT_CLASS: type | None = None


def _lab_agent_class() -> type:
    """``ChatAgent`` that saves a turn (the user's message and the reply) in one ``add_messages`` call.

    ``ChatAgent`` in 1.0.0b260130 calls ``thread.on_new_messages`` twice per turn (input,
    then response): if Redis went away between the two, the user's message would be
    saved without its reply. One call is one MULTI/EXEC in the store: all or nothing.
    """
    global _AGENT_CLASS
    if _AGENT_CLASS is None:
        from agent_framework import ChatAgent, ChatMessage

        class LabAgent(ChatAgent):  # type: ignore[misc, valid-type]
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

        _AGENT_CLASS = LabAgent
    return _AGENT_CLASS


def build_agent(
    redis_url: str,
    chat_client: Any = None,
    *,
    ssl_ca_certs: str | None = None,
    cluster: bool = False,
    connection: dict[str, Any] | None = None,
) -> ChatAgent:
    """A concise travel-planner ``ChatAgent`` whose threads keep their history in Redis.

    ``cluster=True`` when ``redis_url`` is a Redis Cluster (``REDIS_CLUSTER=1``).
    """
    if chat_client is None:
        from offline_model import OfflineChatClient

        chat_client = OfflineChatClient()
    return _lab_agent_class()(
        chat_client=chat_client,
        name="TravelPlanner",
        instructions=INSTRUCTIONS,
        chat_message_store_factory=StoreFactory(
            redis_url, ssl_ca_certs=ssl_ca_certs, cluster=cluster, connection=connection
        ),
    )


def create_thread(agent: ChatAgent, thread_id: str | None = None) -> tuple[AgentThread, RedisChatMessageStore]:
    """A new thread from the agent; checks that its store is the Redis store and returns both."""
    from redis_chat_message_store import RedisChatMessageStore

    factory = agent.chat_message_store_factory
    if isinstance(factory, StoreFactory):
        factory.next_thread_id = thread_id
    thread = agent.get_new_thread()
    store = thread.message_store
    if not isinstance(store, RedisChatMessageStore):
        raise TypeError(f"The agent's thread uses {type(store).__name__}, not RedisChatMessageStore.")
    return thread, store


def build_chat_client(settings: Settings) -> Any:
    """Azure OpenAI, OpenAI (or any OpenAI-compatible server), or the offline model."""
    kind = settings.model_kind
    if kind == "azure":
        from agent_framework.azure import AzureOpenAIChatClient

        auth: dict[str, Any] = {"api_key": settings.aoai_api_key}
        if not settings.aoai_api_key:
            # az login, managed identity, environment...; tokens are fetched (and refreshed) per request.
            from azure.identity import DefaultAzureCredential, get_bearer_token_provider

            auth = {"ad_token_provider": get_bearer_token_provider(DefaultAzureCredential(), AZURE_TOKEN_SCOPE)}
        endpoint = settings.aoai_endpoint or ""
        if endpoint.startswith("http://"):
            # AzureOpenAISettings accepts only https endpoints; a local emulator (or the tests'
            # loopback server) speaks http, so hand the framework an SDK client built for it.
            from agent_framework.azure._shared import DEFAULT_AZURE_API_VERSION
            from openai import AsyncAzureOpenAI

            sdk_auth = (
                {"api_key": auth["api_key"]}
                if "api_key" in auth
                else {"azure_ad_token_provider": auth["ad_token_provider"]}
            )
            sdk_client = AsyncAzureOpenAI(
                azure_endpoint=endpoint,
                azure_deployment=settings.aoai_deployment,
                api_version=DEFAULT_AZURE_API_VERSION,
                **sdk_auth,
            )
            return AzureOpenAIChatClient(deployment_name=settings.aoai_deployment, async_client=sdk_client)
        return AzureOpenAIChatClient(endpoint=endpoint, deployment_name=settings.aoai_deployment, **auth)
    if kind == "openai":
        from agent_framework.openai import OpenAIChatClient

        return OpenAIChatClient(
            model_id=settings.openai_chat_model_id or config.DEFAULT_OPENAI_MODEL,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
        )
    from offline_model import OfflineChatClient

    return OfflineChatClient()


def preload(settings: Settings) -> None:
    """Import what the first turn needs (run in the background while the menu is read)."""
    import redis_chat_message_store  # noqa: F401  (redis.asyncio, pydantic)

    if settings.model_kind == "azure":
        import agent_framework.azure

        if not settings.aoai_api_key:
            import azure.identity  # noqa: F401
    elif settings.model_kind == "openai":
        import agent_framework.openai  # noqa: F401
    else:
        import offline_model  # noqa: F401


def open_conversation(settings: Settings, redis_url: str, thread_id: str) -> LabConversation:
    from entra_id import store_connection

    agent = build_agent(
        redis_url,
        build_chat_client(settings),
        ssl_ca_certs=settings.redis_ca_cert,
        cluster=settings.redis_is_cluster,
        connection=store_connection(settings, redis_url),
    )
    return LabConversation(agent, thread_id)


def shown_message(message: ChatMessage) -> tuple[str, str]:
    """(role, text) of a ChatMessage, its contents unwrapped as the menu shows them."""
    from message_json import shown

    return shown(message.to_dict())


class LabConversation:
    """The menu's view of a ``ChatAgent``: its current ``AgentThread`` and that thread's Redis store."""

    def __init__(self, agent: ChatAgent, thread_id: str) -> None:
        self.agent = agent
        self.thread, self.store = create_thread(agent, thread_id)

    @property
    def thread_id(self) -> str:
        return self.store.thread_id

    async def reply(self, prompt: str) -> AsyncIterator[str]:
        """``agent.run_stream``: the store's ``add_messages`` saves the turn once the reply is complete."""
        async for update in self.agent.run_stream(prompt, thread=self.thread):
            if update.text:
                yield update.text

    async def history(self) -> list[tuple[str, str]]:
        return [shown_message(message) for message in await self.store.list_messages()]

    async def switch_to(self, thread_id: str) -> None:
        """A new store for the thread from the agent's factory, in a new ``AgentThread``; the old store closed."""
        from agent_framework import AgentThread

        factory = self.agent.chat_message_store_factory
        if not isinstance(factory, StoreFactory):  # pragma: no cover - build_agent always installs one
            raise TypeError("The agent has no Redis store factory.")
        old_store = self.store
        self.store = factory(thread_id=thread_id)
        self.thread = AgentThread(message_store=self.store)
        await old_store.aclose()

    async def saved_threads(self, limit: int) -> list[SavedThread]:
        return await self.store.list_saved_threads(limit)

    async def delete_thread(self, thread_id: str) -> None:
        await self.store.history.clear(thread_id)

    def state(self) -> dict[str, Any]:
        return self.store.current_state().model_dump()

    async def aclose(self) -> None:
        await self.store.aclose()
