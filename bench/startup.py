"""Start-up: time from launching the app to its first menu, beside ``python -c "import agent_framework"``.

The app runs under a pseudo-terminal (pexpect), as a user would see it, with its
data directory in a temporary folder and no REDIS_URL or Azure OpenAI settings,
so it takes the path a first-time user takes.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "11-external-persistence" / "app.py"
# The lab's menu: "1. Send a user message" ... "0. Exit"; matching the exit line means the whole menu is shown.
DEFAULT_MENU_PATTERN = r"(?i)\b0\s*[\].):-]?\s*(exit|quit)"
MENU_TIMEOUT_SECONDS = 60.0
EXIT_TIMEOUT_SECONDS = 20.0
IMPORT_TIMEOUT_SECONDS = 120.0
SCRUBBED_PREFIXES = ("AOAI_", "AZURE_OPENAI_", "OPENAI_")


@dataclass
class StartupResult:
    """Seconds to the first menu and to import agent_framework, per run; ``problem`` if the app could not be timed."""

    menu: list[float] = field(default_factory=list)
    imports: list[float] = field(default_factory=list)
    problem: str | None = None

    @property
    def menu_median(self) -> float | None:
        return statistics.median(self.menu) if self.menu else None

    @property
    def import_median(self) -> float | None:
        return statistics.median(self.imports) if self.imports else None


def _environment(data_dir: str) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if key != "REDIS_URL" and not key.startswith(SCRUBBED_PREFIXES)
    }
    env["LAB11_DATA_DIR"] = data_dir
    env["LAB11_ENV_FILE"] = "none"  # a developer's .env must not bring REDIS_URL or Azure settings back
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _time_import(env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import agent_framework"],
        env=env,
        cwd=cwd,
        check=True,
        timeout=IMPORT_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def _time_menu(app: Path, env: dict[str, str], cwd: str, pattern: str) -> float:
    """Launch the app under a pty, wait for the menu, then leave through its Exit entry."""
    import pexpect

    start = time.perf_counter()
    child = pexpect.spawn(
        sys.executable,
        [str(app)],
        env=env,
        cwd=cwd,
        encoding="utf-8",
        codec_errors="replace",
        timeout=MENU_TIMEOUT_SECONDS,
        dimensions=(50, 160),
    )
    try:
        try:
            child.expect(pattern)
        except (pexpect.TIMEOUT, pexpect.EOF) as error:
            seen = (child.before or "")[-400:]
            reason = type(error).__name__
            raise RuntimeError(f"no menu matching {pattern!r} ({reason}); last output: {seen!r}") from None
        elapsed = time.perf_counter() - start
        child.sendline("0")
        with contextlib.suppress(pexpect.TIMEOUT):
            child.expect(pexpect.EOF, timeout=EXIT_TIMEOUT_SECONDS)
        return elapsed
    finally:
        if child.isalive():
            child.terminate(force=True)
        child.close(force=True)


def measure_startup(
    runs: int, app: Path = APP, pattern: str = DEFAULT_MENU_PATTERN, warmup: bool = True
) -> StartupResult:
    """Median-ready timings of both, interleaved so that cache effects hit them alike."""
    result = StartupResult()
    with tempfile.TemporaryDirectory(prefix="lab11-bench-startup-") as workdir:
        env = _environment(str(Path(workdir) / "data"))
        for number in range(runs + (1 if warmup else 0)):
            counted = number > 0 or not warmup
            imported = _time_import(env, workdir)
            if counted:
                result.imports.append(imported)
            if result.problem is not None:
                continue
            if not app.exists():
                result.problem = "app.py missing"
                continue
            try:
                menu = _time_menu(app, env, workdir, pattern)
            except RuntimeError as error:
                result.problem = str(error)
                continue
            if counted:
                result.menu.append(menu)
    return result
