"""The app as the README starts it, ``python3 dev.py app``: the launcher must not get in the way.

Ctrl-C reaches every process in the terminal's foreground group, the launcher included; the
launcher has to leave it to the app, or the shell gets the terminal back while the app is
still running.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from tests.support.app_driver import ROOT, LabApp, assert_clean

pytestmark = pytest.mark.app

README_COMMAND = [sys.executable, str(ROOT / "dev.py"), "app"]


def test_ctrl_c_at_the_message_prompt_returns_to_the_menu_through_the_launcher(
    start_app: Callable[..., LabApp],
) -> None:
    app = start_app(argv=README_COMMAND)
    app.menu()
    app.choose("1")
    app.expect_exact("You: ")
    app.child.sendintr()
    app.menu()
    app.say("My name is Ana.")  # the app still reads the terminal, and answers
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_ctrl_c_at_the_menu_exits_with_status_0_through_the_launcher(start_app: Callable[..., LabApp]) -> None:
    app = start_app(argv=README_COMMAND)
    app.menu()
    app.child.sendintr()
    assert app.finish() == 0
    assert_clean(app.transcript)


def test_the_apps_exit_status_comes_back_through_the_launcher(start_app: Callable[..., LabApp]) -> None:
    app = start_app({"REDIS_URL": "redis://127.0.0.1:1/0"}, argv=README_COMMAND)
    app.expect_exact("Cannot reach Redis at 127.0.0.1:1/0")
    assert app.finish() == 1
