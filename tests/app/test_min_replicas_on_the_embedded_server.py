"""LAB11_MIN_REPLICAS with the embedded server, which has no replicas: one line naming the setting, exit 2, and no
server started for nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.app_driver import APP, app_env, assert_clean

pytestmark = pytest.mark.app


@pytest.mark.parametrize("arguments", [[], ["threads"]], ids=["app", "command"])
def test_min_replicas_without_redis_url_is_one_line_naming_the_setting_and_exit_2(
    tmp_path: Path, arguments: list[str]
) -> None:
    env = app_env(tmp_path / "home", tmp_path / "data", LAB11_MIN_REPLICAS="1")

    result = subprocess.run(
        [sys.executable, str(APP), *arguments], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    problem = [line for line in (result.stdout + result.stderr).splitlines() if "LAB11_MIN_REPLICAS" in line]
    assert result.returncode == 2
    assert len(problem) == 1 and "LAB11_MIN_REPLICAS=1 but the embedded Valkey server has 0 replicas" in problem[0]
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())  # nothing started
    assert_clean(result.stdout + result.stderr)
