"""The window and the summary in the real program: the menu and ``lab11 show`` print the summary above the
full history, a restart keeps it, the thread commands carry it, and a bad setting is one line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lab11_persistence.redis_history.summary import Summary
from lab11_persistence.summaries import SUMMARIZING_INSTRUCTIONS
from tests.app.test_commands import save_thread
from tests.support.app_driver import APP, LabApp, app_env, assert_clean
from tests.support.messages import lab_entry
from tests.support.model_server import ModelServer, RecordedRequest
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.app

SMALL_WINDOW = {"LAB11_CONTEXT_MESSAGES": "4"}
FACTS = ("My name is Ana and I'm planning a trip to Lisbon.", "I travel in May.", "I love seafood.")


def _tell(app: LabApp) -> None:
    for fact in FACTS:
        app.say(fact)


def test_the_menu_shows_the_summary_above_the_full_history(start_app: Callable[..., LabApp]) -> None:
    app = start_app(extra_env=SMALL_WINDOW)
    app.menu()
    _tell(app)
    app.choose("2")
    app.expect_exact("History of ")
    app.menu()
    shown = app.transcript.split("Choose an option: 2", 1)[1]
    assert "Summary of the 2 oldest messages, sent to the model in their place:" in shown
    assert "The user said: My name is Ana. I want to go to Lisbon." in shown
    assert shown.index("Summary of the") < shown.index("History of ") < shown.index("1. user: My name is Ana")
    assert "6. assistant: " in shown  # every message is still shown
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_after_a_restart_the_loaded_thread_still_has_its_summary(start_app: Callable[..., LabApp]) -> None:
    first = start_app(extra_env=SMALL_WINDOW)
    first.menu()
    _tell(first)
    first.say("Nothing else for now.")
    assert first.exit() == 0

    second = start_app(extra_env=SMALL_WINDOW)
    second.menu()
    second.choose("3")
    second.expect_exact("Enter to go back): ")
    second.choose("1")
    second.expect_exact("Summary of the 4 oldest messages")
    second.menu()
    reply = second.say("What is my name, and where do I want to go?")
    assert "I received 4 earlier messages from this thread, and a summary of the 4 before them." in reply
    assert "Your name is Ana." in reply and "Lisbon" in reply
    assert second.exit() == 0
    assert_clean(first.transcript + second.transcript)


def test_an_unusable_window_setting_is_one_line_and_status_2(start_app: Callable[..., LabApp]) -> None:
    app = start_app(extra_env={"LAB11_CONTEXT_MESSAGES": "lots"})
    assert app.finish() == 2
    assert "LAB11_CONTEXT_MESSAGES must be how many recent messages the model sees" in app.transcript
    assert_clean(app.transcript)


def test_a_long_catch_up_before_a_turn_is_said_in_one_line(
    tmp_path: Path, redis_server: ValkeyProcess, model_server: ModelServer
) -> None:
    """A thread another store wrote, 61 messages long: the first turn here folds 57 of them first."""

    def reply(request: RecordedRequest, number: int) -> str:
        if request.messages and SUMMARIZING_INSTRUCTIONS in str(request.messages[0].get("content")):
            time.sleep(1.5)  # a slow summarizing model
            return "The user's name is Ana."
        return f"Reply {number}."

    model_server.reply = reply
    client = redis_server.client()
    save_thread(
        client,
        "thread_long",
        [lab_entry("user", "My name is Ana."), *(lab_entry("user", f"m{n}") for n in range(60))],
        1.0,
    )
    env = app_env(
        tmp_path / "home",
        tmp_path / "data",
        REDIS_URL=redis_server.url,
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=model_server.openai_base_url,
        **SMALL_WINDOW,
    )
    app = LabApp(env, tmp_path)
    try:
        app.menu()
        app.choose("3")
        app.expect_exact("Enter to go back): ")
        app.choose("1")
        app.menu()
        app.say("Hello again.")
        assert "Summarizing 57 earlier messages of this thread before your turn…" in app.transcript
        assert app.exit() == 0
    finally:
        app.kill()
    summary = Summary.parse(client.get("{lab11:thread_long}:summary"))
    assert summary is not None and summary.text == "The user's name is Ana."
    assert_clean(app.transcript)


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APP), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_show_threads_export_and_import_carry_the_summary(tmp_path: Path, redis_server: ValkeyProcess) -> None:
    client = redis_server.client()
    save_thread(client, "thread_s", [lab_entry("user", f"m{n}") for n in range(6)], 1_700_000_000.0)
    record = Summary("The user said: My name is Ana.", covers=12, in_list=2, last="x").record()
    client.set("{lab11:thread_s}:summary", record)
    env = app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=redis_server.url)

    shown = _run(env, tmp_path, "show", "thread_s").stdout.splitlines()
    assert shown[:4] == [
        "Summary of the 12 oldest messages, sent to the model in their place:",
        "  The user said: My name is Ana.",
        "The 10 oldest messages were removed from Redis: they live on only in this summary.",
        "History of lab11:thread_s (messages 11 to 16 of the conversation, oldest first):",
    ]
    listed = json.loads(_run(env, tmp_path, "threads", "--json").stdout)
    assert listed[0]["summary_covers"] == 12

    assert _run(env, tmp_path, "export", "--all", "-o", str(tmp_path / "backup.jsonl")).returncode == 0
    client.flushall()
    imported = _run(env, tmp_path, "import", str(tmp_path / "backup.jsonl"))
    assert imported.returncode == 0, imported.stderr
    assert client.get("{lab11:thread_s}:summary") == record
    assert len(client.lrange("lab11:thread_s", 0, -1)) == 6


def test_an_export_made_before_summaries_still_imports(tmp_path: Path, redis_server: ValkeyProcess) -> None:
    line = {
        "key": "lab11:thread_old",
        "thread_id": "thread_old",
        "entries": [lab_entry("user", "hi")],
        "last_used": None,
    }
    (tmp_path / "old.jsonl").write_text(json.dumps(line) + "\n")
    env = app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=redis_server.url)
    assert _run(env, tmp_path, "import", str(tmp_path / "old.jsonl")).returncode == 0
    client = redis_server.client()
    assert client.lrange("lab11:thread_old", 0, -1) == [lab_entry("user", "hi")]
    assert not client.exists("{lab11:thread_old}:summary")
