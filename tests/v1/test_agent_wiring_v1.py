"""The 1.x adapter builds its Azure OpenAI client from the same place as the lab's (``agent_wiring``)."""

from __future__ import annotations

import pytest

from lab11_persistence.agent_wiring import AZURE_OPENAI_API_VERSION
from lab11_persistence.config import load_settings
from lab11_persistence.v1.agent import build_chat_client
from tests.support.app_driver import run_with_app_modules

pytestmark = pytest.mark.v1


def test_the_azure_client_on_1x_speaks_the_same_api_version_on_the_deployment_route() -> None:
    settings = load_settings(
        {"AOAI_ENDPOINT": "https://lab.openai.azure.com/", "AOAI_DEPLOYMENT": "gpt", "AOAI_API_KEY": "k"},
        read_dotenv=False,
    )
    sdk_client = build_chat_client(settings).client
    assert sdk_client._api_version == AZURE_OPENAI_API_VERSION
    assert str(sdk_client.base_url) == "https://lab.openai.azure.com/openai/deployments/gpt/"


def test_the_1x_adapter_does_not_load_the_terminal_program() -> None:
    """An adapter sits below the terminal program: importing it loads nothing of ``console``."""
    script = (
        "import sys, lab11_persistence.v1.agent; "
        "print(sorted(name for name in sys.modules if name.startswith('lab11_persistence.console')))"
    )
    result = run_with_app_modules(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
