"""Text from Redis never drives the terminal: menu 2 and 3 show a stored escape sequence, never send it.

Measured before the fix: a message holding ``"\\x1b]0;TITLE\\x07\\x1b[2J\\rOVERWRITE"`` (written by
another process, or a model told to) retitled the window, cleared the screen and overwrote the line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.app_driver import LabApp, embedded_redis

pytestmark = pytest.mark.app

HOSTILE = "Plan\x1b]0;TITLE\x07\x1b[2J\rOVERWRITE\x1b]52;c;ZXZpbA==\x07 done"
SHOWN = "Plan\\x1b]0;TITLE\\x07\\x1b[2J\\rOVERWRITE\\x1b]52;c;ZXZpbA==\\x07 done"


def _plant(data_dir: Path) -> None:
    entry = {
        "type": "chat_message",
        "role": {"type": "role", "value": "user"},
        "contents": [{"type": "text", "text": HOSTILE}],
    }
    with embedded_redis(data_dir) as client:
        client.rpush("lab11:thread_hostile", json.dumps(entry))


def _load_the_planted_thread(start_app: Callable[..., LabApp], data_dir: Path) -> LabApp:
    """Plant the hostile thread, start the app, option 3, thread 1."""
    _plant(data_dir)
    app = start_app()
    app.menu()
    app.choose("3")
    app.expect(r"Load which thread\? \(1-\d+, Enter to go back\): ")
    app.choose("1")
    return app


def test_a_stored_escape_sequence_is_shown_not_obeyed_in_the_list_and_the_history(
    start_app: Callable[..., LabApp], data_dir: Path
) -> None:
    app = _load_the_planted_thread(start_app, data_dir)
    app.expect_exact("Loaded thread lab11:thread_hostile (1 message).")
    app.menu()
    app.choose("2")
    app.menu()
    shown = app.transcript
    assert "\x1b]" not in shown and "\x07" not in shown and "\rOVERWRITE" not in shown
    assert shown.count(SHOWN) == 2  # menu 3 (its history), menu 2
    assert "\\x1b]0;TITLE" in shown.split("Load which thread?")[0]  # the preview in the list, inert too
    assert app.exit() == 0


def test_loading_a_thread_shows_its_store_state_without_credentials(
    start_app: Callable[..., LabApp], data_dir: Path
) -> None:
    """The lab: the RedisStoreState "is what we show when you resume a thread"."""
    app = _load_the_planted_thread(start_app, data_dir)
    app.expect_exact("Store state: thread_id=thread_hostile, key_prefix=lab11, max_messages=200, redis_url=unix://")
    assert app.exit() == 0
