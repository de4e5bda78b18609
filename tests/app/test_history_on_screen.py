"""A thread's history as the user reads it: menu option 2 (and 3, which shows it after loading) in a
pseudo-terminal, and ``lab11 show``, against a Valkey server of the test's own with a thread written
into it directly."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.app.test_commands import entry, save_thread
from tests.support.app_driver import LabApp, app_env, assert_clean
from tests.support.valkey import ValkeyProcess


@pytest.fixture
def env(tmp_path: Path, redis_server: ValkeyProcess) -> dict[str, str]:
    return app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=redis_server.url)


@pytest.fixture
def client(redis_server: ValkeyProcess) -> redis.Redis:
    return redis_server.client()


def load_first_thread(env: dict[str, str], cwd: Path) -> LabApp:
    """The app, with the most recent saved thread loaded (option 3, thread 1) and shown."""
    app = LabApp(env, cwd)
    app.menu()
    app.choose("3")
    app.expect_exact("Enter to go back): ")
    app.choose("1")
    app.menu()
    return app


def test_the_menu_says_1_message_not_1_messages(client: redis.Redis, env: dict[str, str], tmp_path: Path) -> None:
    save_thread(client, "thread_one", [entry("user", "Just one question.")], 1_700_000_000)
    app = load_first_thread(env, tmp_path)
    try:
        app.choose("2")
        app.menu()
        assert app.exit() == 0
    finally:
        app.kill()
    assert "History of lab11:thread_one (1 message, oldest first):" in app.transcript
    assert "1 messages" not in app.transcript
    assert_clean(app.transcript)
