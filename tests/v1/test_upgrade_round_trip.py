"""A thread goes from the lab's release to Agent Framework 1.x and back, through the real app.

Start a thread on the lab's release (``.venv``), quit; load and continue it on 1.x (this
environment, ``.venv-v1``), quit; load it again on the lab's release: one history, in order, and
the offline model's answer shows that every turn reached it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import agent_framework
import pytest

if hasattr(agent_framework, "ChatMessage"):  # the lab's release: these tests run in the 1.x environment
    pytest.skip("needs Agent Framework 1.x (.venv-v1)", allow_module_level=True)

from tests.support.app_driver import APP, ROOT, LabApp, app_env, assert_clean, stop_embedded_server

pytestmark = pytest.mark.v1

LAB_PYTHON = ROOT / ".venv" / "bin" / "python"
FIRST = "My name is Ana and I'm planning a trip to Lisbon."
SECOND = "I travel in May and I love seafood."
QUESTION = "What do you remember about me?"


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path, list[LabApp]]]:
    """One data directory for every run (the embedded server keeps the thread); all runs killed after."""
    if not LAB_PYTHON.exists():
        pytest.skip(f"needs the lab's environment ({LAB_PYTHON}): run `python3 dev.py test`")
    env = app_env(tmp_path / "home", tmp_path / "data")
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    started: list[LabApp] = []
    yield env, workdir, started
    for app in started:
        if app.child.isalive():
            app.kill()
    stop_embedded_server(tmp_path / "data")


def _start(runs: tuple[dict[str, str], Path, list[LabApp]], python: Path | str) -> LabApp:
    env, workdir, started = runs
    app = LabApp(env, workdir, [str(python), str(APP)])
    started.append(app)
    app.menu()
    return app


def _load_thread(app: LabApp, key: str, count: int) -> str:
    app.choose("3")
    app.expect(r"Load which thread\? \(1-\d+, Enter to go back\): ")
    assert f"1) {key}  {count} messages" in app.transcript, app.transcript
    app.choose("1")
    app.expect_exact(f"Loaded thread {key} ({count} messages).")
    app.expect_exact(f"{count}. assistant: ")
    return app.menu()


def test_a_lab_thread_continues_on_1x_and_comes_back_whole(
    runs: tuple[dict[str, str], Path, list[LabApp]],
) -> None:
    lab = _start(runs, LAB_PYTHON)
    key = re.search(r"Current Redis key: (lab11:thread_[0-9a-f-]+)", lab.transcript)
    assert key, lab.transcript
    lab.say(FIRST)
    assert lab.exit() == 0

    on_1x = _start(runs, sys.executable)
    assert "On Agent Framework 1.x: the same threads, through RedisHistoryProvider." in on_1x.transcript
    _load_thread(on_1x, key.group(1), 2)
    reply = on_1x.say(SECOND)
    assert "I received 2 earlier messages" in reply and "Lisbon" in reply, reply
    assert on_1x.exit() == 0

    back = _start(runs, LAB_PYTHON)
    history = _load_thread(back, key.group(1), 4)
    shown = back.transcript
    assert shown.index(f"1. user: {FIRST}") < shown.index(f"3. user: {SECOND}"), history
    reply = back.say(QUESTION)
    assert "I received 4 earlier messages" in reply, reply
    assert all(fact in reply for fact in ("Ana", "Lisbon", "May", "seafood")), reply
    assert back.exit() == 0
    for app in runs[2]:
        assert_clean(app.transcript)
        assert "warning:" not in app.transcript
