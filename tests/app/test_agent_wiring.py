"""build_agent / create_thread and the turn semantics, in process, on a real Valkey and real clients."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from agent_framework import AgentThread, ChatAgent
from agent_framework.openai import OpenAIChatClient

import app
from lab11_persistence import config
from lab11_persistence.lab_release.agent import build_chat_client
from lab11_persistence.offline_model.lab_client import OfflineChatClient
from redis_chat_message_store import RedisChatMessageStore
from tests.support.model_server import ModelServer
from tests.support.valkey import ValkeyProcess


def _openai(model_server: ModelServer) -> OpenAIChatClient:
    return OpenAIChatClient(model_id="loopback", api_key="sk-test", base_url=model_server.openai_base_url)


async def _turn(agent: ChatAgent, thread: AgentThread, prompt: str) -> str:
    return "".join([update.text async for update in agent.run_stream(prompt, thread=thread)])


@pytest.mark.app
async def test_threads_get_a_redis_store_with_the_lab_prefix_and_limit(redis_server: ValkeyProcess) -> None:
    agent = app.build_agent(redis_server.url, OfflineChatClient(chunk_delay=0))
    thread, store = app.create_thread(agent, "thread_fixed")
    assert isinstance(agent, ChatAgent)
    assert isinstance(store, RedisChatMessageStore) and thread.message_store is store
    assert (store.redis_key, store.max_messages) == ("lab11:thread_fixed", 200)
    _, other_store = app.create_thread(agent)
    assert other_store.thread_id.startswith("thread_") and other_store.thread_id != "thread_fixed"
    await store.aclose()
    await other_store.aclose()


@pytest.mark.app
async def test_a_turn_is_saved_in_one_transaction(redis_server: ValkeyProcess) -> None:
    """User message and reply go in one add_messages (one MULTI/EXEC): both or neither."""
    agent = app.build_agent(redis_server.url, OfflineChatClient(chunk_delay=0))
    thread, store = app.create_thread(agent)
    redis_server.client().config_resetstat()
    await _turn(agent, thread, "My name is Ada.")
    stats = redis_server.client().info("commandstats")
    assert stats["cmdstat_rpush"]["calls"] == 1
    assert stats["cmdstat_exec"]["calls"] == 1
    assert [m.role.value for m in await store.list_messages()] == ["user", "assistant"]
    await store.aclose()


@pytest.mark.app
async def test_a_failed_model_call_saves_nothing(redis_server: ValkeyProcess, model_server: ModelServer) -> None:
    agent = app.build_agent(redis_server.url, _openai(model_server))
    thread, store = app.create_thread(agent)
    model_server.fail_next(1)
    with pytest.raises(Exception, match=r"500|server"):
        await _turn(agent, thread, "My name is Ada.")
    assert await store.count_messages() == 0
    assert await _turn(agent, thread, "My name is Ada.") == "Model reply 2: I was sent 0 earlier messages."
    assert await store.count_messages() == 2
    await store.aclose()


@pytest.mark.app
async def test_an_interrupted_stream_saves_nothing(redis_server: ValkeyProcess, model_server: ModelServer) -> None:
    """Cancelling mid-stream (what Ctrl-C does) never reaches add_messages."""
    model_server.chunk_delay = 0.1
    model_server.reply = lambda request, number: "slow words " * 30
    agent = app.build_agent(redis_server.url, _openai(model_server))
    thread, store = app.create_thread(agent)
    first_words = asyncio.Event()

    async def consume() -> None:
        async for update in agent.run_stream("Plan a week.", thread=thread):
            if update.text:
                first_words.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_words.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await store.count_messages() == 0
    await store.aclose()


@pytest.mark.fast
def test_settings_repr_never_shows_a_password_or_key() -> None:
    settings = config.load_settings(
        {
            "REDIS_URL": "rediss://user:Redis-Pass-123@cache.example.net:6380/0",
            "AOAI_API_KEY": "aoai-Key-456",
            "OPENAI_API_KEY": "sk-Key-789",
            "AOAI_ENDPOINT": "https://example.openai.azure.com/",
            "AOAI_DEPLOYMENT": "gpt",
        },
        read_dotenv=False,
    )
    agent = app.build_agent(settings.redis_url or "")
    _thread, store = app.create_thread(agent)
    shown = repr(settings) + str(settings) + repr(agent.chat_message_store_factory) + repr(store)
    for secret in ("Redis-Pass-123", "aoai-Key-456", "sk-Key-789"):
        assert secret not in shown
    assert settings.redact("x Redis-Pass-123 aoai-Key-456 sk-Key-789") == "x *** *** ***"


@pytest.mark.fast
def test_environment_wins_over_the_dotenv_file(tmp_path: Path) -> None:
    env_file = tmp_path / "lab.env"
    env_file.write_text("AOAI_DEPLOYMENT=from-file\nAOAI_ENDPOINT=https://file.example/\nREDIS_URL=redis://file:6379\n")
    settings = config.load_settings({"LAB11_ENV_FILE": str(env_file), "AOAI_DEPLOYMENT": "from-env", "REDIS_URL": " "})
    assert settings.aoai_deployment == "from-env"
    assert settings.aoai_endpoint == "https://file.example/"
    assert settings.redis_url == "redis://file:6379"  # blank counts as unset


@pytest.mark.fast
def test_the_model_is_chosen_from_the_configuration() -> None:
    def kind(env: dict[str, str]) -> str:
        return config.load_settings(env, read_dotenv=False).model_kind

    assert kind({}) == "offline"
    assert kind({"OPENAI_API_KEY": "k"}) == "openai"
    assert kind({"AOAI_ENDPOINT": "https://x/", "AOAI_DEPLOYMENT": "d", "OPENAI_API_KEY": "k"}) == "azure"
    assert kind({"AOAI_ENDPOINT": "https://x/"}) == "offline"  # a deployment is needed too


@pytest.mark.fast
def test_azure_https_endpoint_uses_the_deployment_route() -> None:
    settings = config.load_settings(
        {"AOAI_ENDPOINT": "https://lab.openai.azure.com/", "AOAI_DEPLOYMENT": "gpt", "AOAI_API_KEY": "k"},
        read_dotenv=False,
    )
    client = build_chat_client(settings)
    assert type(client).__name__ == "AzureOpenAIChatClient"
    assert str(client.client.base_url) == "https://lab.openai.azure.com/openai/deployments/gpt/"


@pytest.mark.fast
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AOAI_ENDPOINT": "https://x/"}, "AOAI_ENDPOINT is set but AOAI_DEPLOYMENT is not"),
        ({"AOAI_DEPLOYMENT": "gpt"}, "AOAI_DEPLOYMENT is set but AOAI_ENDPOINT is not"),
        ({"AOAI_API_KEY": "k"}, "AOAI_API_KEY is set but AOAI_ENDPOINT and AOAI_DEPLOYMENT are not"),
        ({"OPENAI_BASE_URL": "http://localhost:11434/v1"}, "OPENAI_BASE_URL is set but OPENAI_API_KEY is not"),
    ],
)
def test_a_half_configured_model_is_named_instead_of_falling_back_to_offline(
    env: dict[str, str], expected: str
) -> None:
    (problem,) = config.load_settings(env, read_dotenv=False).problems
    assert problem.startswith(expected)


@pytest.mark.fast
@pytest.mark.parametrize(
    "env",
    [
        {},
        {"AOAI_ENDPOINT": "https://x/", "AOAI_DEPLOYMENT": "gpt"},
        {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://localhost:11434/v1"},
        {"AOAI_ENDPOINT": "https://x/", "AOAI_DEPLOYMENT": "gpt", "OPENAI_BASE_URL": "http://unused/v1"},
    ],
)
def test_complete_model_settings_raise_no_complaint(env: dict[str, str]) -> None:
    assert config.load_settings(env, read_dotenv=False).problems == ()


@pytest.mark.fast
def test_the_azure_client_is_built_in_one_place_with_one_api_version() -> None:
    """Both generations' adapters hand their chat client the SDK client ``agent_wiring`` builds."""
    from lab11_persistence.agent_wiring import AZURE_OPENAI_API_VERSION, azure_openai_client

    settings = config.load_settings(
        {"AOAI_ENDPOINT": "http://127.0.0.1:9/", "AOAI_DEPLOYMENT": "gpt", "AOAI_API_KEY": "k"}, read_dotenv=False
    )
    sdk_client = build_chat_client(settings).client
    assert sdk_client._api_version == azure_openai_client(settings)._api_version == AZURE_OPENAI_API_VERSION
    assert str(sdk_client.base_url) == "http://127.0.0.1:9/openai/deployments/gpt/"


@pytest.mark.fast
def test_the_window_is_summarized_by_the_offline_model_or_else_by_the_agents_own_model() -> None:
    from lab11_persistence.agent_wiring import history_options
    from lab11_persistence.lab_release.agent import summarizer_for
    from lab11_persistence.offline_model.reasoning import summarize_messages
    from lab11_persistence.summaries import ModelSummarizer

    offline = config.load_settings({}, read_dotenv=False)
    assert history_options(offline, object(), summarizer_for)["summarizer"] is summarize_messages
    openai = config.load_settings({"OPENAI_API_KEY": "k", "LAB11_CONTEXT_MESSAGES": "8"}, read_dotenv=False)
    options = history_options(openai, client := object(), summarizer_for)
    assert isinstance(options["summarizer"], ModelSummarizer) and options["summarizer"].chat_client is client
    assert options["context_messages"] == 8
