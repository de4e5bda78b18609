"""Start-up budget (issue 5): the first menu in at most half the time `import agent_framework` takes."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.app_driver import LabApp

RUNS = 3


def time_to_menu(start_app: Callable[..., LabApp], data_dir: Path) -> float:
    """Seconds from spawning the program to its menu prompt (a fresh data dir: the server starts too)."""
    started = time.perf_counter()
    app = start_app({"LAB11_DATA_DIR": str(data_dir)})
    app.menu()
    elapsed = time.perf_counter() - started
    assert app.exit() == 0
    return elapsed


def time_to_import_agent_framework() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import agent_framework"], check=True, timeout=60)
    return time.perf_counter() - started


def test_menu_appears_in_half_the_time_of_importing_agent_framework(
    start_app: Callable[..., LabApp], tmp_path: Path
) -> None:
    menu = statistics.median(time_to_menu(start_app, tmp_path / f"data{run}") for run in range(RUNS))
    framework = statistics.median(time_to_import_agent_framework() for _ in range(RUNS))
    print(f"\nmenu after {menu:.3f}s; import agent_framework {framework:.3f}s; ratio {menu / framework:.2f}")
    assert menu <= framework / 2, f"menu after {menu:.3f}s, import agent_framework takes {framework:.3f}s"
