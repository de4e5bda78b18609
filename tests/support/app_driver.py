"""Drive the real ``app.py`` in a pseudo-terminal, read what its embedded server holds, clean up.

One driver for every suite that runs the program (tests/app, tests/reliability, tests/cluster),
so they all wait, record and clean up the same way. Every wait is bounded; every process started
here is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import redis

# The app's own module (pytest puts 11-external-persistence on sys.path): the tests judge
# "alive" and read the server's state exactly as the app does.
from lab11_persistence.server.embedded_server import EmbeddedServer
from lab11_persistence.server.embedded_server import _pid_alive as pid_alive

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "11-external-persistence" / "app.py"
MENU_PROMPT = "Choose an option: "
REDIS_UNAVAILABLE = "Redis is unavailable"
TIMEOUT_SECONDS = 30
KEY_PATTERN = re.compile(r"Current Redis key: (lab11[:|]\S+)")  # the lab's key, or a scoped one
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "')


class TurnNotSaved(Exception):
    """The app said the turn could not be saved (shown text is in ``args[0]``)."""


class LabApp:
    """One run of the real program; everything it printed is kept in ``transcript``."""

    def __init__(self, env: dict[str, str], cwd: Path, argv: list[str] | None = None) -> None:
        """``argv`` replaces ``python app.py`` (e.g. the installed ``lab11`` command)."""
        command = argv or [sys.executable, str(APP)]
        self.child = pexpect.spawn(
            command[0],
            command[1:],
            env=env,
            cwd=str(cwd),
            encoding="utf-8",
            codec_errors="replace",
            timeout=TIMEOUT_SECONDS,
            dimensions=(50, 250),
        )
        self._seen: list[str] = []

    @property
    def transcript(self) -> str:
        """Everything read so far, including what arrived after the last match."""
        return "".join(self._seen) + (self.child.buffer or "")

    def _record(self) -> str:
        after = self.child.after if isinstance(self.child.after, str) else ""
        text = (self.child.before or "") + after
        self._seen.append(text)
        return text

    def expect(self, patterns: str | list[str], timeout: float = TIMEOUT_SECONDS) -> int:
        index = self.child.expect(patterns, timeout=timeout)
        self._record()
        return int(index)

    def expect_exact(self, text: str | list[str], timeout: float = TIMEOUT_SECONDS) -> int:
        index = self.child.expect_exact(text, timeout=timeout)
        self._record()
        return int(index)

    def menu(self) -> str:
        """Wait for the menu prompt; returns the Redis key it shows."""
        self.expect_exact(MENU_PROMPT)
        keys = KEY_PATTERN.findall(self.transcript)
        return keys[-1] if keys else ""

    def send(self, line: str) -> None:
        self.child.sendline(line)

    def type_keys(self, keys: str, chunk: int = 4096) -> None:
        """Keys (a paste) sent a piece at a time, reading the echo of each piece before the next:
        a program that echoes what it reads would otherwise block on a full terminal, and so would
        this writer."""
        for start in range(0, len(keys), chunk):
            piece = keys[start : start + chunk]
            self.child.send(piece)
            self.expect_exact(piece[-64:])

    def choose(self, option: str) -> None:
        """Answer the menu (the same keystrokes as ``send``; reads better in menu-driven tests)."""
        self.send(option)

    def say(self, message: str, *, then_menu: bool = True) -> str:
        """Option 1 with ``message``; returns the reply once its line is complete.

        The app ends the reply's line only after the turn was saved. With ``then_menu``
        it also waits for the menu, and raises TurnNotSaved if the app said the turn
        was not saved (Redis unavailable, reply not saved); the menu is then on screen.
        """
        self.send("1")
        self.expect_exact("You: ")
        self.send(message)
        if self.expect_exact(["assistant: ", REDIS_UNAVAILABLE]) == 1:
            self.menu()
            raise TurnNotSaved(self.transcript[-500:])
        self.expect(r"\r\n")
        reply = self._seen[-1].strip()
        if then_menu:
            self.menu()
            after_reply = self._seen[-1]
            if "could not be saved" in after_reply or REDIS_UNAVAILABLE in after_reply:
                raise TurnNotSaved(after_reply)
        return reply

    def finish(self, timeout: float = TIMEOUT_SECONDS) -> int:
        """Wait for the program to exit; returns its exit status (128+N for a signal)."""
        self.child.expect(pexpect.EOF, timeout=timeout)
        self._record()
        self.child.close()
        if self.child.exitstatus is not None:
            return int(self.child.exitstatus)
        return 128 + int(self.child.signalstatus or 0)

    def exit(self) -> int:
        """Menu option 0; returns the exit status."""
        self.choose("0")
        return self.finish()

    def kill(self) -> None:
        """SIGKILL: no chance to flush, close or say goodbye."""
        with contextlib.suppress(OSError):
            self.child.kill(signal.SIGKILL)
        self.child.close(force=True)


def app_env(home: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment: nothing from the developer's shell or .env reaches the app."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "xterm",
        "NO_COLOR": "1",
        "LAB11_DATA_DIR": str(data_dir),
        "LAB11_ENV_FILE": "none",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def run_with_app_modules(script: str, timeout: float = TIMEOUT_SECONDS) -> subprocess.CompletedProcess[str]:
    """``python -c script`` in a child process that imports the app's modules as ``app.py`` does.

    For what must not be tried in the test process itself (a hang, a process-wide setting)."""
    app_dir = str(APP.parent)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=app_dir,
        env={**os.environ, "PYTHONPATH": app_dir},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_app(
    env: dict[str, str], cwd: Path, *arguments: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python app.py ARGUMENTS`` (a ``lab11`` command, or the menu with no arguments) to its end, its output kept;
    ``stdin``: what is typed (None: the test's own standard input)."""
    return subprocess.run(
        [sys.executable, str(APP), *arguments],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


def has_traceback(text: str) -> bool:
    return any(marker in text for marker in TRACEBACK_MARKERS)


def assert_clean(transcript: str) -> None:
    """No traceback, ever (any "Traceback" at all counts here)."""
    assert "Traceback" not in transcript, transcript
    assert 'File "' not in transcript, transcript


def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``condition()`` until true or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def wait_until_gone(pids: list[int], timeout: float = 10.0) -> bool:
    """True once none of ``pids`` is alive (zombies count as gone)."""
    return wait_for(lambda: not any(pid_alive(pid) for pid in pids), timeout)


def embedded_state(data_dir: Path) -> dict[str, int]:
    """Pids of the data directory's embedded server and its watchdog, as the app last wrote them."""
    return EmbeddedServer(data_dir).read_state()


def stop_embedded_server(data_dir: Path) -> None:
    """Whatever a test left running in its data directory: kill it."""
    for pid in embedded_state(data_dir).values():
        if isinstance(pid, int) and pid_alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[redis.Redis]:
    """A client on the data directory's embedded server (started if needed, released after)."""
    server = EmbeddedServer(data_dir).acquire()
    client = redis.Redis(unix_socket_path=str(server.socket_path), decode_responses=True)
    try:
        # acquire() can meet a server its watchdog is already shutting down (the last app was
        # killed): it then answers PING and is gone a moment later. Do what the app does on a
        # failed action: make sure it runs, a bounded number of times.
        for _ in range(5):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.2)
                server.ensure_running()
        yield client
    finally:
        client.close()
        server.release()


def saved_turns(client: redis.Redis, prefix: str = "lab11") -> dict[str, list[str]]:
    """For every stored user message text, the text of the assistant entries right after it."""
    turns: dict[str, list[str]] = {}
    for key in client.scan_iter(match=f"{prefix}:*", _type="list", count=1000):
        entries = [json.loads(raw) for raw in client.lrange(key, 0, -1)]
        for index, entry in enumerate(entries):
            if entry.get("role", {}).get("value") != "user":
                continue
            following = entries[index + 1] if index + 1 < len(entries) else None
            reply = ""
            if following and following.get("role", {}).get("value") == "assistant":
                reply = "".join(content.get("text", "") for content in following.get("contents", []))
            turns.setdefault(_text(entry), []).append(reply)
    return turns


def _text(entry: dict[str, object]) -> str:
    contents = entry.get("contents")
    if not isinstance(contents, list):
        return ""
    return "".join(str(content.get("text", "")) for content in contents if isinstance(content, dict))


def same_text(shown: str, stored: str) -> bool:
    """The terminal's rendering of a reply against the stored text (whitespace aside)."""
    return " ".join(shown.split()) == " ".join(stored.split())


# The lab's "tell it facts, restart, ask" conversation, as the restart tests have it.
FIRST = "Hi, my name is Ada and I want to go to Lisbon."
SECOND = "I love seafood and my budget is 1500 euros."
QUESTION = "What is my name and where do I want to go?"


def chat_twice_and_exit(start_app: Callable[..., LabApp], env: dict[str, str] | None = None) -> str:
    """First run: two turns (FIRST, SECOND), then exit; returns the Redis key shown in the menu."""
    app = start_app(env)
    app.menu()
    key = re.search(r"Current Redis key: (lab11:thread_[0-9a-f-]+)", app.transcript)
    assert key, app.transcript
    app.say(FIRST)
    app.say(SECOND)
    assert app.exit() == 0
    assert_clean(app.transcript)
    return key.group(1)
