"""A turn that finds the embedded server gone restarts it off the event loop, and says so when it cannot.

The restart takes a file lock, runs a subprocess and waits up to 10 s for the socket. Done on the
loop, it would freeze whatever else runs there (the background summary fold, the waiting indicator).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lab11_persistence.config import load_settings
from lab11_persistence.console.menu import MenuSession
from lab11_persistence.console.terminal import Terminal
from lab11_persistence.redis_history.connection import RedisUnavailableError
from lab11_persistence.server.embedded_server import EmbeddedServerError

pytestmark = pytest.mark.fast

LOOP_WAIT_SECONDS = 10.0
TICKS = 3


class SlowServer:
    """An embedded server whose restart blocks its caller until the event loop has ticked (or 10 s have
    passed), then succeeds or fails. On the loop it could never see a tick."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.loop_ticked = threading.Event()
        self.saw_the_loop_tick: list[bool] = []

    def ensure_running(self) -> None:
        self.saw_the_loop_tick.append(self.loop_ticked.wait(LOOP_WAIT_SECONDS))
        if self.error is not None:
            raise self.error


class RedisGone:
    """A conversation whose every turn finds Redis unavailable."""

    thread_id = "thread_x"

    async def reply(self, prompt: str) -> AsyncIterator[str]:
        raise RedisUnavailableError("Could not reach Redis at unix:///tmp/valkey.sock")
        yield ""  # pragma: no cover - makes this an async generator

    async def aclose(self) -> None:
        return None


class Ready:
    ready = True

    def start(self) -> None:
        return None

    def __call__(self, thread_id: str) -> Any:
        return RedisGone()


def _session(server: SlowServer) -> MenuSession:
    settings = load_settings({}, read_dotenv=False)
    return MenuSession(settings, Terminal(settings), Ready(), server)  # type: ignore[arg-type]


def _turn_while_ticking(server: SlowServer) -> None:
    """Run one turn while another task on the same loop ticks; after a few ticks it tells the server."""
    session = _session(server)

    async def tick() -> None:
        for _ in range(TICKS):
            await asyncio.sleep(0.01)
        server.loop_ticked.set()

    async def turn_beside_a_ticker() -> None:
        ticker = asyncio.create_task(tick())
        await session._stream_reply("hello")
        await ticker

    try:
        session.run(turn_beside_a_ticker())
    finally:
        session.close()


def test_the_loop_keeps_running_while_the_embedded_server_restarts(capsys: pytest.CaptureFixture[str]) -> None:
    server = SlowServer()
    _turn_while_ticking(server)
    assert server.saw_the_loop_tick == [True]
    assert "The embedded server has been restarted: try again." in capsys.readouterr().out


def test_a_failed_restart_is_logged_in_one_line(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    server = SlowServer(EmbeddedServerError("it did not start within 10s"))
    with caplog.at_level(logging.WARNING):
        _turn_while_ticking(server)
    assert server.saw_the_loop_tick == [True]
    lines = [record.getMessage() for record in caplog.records]
    assert lines == ["Could not restart the embedded Valkey server: it did not start within 10s"]
    assert "Redis is unavailable" in capsys.readouterr().out
