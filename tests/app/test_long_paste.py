"""A message pasted or typed at the terminal arrives whole, whatever its length (issue 21, point 1).

The terminal's own line editing keeps 4,095 characters of a line and drops the rest without a
word; the message prompt reads keys as they come and edits the line itself, so a 100 KB paste is
saved whole and Backspace, Ctrl-U and Ctrl-W still edit what is typed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.app_driver import LabApp, assert_clean, embedded_redis, saved_turns

pytestmark = pytest.mark.app  # the real program in a pseudo-terminal

BACKSPACE, CTRL_U, CTRL_W = "\x7f", "\x15", "\x17"


def _long_message(characters: int) -> str:
    """Numbered words, so that every piece of the paste ends differently and its echo can be awaited."""
    words = " ".join(f"w{number:06d}" for number in range(characters // 8 + 1))
    return words[: characters - len(" I like long")] + " I like long"


def _send_message(app: LabApp, keys: str, *, paste: bool) -> None:
    app.menu()
    app.choose("1")
    app.expect_exact("You: ")
    if paste:
        app.type_keys(keys)
    else:
        app.child.send(keys)
    app.child.send("\r")
    app.expect_exact("assistant: ", timeout=60)
    app.menu()


def test_a_pasted_message_of_100_kb_is_saved_whole(start_app: Callable[..., LabApp], data_dir: Path) -> None:
    message = _long_message(100_000)
    app = start_app()
    _send_message(app, message, paste=True)
    assert app.exit() == 0
    with embedded_redis(data_dir) as client:
        saved = list(saved_turns(client))
    assert [len(text) for text in saved] == [100_000]
    assert saved == [message]
    assert_clean(app.transcript)


def test_backspace_ctrl_u_and_ctrl_w_edit_the_message_being_typed(
    start_app: Callable[..., LabApp], data_dir: Path
) -> None:
    keys = f"thrown away{CTRL_U}I like tea wrong words{CTRL_W}{CTRL_W}cofé{BACKSPACE}{BACKSPACE}ffee"
    app = start_app()
    _send_message(app, keys, paste=False)
    assert app.exit() == 0
    with embedded_redis(data_dir) as client:
        assert list(saved_turns(client)) == ["I like tea coffee"]
    assert_clean(app.transcript)
