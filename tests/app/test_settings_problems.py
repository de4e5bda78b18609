"""Settings are parsed once; every value that cannot be used is named, all of them, one line each, exit 2.

The app's start-up and its commands print the same list, so a user fixes everything in one go instead of
one problem per run; and a value that is neither on nor off, or not a number, is never quietly read as
the default.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab11_persistence.config import DEFAULT_CONTEXT_MESSAGES, SettingsError, load_settings
from tests.support.app_driver import APP, app_env, assert_clean

FOUR_PROBLEMS = {
    "LAB11_CONTEXT_MESSAGES": "lots",
    "REDIS_CLUSTER": "maybe",
    "AOAI_ENDPOINT": "https://lab.openai.azure.com/",
    "LAB11_TENANT_ID": "acme",
}
NAMED = ("REDIS_CLUSTER must be 1", "LAB11_CONTEXT_MESSAGES must be", "AOAI_DEPLOYMENT", "LAB11_APPLICATION_ID")


def _run(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = app_env(tmp_path / "home", tmp_path / "data", **FOUR_PROBLEMS)
    return subprocess.run(
        [sys.executable, str(APP), *arguments], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def _problem_lines(output: str) -> list[str]:
    return [line.removeprefix("lab11: ") for line in output.splitlines() if line.strip()]


@pytest.mark.fast
def test_every_problem_is_collected_in_one_list() -> None:
    problems = load_settings(FOUR_PROBLEMS, read_dotenv=False).problems
    assert len(problems) == 4
    for problem, named in zip(problems, NAMED, strict=True):
        assert named in problem and "\n" not in problem


@pytest.mark.fast
@pytest.mark.parametrize(
    ("name", "value"), [("REDIS_CLUSTER", "maybe"), ("REDIS_ENTRA_ID", "2"), ("LAB11_CONTEXT_MESSAGES", "-3")]
)
def test_a_value_that_means_nothing_is_a_problem_not_a_default(name: str, value: str) -> None:
    settings = load_settings({name: value, "REDIS_URL": "rediss://cache.example.net:6380/0"}, read_dotenv=False)
    (problem,) = settings.problems
    assert problem.startswith(f"{name} must be") and repr(value) in problem
    with pytest.raises(SettingsError) as raised:
        settings.check()
    assert raised.value.lines == (problem,) and raised.value.exit_status == 2


@pytest.mark.fast
def test_the_window_setting_is_a_number_once_read() -> None:
    assert load_settings({"LAB11_CONTEXT_MESSAGES": " 12 "}, read_dotenv=False).context_messages == 12
    assert load_settings({"LAB11_CONTEXT_MESSAGES": "ALL"}, read_dotenv=False).context_messages is None
    assert load_settings({}, read_dotenv=False).context_messages == DEFAULT_CONTEXT_MESSAGES


@pytest.mark.app
def test_start_up_names_every_problem_in_one_line_each_and_exits_2(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = _problem_lines(result.stdout + result.stderr)
    assert len(lines) == 4, lines
    for line, named in zip(lines, NAMED, strict=True):
        assert named in line
    assert_clean(result.stdout + result.stderr)


@pytest.mark.app
def test_a_command_names_the_same_problems_as_start_up(tmp_path: Path) -> None:
    at_start_up = _problem_lines(_run(tmp_path).stdout)
    command = _run(tmp_path, "threads")
    assert command.returncode == 2
    assert _problem_lines(command.stderr) == at_start_up
    assert command.stdout == ""
