"""The private Valkey server used when REDIS_URL is unset: shared, durable, never left behind."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lab11_persistence.server.embedded_server import MAX_SOCKET_PATH, EmbeddedServer
from tests.support.app_driver import TIMEOUT_SECONDS, LabApp, assert_clean, wait_until_gone


def _server_pids(data_dir: Path) -> list[int]:
    state = json.loads((data_dir / "server.json").read_text())
    return [state["server_pid"], state["watchdog_pid"]]


def _start_and_tell_my_name(start_app: Callable[..., LabApp]) -> LabApp:
    """An app that has saved one turn ("My name is Ada.") and is back at its menu."""
    app = start_app()
    app.menu()
    app.say("My name is Ada.")
    return app


def _load_the_saved_thread_and_see_ada(app: LabApp) -> None:
    """Option 3, the only saved thread: its history must start with the turn another app saved."""
    app.choose("3")
    app.expect_exact("Enter to go back): ")
    app.choose("1")
    app.expect_exact("1. user: My name is Ada.")
    app.menu()


@pytest.mark.app
def test_no_configuration_prints_one_line_saying_what_it_uses(start_app: Callable[..., LabApp], data_dir: Path) -> None:
    app = start_app()
    app.menu()
    using = [line for line in app.transcript.splitlines() if line.startswith("Using ")]
    assert using == [
        f"Using embedded Valkey (data in {data_dir}) and the offline model, sent the newest 40 messages and a "
        "summary of older ones; set REDIS_URL / AOAI_ENDPOINT+AOAI_DEPLOYMENT to use your own."
    ]
    assert app.exit() == 0


@pytest.mark.app
def test_with_every_message_sent_the_line_says_what_the_lab_says(
    start_app: Callable[..., LabApp], data_dir: Path
) -> None:
    app = start_app(extra_env={"LAB11_CONTEXT_MESSAGES": "all"})
    app.menu()
    using = [line for line in app.transcript.splitlines() if line.startswith("Using ")]
    assert using == [
        f"Using embedded Valkey (data in {data_dir}) and the offline model; "
        "set REDIS_URL / AOAI_ENDPOINT+AOAI_DEPLOYMENT to use your own."
    ]
    assert app.exit() == 0


@pytest.mark.app
def test_menu_shows_the_current_key_and_exactly_the_six_choices(start_app: Callable[..., LabApp]) -> None:
    app = start_app()
    app.menu()
    lines = app.transcript.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Current Redis key: lab11:thread_"))
    assert [line.strip() for line in lines[start + 1 : start + 7]] == [
        "1) Send a user message",
        "2) Peek at Redis history",
        "3) Load a saved Redis thread",
        "4) Start a fresh thread",
        "5) Delete a saved thread",
        "0) Exit",
    ]
    assert app.exit() == 0


@pytest.mark.app
def test_second_app_shares_the_server_and_neither_breaks_when_the_other_exits(
    start_app: Callable[..., LabApp], data_dir: Path
) -> None:
    first = _start_and_tell_my_name(start_app)
    pids = _server_pids(data_dir)
    second = start_app()
    second.menu()
    assert _server_pids(data_dir) == pids  # the same server, not a second one
    assert first.exit() == 0
    _load_the_saved_thread_and_see_ada(second)
    assert second.exit() == 0
    assert wait_until_gone(pids), "the server outlived both apps"
    assert_clean(first.transcript + second.transcript)


@pytest.mark.app
def test_no_server_process_is_left_after_the_last_app_exits(start_app: Callable[..., LabApp], data_dir: Path) -> None:
    app = start_app()
    app.menu()
    app.say("Hello")
    pids = _server_pids(data_dir)
    assert app.exit() == 0
    assert wait_until_gone(pids, timeout=TIMEOUT_SECONDS)


@pytest.mark.app
def test_server_of_a_killed_app_is_stopped_by_the_watchdog(start_app: Callable[..., LabApp], data_dir: Path) -> None:
    """SIGKILL gives the app no chance to clean up; the watchdog notices it is gone."""
    app = start_app()
    app.menu()
    pids = _server_pids(data_dir)
    app.kill()
    assert wait_until_gone(pids, timeout=TIMEOUT_SECONDS)


@pytest.mark.app
def test_next_start_reuses_a_server_left_by_a_killed_app(start_app: Callable[..., LabApp], data_dir: Path) -> None:
    first = _start_and_tell_my_name(start_app)
    pids = _server_pids(data_dir)
    os.kill(pids[1], signal.SIGKILL)  # no watchdog any more: the server would live on
    first.kill()
    second = start_app()
    second.menu()
    _load_the_saved_thread_and_see_ada(second)
    assert second.exit() == 0
    assert wait_until_gone([pids[0]], timeout=TIMEOUT_SECONDS), "the last app out did not stop the reused server"


@pytest.mark.app
def test_next_start_replaces_a_dead_server_and_keeps_the_history(
    start_app: Callable[..., LabApp], data_dir: Path
) -> None:
    """Killing everything mid-session loses no saved message (append-only, fsync on every write)."""
    first = _start_and_tell_my_name(start_app)
    for pid in _server_pids(data_dir):
        os.kill(pid, signal.SIGKILL)
    first.kill()
    second = start_app()
    second.menu()
    _load_the_saved_thread_and_see_ada(second)
    assert second.exit() == 0


@pytest.mark.fast
def test_a_long_data_dir_still_gets_a_unix_socket(tmp_path: Path) -> None:
    """sun_path holds about 100 bytes: deep data directories get a short socket path in the temp dir."""
    deep = tmp_path / ("d" * 120)
    server = EmbeddedServer(deep)
    assert len(str(server.socket_path)) <= MAX_SOCKET_PATH
    assert server.url.startswith("unix://")
    assert EmbeddedServer(deep).socket_path == server.socket_path  # stable, so a second app finds it


@pytest.mark.app
def test_the_lab11_console_command_starts_the_app(start_app: Callable[..., LabApp]) -> None:
    """The installed entry point (``lab11 = "app:run"``) works from another working directory."""
    command = Path(sys.executable).parent / "lab11"
    app = start_app(argv=[str(command)])
    app.menu()
    assert app.exit() == 0
    assert_clean(app.transcript)
