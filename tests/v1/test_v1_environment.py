"""The 1.x environment (.venv-v1, requirements-v1-dev.txt) is what tests/v1 expects to run on."""

from __future__ import annotations

from importlib.metadata import version

import agent_framework
import pytest

pytestmark = pytest.mark.v1


def test_agent_framework_is_the_pinned_1x_release() -> None:
    assert version("agent-framework-core") == "1.23.0"


def test_the_1x_names_replace_the_labs() -> None:
    for name in ("Agent", "Message", "HistoryProvider", "AgentSession"):
        assert hasattr(agent_framework, name), name
    assert not hasattr(agent_framework, "ChatAgent")


def test_microsofts_1x_redis_provider_is_installed_beside_it() -> None:
    from agent_framework_redis import RedisHistoryProvider

    assert issubclass(RedisHistoryProvider, agent_framework.HistoryProvider)


def test_the_openai_chat_clients_are_installed() -> None:
    from agent_framework.openai import OpenAIChatCompletionClient

    assert OpenAIChatCompletionClient is not None
