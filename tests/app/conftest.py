"""Fixtures that run the real ``app.py`` (the driver itself is ``tests/support/app_driver.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import app_driver
from tests.support.app_driver import LabApp, stop_embedded_server


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def app_env(tmp_path: Path, data_dir: Path) -> dict[str, str]:
    return app_driver.app_env(tmp_path / "home", data_dir)


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
    stop_embedded_server(data_dir)
