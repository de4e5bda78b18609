"""The lab's "Try it yourself" steps, driven through the real program in a pseudo-terminal.

Chat twice, exit, start again, load the thread by number, see the history, and ask
a question whose answer can only be right if the earlier turns reached the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.support.app_driver import FIRST, QUESTION, SECOND, LabApp, assert_clean, chat_twice_and_exit
from tests.support.model_server import ModelServer

pytestmark = pytest.mark.app


def _load_first_saved_thread(app: LabApp, key: str) -> None:
    """At the menu: option 3, pick thread 1, see its history."""
    app.choose("3")
    app.expect(r"Load which thread\? \(1-\d+, Enter to go back\): ")
    listing = app.transcript
    assert f"1) {key}  4 messages" in listing, listing
    assert f'"{FIRST[:40]}' in listing, listing  # the start of its first user message
    app.choose("1")
    app.expect_exact(f"Loaded thread {key} (4 messages).")
    app.expect_exact("4. assistant: ")
    app.menu()


def test_offline_model_remembers_earlier_turns_after_a_restart(start_app: Callable[..., LabApp]) -> None:
    """After exit and restart, the loaded thread's history reaches the offline model."""
    key = chat_twice_and_exit(start_app)

    app = start_app()
    app.menu()
    assert key not in app.transcript  # a restart starts on a new thread
    _load_first_saved_thread(app, key)
    history = app.transcript
    assert f"1. user: {FIRST}" in history
    assert f"3. user: {SECOND}" in history

    reply = app.say(QUESTION)
    assert "I received 4 earlier messages" in reply, reply
    assert "Your name is Ada." in reply and "You want to go to Lisbon." in reply, reply
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_history_shows_roles_oldest_first(start_app: Callable[..., LabApp]) -> None:
    """Option 2 prints every stored message with its role, in the order it was said."""
    app = start_app()
    app.menu()
    app.say(FIRST)
    app.say(SECOND)
    app.choose("2")
    app.expect_exact("4. assistant: ")
    app.menu()
    lines = [line for line in app.transcript.splitlines() if re.match(r"^\d\. ", line)]
    assert [line.split(":")[0] for line in lines] == ["1. user", "2. assistant", "3. user", "4. assistant"]
    assert app.exit() == 0


def _restart_flow_through_model_server(
    start_app: Callable[..., LabApp], model_server: ModelServer, env: dict[str, str]
) -> list[tuple[str, str]]:
    """Chat twice, restart, load the thread, ask again; returns what the model was sent last."""
    key = chat_twice_and_exit(start_app, env)
    assert len(model_server.answered) == 2
    app = start_app(env)
    app.menu()
    _load_first_saved_thread(app, key)
    reply = app.say(QUESTION)
    assert reply.startswith("Model reply 3: I was sent 4 earlier messages."), reply
    assert app.exit() == 0
    assert_clean(app.transcript)
    return model_server.answered[-1].conversation


def test_restart_flow_through_openai_client_sends_earlier_turns_in_order(
    start_app: Callable[..., LabApp], model_server: ModelServer
) -> None:
    """OpenAIChatClient against a loopback server: after the restart, the request carries the earlier turns."""
    env = {
        "OPENAI_API_KEY": "sk-test-openai-key-not-secret",
        "OPENAI_BASE_URL": model_server.openai_base_url,
        "OPENAI_CHAT_MODEL_ID": "loopback-model",
    }
    sent = _restart_flow_through_model_server(start_app, model_server, env)
    assert sent == [
        ("user", FIRST),
        ("assistant", "Model reply 1: I was sent 0 earlier messages."),
        ("user", SECOND),
        ("assistant", "Model reply 2: I was sent 2 earlier messages."),
        ("user", QUESTION),
    ]
    last = model_server.answered[-1]
    assert last.path == "/v1/chat/completions" and last.body["model"] == "loopback-model"
    assert last.body["stream"] is True


def test_restart_flow_through_azure_client_sends_earlier_turns_in_order(
    start_app: Callable[..., LabApp], model_server: ModelServer
) -> None:
    """AzureOpenAIChatClient against a loopback server: same flow, on the deployment route."""
    env = {
        "AOAI_ENDPOINT": model_server.url,
        "AOAI_DEPLOYMENT": "lab11-deployment",
        "AOAI_API_KEY": "azure-test-key-not-secret",
    }
    sent = _restart_flow_through_model_server(start_app, model_server, env)
    assert [role for role, _ in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert [text for _, text in sent][::2] == [FIRST, SECOND, QUESTION]
    last = model_server.answered[-1]
    assert last.deployment == "lab11-deployment"
    assert last.path == "/openai/deployments/lab11-deployment/chat/completions"
    assert "api-version" in last.query
    assert last.headers.get("api-key") == "azure-test-key-not-secret"
    system = [m for m in last.messages if m.get("role") == "system"]
    assert system and "travel planner" in str(system[0].get("content")), last.messages
