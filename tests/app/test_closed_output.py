"""Output into a pipe whose reader has gone (``lab11 < answers | head -1``): the program stops quietly,
exit status 0, nothing on standard error; as ``lab11 export --all | head`` already did.

The reader is closed by the test itself, after reading a given number of lines, so the program's next
write is sure to meet the closed pipe (``head`` may exit before or after the program has written).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.app.test_commands import seed_many
from tests.support.app_driver import APP, app_env
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.app

ANSWERS = "1\nMy name is Ana and I'm planning a trip to Lisbon.\n2\n1\nI travel in May.\n2\n0\n"


def run_then_stop_reading(env: dict[str, str], cwd: Path, args: list[str], stdin: str, lines: int) -> tuple[int, str]:
    """Run the program, read ``lines`` lines of its output, close the pipe; (exit status, standard error)."""
    process = subprocess.Popen(
        [sys.executable, str(APP), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    process.stdin.write(stdin)
    process.stdin.close()
    for _ in range(lines):
        process.stdout.readline()
    process.stdout.close()
    error = process.stderr.read()
    return process.wait(timeout=120), error


@pytest.fixture
def env(tmp_path: Path, redis_server: ValkeyProcess) -> dict[str, str]:
    return app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=redis_server.url)


@pytest.mark.parametrize("lines", [0, 1, 12], ids=["before the first line", "after the first line", "mid-menu"])
def test_the_menu_into_a_closed_pipe_exits_quietly(env: dict[str, str], tmp_path: Path, lines: int) -> None:
    status, error = run_then_stop_reading(env, tmp_path, [], ANSWERS, lines)

    assert error == ""
    assert status == 0


def test_a_command_into_a_closed_pipe_exits_quietly(
    env: dict[str, str], tmp_path: Path, redis_server: ValkeyProcess
) -> None:
    seed_many(redis.Redis.from_url(redis_server.url, decode_responses=True), 2000)

    status, error = run_then_stop_reading(env, tmp_path, ["export", "--all"], "", 1)

    assert error == ""
    assert status == 0
