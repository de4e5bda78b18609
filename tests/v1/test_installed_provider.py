"""On Agent Framework 1.x, the installed package: the provider imports from its documented path and
``python -m lab11_persistence`` runs a turn, from a directory outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.test_installed_wheel import build_wheel
from tests.support.app_driver import app_env, assert_clean, stop_embedded_server

pytestmark = pytest.mark.v1

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel's files, installed without dependencies (this environment has them) into a folder of their own."""
    base = tmp_path_factory.mktemp("installed")
    wheel = build_wheel(base / "wheel")
    target = base / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            "-t",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return target


def _run(installed_copy: Path, tmp_path: Path, *arguments: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = app_env(tmp_path / "home", tmp_path / "data", PYTHONPATH=str(installed_copy))
    try:
        return subprocess.run(
            [sys.executable, *arguments], input=stdin, cwd=tmp_path / "home", env=env, capture_output=True, text=True
        )
    finally:
        stop_embedded_server(tmp_path / "data")


def test_the_provider_imports_from_its_documented_path(installed_copy: Path, tmp_path: Path) -> None:
    script = "import inspect, lab11_persistence.v1 as v1; print(inspect.getfile(v1.RedisHistoryProvider))"
    result = _run(installed_copy, tmp_path, "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == os.path.join(installed_copy, "lab11_persistence", "v1", "history_provider.py")


def test_python_dash_m_runs_a_turn_on_1x_from_the_installed_copy(installed_copy: Path, tmp_path: Path) -> None:
    result = _run(installed_copy, tmp_path, "-m", "lab11_persistence", stdin="1\nMy name is Ana\n2\n0\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "On Agent Framework 1.x: the same threads, through RedisHistoryProvider." in result.stdout
    assert "1. user: My name is Ana" in result.stdout
    assert_clean(result.stdout + result.stderr)
    assert str(ROOT) not in result.stdout + result.stderr
