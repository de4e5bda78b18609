"""Everything a user can get wrong, through the real program: one clear line, never a traceback."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.app_driver import MENU_PROMPT, LabApp, assert_clean
from tests.support.model_server import ModelServer
from tests.support.valkey import ValkeyProcess, free_port

pytestmark = pytest.mark.app

NOT_ON_MENU = "Please choose 1, 2, 3, 4, 5 or 0"


def test_garbage_and_empty_choices_reprompt(start_app: Callable[..., LabApp]) -> None:
    """Unknown or empty menu choices say what is allowed and show the menu again."""
    app = start_app()
    app.menu()
    for garbage in ("hello", "", "9", "-1", "1 2"):
        app.choose(garbage)
        app.expect_exact(NOT_ON_MENU)
        app.menu()
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_thread_number_out_of_range_reprompts_and_enter_goes_back(start_app: Callable[..., LabApp]) -> None:
    """The thread picker accepts only a listed number; Enter returns to the menu."""
    app = start_app()
    app.menu()
    app.say("My name is Ada.")
    app.choose("3")
    for wrong in ("7", "0", "abc"):
        app.expect_exact("Enter to go back): ")
        app.choose(wrong)
        app.expect_exact("Please type a number from 1 to 1, or press Enter to go back.")
    app.expect_exact("Enter to go back): ")
    app.choose("")
    app.menu()
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_ctrl_c_at_the_message_prompt_returns_to_the_menu(start_app: Callable[..., LabApp]) -> None:
    app = start_app()
    app.menu()
    app.choose("1")
    app.expect_exact("You: ")
    app.child.sendintr()
    app.menu()
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_ctrl_c_at_the_menu_exits_cleanly(start_app: Callable[..., LabApp]) -> None:
    app = start_app()
    app.menu()
    app.child.sendintr()
    assert app.finish() == 0
    assert_clean(app.transcript)


def test_ctrl_d_at_the_menu_exits_cleanly(start_app: Callable[..., LabApp]) -> None:
    app = start_app()
    app.menu()
    app.child.sendeof()
    assert app.finish() == 0
    assert_clean(app.transcript)


def test_empty_message_is_not_sent(start_app: Callable[..., LabApp]) -> None:
    app = start_app()
    app.menu()
    app.choose("1")
    app.expect_exact("You: ")
    app.choose("   ")
    app.expect_exact("Nothing sent (empty message).")
    app.menu()
    app.choose("2")
    app.expect_exact("No messages in lab11:thread_")
    assert app.exit() == 0


def test_a_message_with_bytes_that_are_not_text_is_saved_with_replacement_characters(
    start_app: Callable[..., LabApp],
) -> None:
    """A broken paste is still a message: the bad bytes become U+FFFD, the turn is saved."""
    app = start_app()
    app.menu()
    app.choose("1")
    app.expect_exact("You: ")
    os.write(app.child.child_fd, b"I like caf\xff\xfe food\n")
    app.expect_exact("assistant: ")
    app.menu()
    app.choose("2")
    app.expect_exact("user: I like caf\ufffd\ufffd food")
    app.menu()
    assert app.exit() == 0
    assert "could not be saved" not in app.transcript and "failed" not in app.transcript
    assert_clean(app.transcript)


def _rotate_password(server: ValkeyProcess, password: str) -> None:
    """What rotating an access key does to a running app: a new password, and its connections dropped."""
    admin = server.client()
    admin.config_set("requirepass", password)
    admin.client_kill_filter(_type="normal", skipme=True)
    admin.close()


def _openai_env(model_server: ModelServer, key: str = "sk-test-key-not-secret") -> dict[str, str]:
    return {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": model_server.openai_base_url}


def test_ctrl_c_while_a_reply_streams_stops_it_and_saves_nothing(
    start_app: Callable[..., LabApp], model_server: ModelServer
) -> None:
    """The framework saves a turn only after the stream completes: an interrupted turn leaves no trace."""
    model_server.chunk_delay = 0.2
    model_server.reply = lambda request, number: "A long and slow answer " * 20
    app = start_app(_openai_env(model_server))
    app.menu()
    app.choose("1")
    app.expect_exact("You: ")
    app.choose("Plan a week in Lisbon.")
    app.expect_exact("assistant: A long")
    app.child.sendintr()
    app.expect_exact("Stopped. Nothing from this turn was saved; you can send it again.")
    app.menu()
    app.choose("2")
    app.expect_exact("No messages in lab11:thread_")
    app.menu()
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_model_error_says_so_saves_nothing_and_the_message_can_be_sent_again(
    start_app: Callable[..., LabApp], model_server: ModelServer
) -> None:
    model_server.fail_next(1)
    app = start_app(_openai_env(model_server))
    app.menu()
    app.choose("1")
    app.expect_exact("You: ")
    app.choose("My name is Ada.")
    app.expect_exact("The model call failed")
    app.expect_exact("Nothing from this turn was saved; you can send it again.")
    app.menu()
    app.choose("2")
    app.expect_exact("No messages in lab11:thread_")
    app.menu()
    reply = app.say("My name is Ada.")
    assert reply.startswith("Model reply 2"), reply
    app.choose("2")
    app.expect_exact("2. assistant: Model reply 2")
    app.menu()
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_azure_without_a_key_or_a_sign_in_says_how_to_sign_in_in_one_line(
    start_app: Callable[..., LabApp], model_server: ModelServer
) -> None:
    """No AOAI_API_KEY and no Azure credential on the machine (no az login, no managed identity)."""
    app = start_app({"AOAI_ENDPOINT": model_server.url, "AOAI_DEPLOYMENT": "lab11-deployment"})
    app.menu()
    app.choose("1")
    app.expect_exact("You: ")
    app.choose("My name is Ada.")
    app.expect_exact("Could not sign in to Azure OpenAI (DefaultAzureCredential failed to retrieve a token", timeout=60)
    app.expect_exact("Run `az login` or set AOAI_API_KEY. Nothing from this turn was saved; you can send it again.")
    app.menu()
    app.choose("2")
    app.expect_exact("No messages in lab11:thread_")
    app.menu()
    assert app.exit() == 0
    assert model_server.requests == []  # nothing went out without a token
    assert "Attempted credentials" not in app.transcript  # the SDK's page-long message stays out
    assert_clean(app.transcript)


def test_redis_unreachable_at_start_names_host_and_port_and_exits_nonzero(start_app: Callable[..., LabApp]) -> None:
    port = free_port()
    app = start_app({"REDIS_URL": f"redis://:Sup3r-Secret-Pw@127.0.0.1:{port}/0"})
    status = app.finish()
    output = app.transcript.strip()
    assert status == 1
    assert output.count("\n") == 0, output  # one line
    assert f"127.0.0.1:{port}" in output
    assert "Sup3r-Secret-Pw" not in output
    assert_clean(output)


def test_a_wrong_redis_password_at_start_is_one_line_and_exits_nonzero(
    start_app: Callable[..., LabApp], tmp_path: Path
) -> None:
    server = ValkeyProcess(tmp_path / "valkey", password="The-Right-Pw-4471").start()
    try:
        app = start_app({"REDIS_URL": f"redis://:Wrong-Pw-9913@127.0.0.1:{server.port}/0"})
        status = app.finish()
    finally:
        server.kill()
    output = app.transcript.strip()
    assert status == 1
    assert "Wrong-Pw-9913" not in output and "The-Right-Pw-4471" not in output
    assert output == (
        f"Redis at 127.0.0.1:{server.port}/0 refused the password in REDIS_URL "
        "(WRONGPASS invalid username-password pair or user is disabled)."
    )
    assert_clean(output)


def test_azure_endpoint_without_a_deployment_is_one_line_and_exit_status_2(start_app: Callable[..., LabApp]) -> None:
    """The user meant Azure OpenAI: say what is missing rather than quietly use the offline model."""
    app = start_app({"AOAI_ENDPOINT": "https://lab.openai.azure.com/"})
    status = app.finish()
    output = app.transcript.strip()
    assert status == 2
    assert output == (
        "AOAI_ENDPOINT is set but AOAI_DEPLOYMENT is not: Azure OpenAI needs both AOAI_ENDPOINT and AOAI_DEPLOYMENT."
    )


def test_redis_lost_mid_session_keeps_the_app_up_and_the_next_action_retries(
    start_app: Callable[..., LabApp], redis_server: ValkeyProcess
) -> None:
    app = start_app({"REDIS_URL": redis_server.url})
    app.menu()
    app.say("My name is Ada.")
    redis_server.stop()
    app.choose("2")
    app.expect_exact(f"Redis is unavailable: Cannot reach Redis at 127.0.0.1:{redis_server.port}/0")
    app.menu()
    redis_server.start()
    app.choose("2")
    app.expect_exact("2. assistant: ")
    app.menu()
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_a_password_set_on_redis_mid_session_says_to_fix_redis_url(
    start_app: Callable[..., LabApp], redis_server: ValkeyProcess
) -> None:
    """Retrying cannot fix refused credentials (a rotated access key): the message says what will."""
    app = start_app({"REDIS_URL": redis_server.url})
    app.menu()
    app.say("My name is Ada.")
    _rotate_password(redis_server, "Rotated-Key-5150")
    app.choose("2")
    app.expect_exact(f"Redis at 127.0.0.1:{redis_server.port}/0 refused the connection")
    app.expect_exact("Fix REDIS_URL and start the app again.")
    app.menu()
    assert app.exit() == 0
    assert "Try again" not in app.transcript
    assert_clean(app.transcript)


def test_embedded_server_killed_mid_session_is_restarted_with_nothing_lost(
    start_app: Callable[..., LabApp], data_dir: Path
) -> None:
    """appendfsync always: a SIGKILLed server loses no saved message, and the app starts a new one."""
    app = start_app()
    app.menu()
    app.say("My name is Ada.")
    state = json.loads((data_dir / "server.json").read_text())
    os.kill(state["server_pid"], signal.SIGKILL)
    app.choose("2")
    app.expect_exact("The embedded server has been restarted: try again.")
    app.menu()
    app.choose("2")
    app.expect_exact("1. user: My name is Ada.")
    app.expect_exact("2. assistant: ")
    app.menu()
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_corrupt_entry_gets_one_warning_line_and_the_rest_of_the_history_shows(
    start_app: Callable[..., LabApp], redis_server: ValkeyProcess
) -> None:
    app = start_app({"REDIS_URL": redis_server.url})
    app.menu()
    app.say("My name is Ada.")
    key = next(k for k in redis_server.client().keys("lab11:thread_*"))
    redis_server.client().rpush(key, "{not json")
    app.choose("2")
    app.expect_exact(f"warning: Skipping entry 2 of {key}: not JSON")
    app.expect_exact("2. assistant: ")
    app.menu()
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_loading_a_thread_with_a_corrupt_entry_counts_only_its_messages(
    start_app: Callable[..., LabApp], redis_server: ValkeyProcess
) -> None:
    app = start_app({"REDIS_URL": redis_server.url})
    key = app.menu()
    app.say("My name is Ada.")
    redis_server.client().rpush(key, "{not json")
    app.choose("3")
    app.expect_exact(f"1) {key}")
    app.expect_exact("Enter to go back): ")
    app.choose("1")
    app.expect_exact(f"Loaded thread {key} (2 messages).")
    app.expect_exact(f"History of {key} (2 messages, oldest first):")
    app.menu()
    assert app.transcript.count(f"warning: Skipping entry 2 of {key}") == 1
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_a_warning_while_the_model_is_awaited_starts_on_a_line_of_its_own(
    start_app: Callable[..., LabApp], redis_server: ValkeyProcess, model_server: ModelServer
) -> None:
    """The waiting indicator is erased before a log line, and the bad entry is reported once."""
    model_server.first_chunk_delay = 0.5
    app = start_app({"REDIS_URL": redis_server.url, **_openai_env(model_server)})
    app.menu()
    app.say("My name is Ada.")
    key = next(k for k in redis_server.client().keys("lab11:thread_*"))
    redis_server.client().rpush(key, "{not json")
    app.say("Where do I want to go?")
    app.say("And when?")
    assert "waiting for the model…warning" not in app.transcript
    assert app.transcript.count(f"warning: Skipping entry 2 of {key}") == 1
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_wrong_agent_framework_release_names_the_release_to_install(
    start_app: Callable[..., LabApp], tmp_path: Path
) -> None:
    """A pre-release between the lab's and 1.x (neither API) on the path: one line with the pip command."""
    fake = tmp_path / "fake-site"
    (fake / "agent_framework").mkdir(parents=True)
    (fake / "agent_framework" / "__init__.py").write_text("class Agent: ...\n")
    dist = fake / "agent_framework_core-1.0.0b260212.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: agent-framework-core\nVersion: 1.0.0b260212\n")
    app = start_app({"PYTHONPATH": str(fake)})
    status = app.finish()
    output = app.transcript.strip()
    assert status == 2
    assert output == (
        "This lab needs agent-framework-core 1.0.0b260130 (found 1.0.0b260212). "
        "Run: pip install agent-framework-core==1.0.0b260130 "
        "(or agent-framework-core 1.x: python3 dev.py app --framework 1.x)."
    )


def test_no_password_or_api_key_reaches_the_terminal(
    start_app: Callable[..., LabApp], model_server: ModelServer, tmp_path: Path
) -> None:
    """A Redis password gone wrong (the key rotated mid-session) and a failing model: the
    messages name host and port, never a secret. (A wrong password at start stops the app
    before the menu: see test_a_wrong_redis_password_at_start_is_one_line_and_exits_nonzero.)"""
    server = ValkeyProcess(tmp_path / "guarded", password="Wr0ng-Redis-Secret").start()
    try:
        soon_wrong = f"redis://:Wr0ng-Redis-Secret@127.0.0.1:{server.port}/0"
        model_server.fail_next(1, status=401)
        app = start_app({"REDIS_URL": soon_wrong, **_openai_env(model_server, key="sk-LAB11-Api-Key-Secret")})
        app.menu()
        _rotate_password(server, "the-right-password")
        app.choose("2")
        app.expect_exact(f"Redis at 127.0.0.1:{server.port}/0")
        app.menu()
        app.choose("1")
        app.expect_exact("You: ")
        app.choose("hello")
        app.expect_exact(MENU_PROMPT)
        assert app.exit() == 0
    finally:
        server.kill()
    transcript = app.transcript
    assert_clean(transcript)
    for secret in ("Wr0ng-Redis-Secret", "the-right-password", "sk-LAB11-Api-Key-Secret"):
        assert secret not in transcript
