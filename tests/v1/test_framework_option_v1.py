"""``--framework 1.x`` where Agent Framework 1.x is installed (this environment): the real program starts
on it; ``--framework lab`` here says in one line how to get the lab's release, and exits 2."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.app_driver import APP, LabApp, app_env, assert_clean, stop_embedded_server

pytestmark = pytest.mark.v1

ON_1X = "On Agent Framework 1.x: the same threads, through RedisHistoryProvider."


@pytest.fixture
def started(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path, list[LabApp]]]:
    env = app_env(tmp_path / "home", tmp_path / "data")
    runs: list[LabApp] = []
    yield env, tmp_path, runs
    for app in runs:
        if app.child.isalive():
            app.kill()
    stop_embedded_server(tmp_path / "data")


def _start(started: tuple[dict[str, str], Path, list[LabApp]], *arguments: str) -> LabApp:
    env, workdir, runs = started
    app = LabApp(env, workdir, [sys.executable, str(APP), *arguments])
    runs.append(app)
    return app


@pytest.mark.parametrize("option", [["--framework", "1.x"], ["--framework=1.x"]])
def test_framework_1x_where_it_is_installed_starts_on_it(
    started: tuple[dict[str, str], Path, list[LabApp]], option: list[str]
) -> None:
    app = _start(started, *option)
    app.menu()
    assert ON_1X in app.transcript
    reply = app.say("My name is Ana.")
    assert "Ana" in reply
    assert app.exit() == 0
    assert_clean(app.transcript)


def test_framework_lab_where_1x_is_installed_says_how_to_get_the_labs_release(
    started: tuple[dict[str, str], Path, list[LabApp]],
) -> None:
    app = _start(started, "--framework", "lab")
    assert app.finish() == 2
    lines = [line for line in app.transcript.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("--framework lab: this Python has Agent Framework 1.x")
    assert "dev.py app" in lines[0]
