"""A thread's history as the user reads it: menu option 2 (and 3, which shows it after loading) in a
pseudo-terminal, and ``lab11 show``, against a Valkey server of the test's own with a thread written
into it directly, or by the lab's store with a small ``max_messages`` (the app's is 200)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from agent_framework import ChatMessage

from lab11_persistence.offline_model.reasoning import summarize_messages
from redis_chat_message_store import RedisChatMessageStore
from tests.app.test_commands import client, env, lab11, save_thread  # noqa: F401 (fixtures)
from tests.support.app_driver import LabApp, assert_clean
from tests.support.messages import lab_entry
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.app

TURNS = 10  # 20 messages, of which the store keeps 6 (and the summary covers the rest)


def peek_at_the_latest_thread(environment: dict[str, str], cwd: Path) -> str:
    """In the menu: load the most recent saved thread (option 3, thread 1), peek at it (option 2), exit;
    what option 2 printed, lines ending in plain newlines."""
    app = LabApp(environment, cwd)
    try:
        app.menu()
        app.choose("3")
        app.expect_exact("Enter to go back): ")
        app.choose("1")
        app.menu()
        app.choose("2")
        app.menu()
        assert app.exit() == 0
    finally:
        app.kill()
    assert_clean(app.transcript)
    return app.transcript.split("Choose an option: 2", 1)[1].replace("\r\n", "\n")


def test_the_menu_says_1_message_not_1_messages(client: redis.Redis, env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    save_thread(client, "thread_one", [lab_entry("user", "Just one question.")], 1_700_000_000)

    peeked = peek_at_the_latest_thread(env, tmp_path)

    assert "History of lab11:thread_one (1 message, oldest first):" in peeked
    assert "1 messages" not in peeked


async def write_trimmed_thread(url: str, thread_id: str = "thread_long") -> int:
    """TURNS turns through the lab's store with max_messages=6 and a window of 4: the oldest messages are
    summarized, then trimmed from Redis. Returns how many the list still holds."""
    store = RedisChatMessageStore(
        redis_url=url,
        thread_id=thread_id,
        key_prefix="lab11",
        max_messages=6,
        context_messages=4,
        summarizer=summarize_messages,
    )
    for number in range(1, TURNS + 1):
        await store.add_messages(
            [ChatMessage("user", text=f"question {number}"), ChatMessage("assistant", text=f"answer {number}")]
        )
        await store.list_messages()  # a turn's read, as the agent does: the fold behind it goes on
    assert store.window is not None
    await store.window.settle()  # the last fold, which trims what it covers
    kept = await store.count_messages()
    await store.aclose()
    return kept


def numbered_as_in_the_conversation(kept: int) -> list[str]:
    """The lines the kept messages must be shown as: numbered by their place among all 2 * TURNS."""
    first = 2 * TURNS - kept + 1
    return [
        f"{place}. {'user: question' if place % 2 else 'assistant: answer'} {(place + 1) // 2}"
        for place in range(first, 2 * TURNS + 1)
    ]


async def test_after_trimming_the_menu_says_how_many_were_removed_and_numbers_by_place(
    redis_server: ValkeyProcess,
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    kept = await write_trimmed_thread(redis_server.url)
    removed = 2 * TURNS - kept
    assert 0 < removed < 2 * TURNS

    peeked = peek_at_the_latest_thread(env, tmp_path)

    assert f"The {removed} oldest messages were removed from Redis: they live on only in this summary." in peeked
    assert f"History of lab11:thread_long (messages {removed + 1} to {2 * TURNS} of the conversation" in peeked
    shown = [line for line in peeked.splitlines() if line[:1].isdigit()]
    assert shown == numbered_as_in_the_conversation(kept)


async def test_after_trimming_show_says_how_many_were_removed_and_numbers_by_place(
    redis_server: ValkeyProcess,
    lab11,  # noqa: F811
) -> None:
    kept = await write_trimmed_thread(redis_server.url)
    removed = 2 * TURNS - kept

    result = lab11("show", "thread_long")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2] == f"The {removed} oldest messages were removed from Redis: they live on only in this summary."
    assert lines[3] == (
        f"History of lab11:thread_long (messages {removed + 1} to {2 * TURNS} of the conversation, oldest first):"
    )
    assert lines[4:] == numbered_as_in_the_conversation(kept)


async def test_after_trimming_the_markdown_export_numbers_by_place_too(
    redis_server: ValkeyProcess,
    lab11,  # noqa: F811
) -> None:
    kept = await write_trimmed_thread(redis_server.url)
    removed = 2 * TURNS - kept

    result = lab11("export", "thread_long", "--format", "markdown")

    assert result.returncode == 0, result.stderr
    note = f"*The {removed} oldest messages were removed from Redis: they live on only in this summary.*"
    assert note in result.stdout
    numbered = [line for line in result.stdout.splitlines() if line[:1].isdigit()]
    assert numbered[0] == f"{removed + 1}. **user**: question {(removed + 2) // 2}"
    assert len(numbered) == kept
