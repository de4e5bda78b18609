"""Helpers for driving the real ``app.py`` in a pseudo-terminal with pexpect."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "11-external-persistence" / "app.py"
MENU_PROMPT = "Choose an option: "
TIMEOUT = 30  # every wait is bounded


class LabApp:
    """One run of the real program; everything it printed is kept in ``transcript``."""

    def __init__(self, env: dict[str, str], cwd: Path, argv: list[str] | None = None) -> None:
        self.child = pexpect.spawn(
            (argv or [sys.executable, str(APP)])[0],
            (argv or [sys.executable, str(APP)])[1:],
            env=env,
            cwd=str(cwd),
            encoding="utf-8",
            codec_errors="replace",
            timeout=TIMEOUT,
            dimensions=(50, 250),
        )
        self._seen: list[str] = []

    @property
    def transcript(self) -> str:
        return "".join(self._seen)

    def expect(self, pattern: str | list[str], timeout: float = TIMEOUT) -> int:
        index = self.child.expect(pattern, timeout=timeout)
        self._seen.append((self.child.before or "") + (self.child.after if isinstance(self.child.after, str) else ""))
        return index

    def expect_exact(self, text: str, timeout: float = TIMEOUT) -> None:
        self.child.expect_exact(text, timeout=timeout)
        self._seen.append((self.child.before or "") + (self.child.after if isinstance(self.child.after, str) else ""))

    def menu(self) -> None:
        self.expect_exact(MENU_PROMPT)

    def choose(self, choice: str) -> None:
        self.child.sendline(choice)

    def say(self, message: str) -> str:
        """Option 1 with ``message``; returns the assistant's reply line."""
        self.choose("1")
        self.expect_exact("You: ")
        self.child.sendline(message)
        self.expect_exact("assistant: ")
        self.expect(r"\r\n")
        reply = self._seen[-1]
        self.menu()
        return reply.strip()

    def finish(self, timeout: float = TIMEOUT) -> int:
        """Wait for the program to exit; returns its exit status."""
        self.child.expect(pexpect.EOF, timeout=timeout)
        self._seen.append(self.child.before or "")
        self.child.close()
        return int(self.child.exitstatus if self.child.exitstatus is not None else 128 + (self.child.signalstatus or 0))

    def exit(self) -> int:
        self.choose("0")
        return self.finish()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.child.kill(signal.SIGKILL)
        self.child.close(force=True)


def base_env(home: Path, data_dir: Path) -> dict[str, str]:
    """A clean environment: nothing from the developer's shell or .env reaches the app."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "xterm",
        "NO_COLOR": "1",
        "LAB11_DATA_DIR": str(data_dir),
        "LAB11_ENV_FILE": "none",
        "PYTHONUNBUFFERED": "1",
    }


def assert_clean(transcript: str) -> None:
    """No traceback, ever."""
    assert "Traceback" not in transcript, transcript
    assert 'File "' not in transcript, transcript


def wait_until_gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def app_env(tmp_path: Path, data_dir: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return base_env(home, data_dir)


@pytest.fixture
def start_app(tmp_path: Path, app_env: dict[str, str], data_dir: Path) -> Iterator[Callable[..., LabApp]]:
    """Start the real program (from a working directory outside the project); all runs are
    killed and the embedded server stopped after the test."""
    runs: list[LabApp] = []
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()

    def start(extra_env: dict[str, str] | None = None, argv: list[str] | None = None) -> LabApp:
        env = {**app_env, **(extra_env or {})}
        app = LabApp(env, workdir, argv)
        runs.append(app)
        return app

    yield start
    for app in runs:
        if app.child.isalive():
            app.kill()
    _stop_embedded_server(data_dir)


def _stop_embedded_server(data_dir: Path) -> None:
    """Whatever a test left running in its data directory: stop it."""
    import json

    state_file = data_dir / "server.json"
    if not state_file.exists():
        return
    with contextlib.suppress(OSError, ValueError):
        state = json.loads(state_file.read_text())
        for key in ("server_pid", "watchdog_pid"):
            pid = state.get(key)
            if isinstance(pid, int) and _alive(pid):
                os.kill(pid, signal.SIGKILL)
