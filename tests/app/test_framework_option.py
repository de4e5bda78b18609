"""Start-up as a newcomer meets it. ``--framework 1.x`` is never ignored: where 1.x is not installed (this
environment has the lab's release), the real program says in one line how to get it and exits 2. (Where it
is installed, tests/v1 shows the app starting on it.) Also: what a Python without the project's packages is
told, the 1.x adapter's import error, and the start-up line's wording."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.app_driver import APP, LabApp, app_env, assert_clean, run_with_app_modules

pytestmark = pytest.mark.app

LAB_FOLDER = APP.parent
LAB11_COMMAND = Path(sys.executable).parent / "lab11"


def _one_line(app: LabApp) -> str:
    lines = [line for line in app.transcript.splitlines() if line.strip()]
    assert len(lines) == 1, app.transcript
    return lines[0]


@pytest.mark.parametrize("argv", [[sys.executable, str(APP)], [str(LAB11_COMMAND)]], ids=["app.py", "lab11"])
@pytest.mark.parametrize("option", [["--framework", "1.x"], ["--framework=1.x"]])
def test_framework_1x_where_it_is_not_installed_says_how_to_get_it(
    start_app: Callable[..., LabApp], argv: list[str], option: list[str]
) -> None:
    app = start_app(argv=[*argv, *option])
    assert app.finish() == 2
    line = _one_line(app)
    assert line.startswith("--framework 1.x: Agent Framework 1.x is not installed")
    assert "dev.py app --framework 1.x" in line and "requirements-v1.txt" in line
    assert "Choose an option" not in app.transcript
    assert_clean(app.transcript)


def test_framework_lab_where_the_labs_release_is_installed_starts_the_menu(start_app: Callable[..., LabApp]) -> None:
    app = start_app(argv=[sys.executable, str(APP), "--framework", "lab"])
    app.menu()
    assert app.exit() == 0
    assert "Agent Framework 1.x" not in app.transcript
    assert_clean(app.transcript)


@pytest.mark.parametrize(
    ("option", "says"), [("--framework=2", "Unknown --framework '2'"), ("--frob", "Unknown option")]
)
def test_an_unknown_option_is_one_line_and_status_2(start_app: Callable[..., LabApp], option: str, says: str) -> None:
    app = start_app(argv=[sys.executable, str(APP), option])
    assert app.finish() == 2
    assert _one_line(app).startswith(says)


def test_app_py_in_the_labs_folder_without_the_framework_says_how_to_use_the_projects_venv(tmp_path: Path) -> None:
    """``-S``: this Python without its site-packages, as a system ``python3`` without the project's packages."""
    env = app_env(tmp_path / "home", tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-S", "app.py"], cwd=LAB_FOLDER, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        "The Agent Framework is not installed for this Python. Use the project's .venv: "
        "source ../.venv/bin/activate (then python app.py), or run: python3 ../dev.py app"
    ]
    assert "pip install" not in result.stdout


def test_importing_the_1x_adapter_on_the_labs_release_says_what_to_install() -> None:
    """The README's 1.x import, where ``pip install .`` put the lab's release (this environment)."""
    result = run_with_app_modules("from lab11_persistence.v1 import RedisHistoryProvider")
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("ImportError: lab11_persistence.v1 needs Agent Framework 1.x")
    assert "agent-framework-core 1.0.0b260130" in error
    assert "pip install -r requirements-v1.txt" in error and "HistoryProvider" not in error


def test_the_start_up_line_says_the_newest_1_message(start_app: Callable[..., LabApp]) -> None:
    app = start_app({"LAB11_CONTEXT_MESSAGES": "1"})
    app.menu()
    assert "the offline model, sent the newest 1 message and a summary of older ones" in app.transcript
    assert app.exit() == 0
