"""Scenario 1: SIGKILL the real app right after a reply is shown, then the embedded server.

"Shown" means the reply's line is complete: the app ends the line only after the
stream is over, and the framework saves the turn before the stream ends. Every
reply seen that way must be in Redis afterwards, exactly once, with its question.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.settings import record_figure, scaled
from tests.support.app_driver import (
    LabApp,
    TurnNotSaved,
    app_env,
    embedded_redis,
    embedded_state,
    has_traceback,
    pid_alive,
    same_text,
    saved_turns,
    stop_embedded_server,
    wait_for,
)

pytestmark = pytest.mark.faults

APP_KILLS = scaled(50, 300)
SERVER_KILLS = scaled(25, 300)
LANES = 4  # apps running side by side on the shared embedded server
RESENDS = 3  # a turn the app reports as not saved is sent again, at most this often


@dataclass
class CrashRun:
    """What the testers saw on screen, and what Redis held afterwards."""

    shown: dict[str, str] = field(default_factory=dict)  # user message -> reply shown
    not_saved_reports: int = 0
    transcripts: list[str] = field(default_factory=list)
    stored: dict[str, list[str]] = field(default_factory=dict)
    leftover_pids: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _say_until_saved(app: LabApp, message: str, run: CrashRun, *, then_menu: bool = True) -> str:
    for _ in range(RESENDS):
        try:
            return app.say(message, then_menu=then_menu)
        except TurnNotSaved:
            run.not_saved_reports += 1
    raise AssertionError(f"turn never saved after {RESENDS} tries:\n{app.transcript[-2000:]}")


def _lane(lane: int, kills: int, env: dict[str, str], cwd: Path, run: CrashRun) -> None:
    for number in range(kills):
        app = LabApp(env, cwd)
        try:
            app.menu()
            message = f"crash {lane}-{number}: I want to go to Porto {lane}{number}"
            run.shown[message] = _say_until_saved(app, message, run, then_menu=False)
        finally:
            app.kill()  # right after the reply's line is complete
            run.transcripts.append(app.transcript)


def _finish(run: CrashRun, name: str, data_dir: Path, started: float) -> CrashRun:
    run.seconds = time.monotonic() - started
    pids_before = [pid for pid in embedded_state(data_dir).values() if isinstance(pid, int)]
    with embedded_redis(data_dir) as client:
        run.stored = saved_turns(client)
    pids = pids_before + [pid for pid in embedded_state(data_dir).values() if isinstance(pid, int)]
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), timeout=15)
    run.leftover_pids = [pid for pid in pids if pid_alive(pid)]
    stop_embedded_server(data_dir)
    record_figure(
        name,
        f"{len(run.shown)} replies shown, {len(_lost(run))} lost, "
        f"{sum(len(replies) > 1 for replies in run.stored.values())} saved twice, "
        f"{run.not_saved_reports} turns reported as not saved and sent again, {run.seconds:.0f}s",
    )
    return run


@pytest.fixture(scope="module")
def app_kills(tmp_path_factory: pytest.TempPathFactory) -> CrashRun:
    """APP_KILLS runs of the app, LANES at a time, each SIGKILLed right after its reply."""
    base = tmp_path_factory.mktemp("app-kills")
    data_dir, env = base / "data", app_env(base / "home", base / "data")
    run, started = CrashRun(), time.monotonic()
    try:
        with ThreadPoolExecutor(LANES) as pool:
            shares = [APP_KILLS // LANES + (1 if lane < APP_KILLS % LANES else 0) for lane in range(LANES)]
            for future in [pool.submit(_lane, lane, share, env, base, run) for lane, share in enumerate(shares)]:
                future.result()
    finally:
        result = _finish(run, "crash: app SIGKILL", data_dir, started)
    return result


@pytest.fixture(scope="module")
def server_kills(tmp_path_factory: pytest.TempPathFactory) -> CrashRun:
    """One app session; the embedded valkey-server is SIGKILLed right after each reply."""
    base = tmp_path_factory.mktemp("server-kills")
    data_dir, env = base / "data", app_env(base / "home", base / "data")
    run, started = CrashRun(), time.monotonic()
    app = LabApp(env, base)
    try:
        app.menu()
        for number in range(SERVER_KILLS):
            message = f"server crash {number}: my budget is {number} euros"
            run.shown[message] = _say_until_saved(app, message, run)
            server_pid = embedded_state(data_dir).get("server_pid")
            assert isinstance(server_pid, int), "the embedded server wrote no pid"
            os.kill(server_pid, signal.SIGKILL)
            assert wait_for(lambda pid=server_pid: not pid_alive(pid)), "the killed server is still alive"
        app.send("0")
        assert app.finish() == 0
    finally:
        app.kill()
        run.transcripts.append(app.transcript)
        result = _finish(run, "crash: server SIGKILL", data_dir, started)
    return result


def _lost(run: CrashRun) -> list[str]:
    return [
        message
        for message, reply in run.shown.items()
        if not any(same_text(reply, s) for s in run.stored.get(message, []))
    ]


def test_every_reply_shown_before_the_app_was_killed_is_in_redis(app_kills: CrashRun) -> None:
    assert len(app_kills.shown) == APP_KILLS
    assert _lost(app_kills) == []


def test_no_turn_is_saved_twice_when_the_app_is_killed(app_kills: CrashRun) -> None:
    assert {message: replies for message, replies in app_kills.stored.items() if len(replies) > 1} == {}


def test_every_reply_shown_before_the_server_was_killed_is_in_redis(server_kills: CrashRun) -> None:
    assert len(server_kills.shown) == SERVER_KILLS
    assert _lost(server_kills) == []


def test_no_turn_is_saved_twice_or_in_halves_when_the_server_is_killed(server_kills: CrashRun) -> None:
    assert {
        message: replies
        for message, replies in server_kills.stored.items()
        if replies != [replies[0]] or not replies[0]
    } == {}


def test_no_traceback_is_shown_while_crashing(app_kills: CrashRun, server_kills: CrashRun) -> None:
    assert [text for text in app_kills.transcripts + server_kills.transcripts if has_traceback(text)] == []


def test_no_server_or_watchdog_is_left_running_after_the_crash_runs(
    app_kills: CrashRun, server_kills: CrashRun
) -> None:
    assert app_kills.leftover_pids == []
    assert server_kills.leftover_pids == []
