"""``pip install .`` installs one package and the lab's store, and the installed program stands alone.

The wheel is built from a copy of the checkout's sources and installed, with its dependencies at the
versions ``requirements.txt`` pins, into a fresh virtual environment; everything installed runs from a
directory outside the checkout, with an empty HOME.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.app_driver import APP, app_env, assert_clean, stop_embedded_server

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
LAB_FOLDER = ROOT / "11-external-persistence"
INSTALLED_TOP_LEVEL = ["lab11_persistence", "redis_chat_message_store"]


def build_wheel(into: Path) -> Path:
    """The project's wheel, built from a copy of its sources (the build writes nothing into the checkout)."""
    sources = into / "sources"
    sources.mkdir(parents=True)
    for path in [ROOT / "pyproject.toml", ROOT / "setup.py", ROOT / "MANIFEST.in", ROOT / "README.md"]:
        shutil.copy(path, sources / path.name)
    for path in ROOT.glob("requirements*.txt"):  # setup.py reads the dependencies from them
        shutil.copy(path, sources / path.name)
    shutil.copytree(LAB_FOLDER, sources / LAB_FOLDER.name, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", str(into), "."],
        cwd=sources,
        check=True,
        capture_output=True,
        text=True,
    )
    return next(into.glob("*.whl"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment holding the wheel and the pinned dependencies; its bin directory."""
    environment = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(environment)], check=True)
    pip = [str(environment / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, str(wheel), "-c", str(ROOT / "requirements.txt")], check=True, capture_output=True)
    yield environment / "bin"


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A working directory outside the checkout, and an environment with an empty HOME."""
    home, data_dir = tmp_path / "home", tmp_path / "data"
    env = app_env(home, data_dir)
    yield home, env
    stop_embedded_server(data_dir)


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_installs_one_package_and_the_labs_store(wheel: Path) -> None:
    names = _names(wheel)
    top_level_file = next(name for name in names if name.endswith(".dist-info/top_level.txt"))
    with zipfile.ZipFile(wheel) as archive:
        assert sorted(archive.read(top_level_file).decode().split()) == INSTALLED_TOP_LEVEL
    tops = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")}
    assert sorted(tops) == ["lab11_persistence", "redis_chat_message_store.py"]
    assert [name for name in names if name.endswith(".pth")] == []


def test_the_wheel_requires_exactly_the_pins_of_requirements_txt(wheel: Path) -> None:
    """pyproject.toml writes no pin: setup.py takes requirements.txt's (and its includes'), so a version
    changes in one place."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(name for name in _names(wheel) if name.endswith(".dist-info/METADATA")))
    required = [
        line.split(": ", 1)[1]
        for line in metadata.decode().splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    ]
    assert required == _pins("requirements.txt")


def _pins(name: str) -> list[str]:
    lines = []
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.strip()
        if line.startswith("-r "):
            lines += _pins(line[3:].strip())
        elif line and not line.startswith("#"):
            lines.append(line)
    return lines


def test_the_installed_command_runs_the_labs_own_app_py(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("lab11_persistence/lab/app.py") == APP.read_bytes()


def test_every_module_of_the_package_is_in_the_wheel(wheel: Path) -> None:
    in_checkout = sorted(str(path.relative_to(LAB_FOLDER)) for path in (LAB_FOLDER / "lab11_persistence").rglob("*.py"))
    in_wheel = sorted(name for name in _names(wheel) if name.startswith("lab11_persistence/") and name.endswith(".py"))
    assert in_wheel == sorted([*in_checkout, "lab11_persistence/lab/app.py"])


def test_lab11_threads_runs_from_the_installed_copy(installed: Path, outside: tuple[Path, dict[str, str]]) -> None:
    home, env = outside
    result = subprocess.run([str(installed / "lab11"), "threads"], cwd=home, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "No saved threads under 'lab11:' yet.\n"
    assert_clean(result.stdout + result.stderr)


def test_a_menu_turn_and_python_dash_m_run_from_the_installed_copy(
    installed: Path, outside: tuple[Path, dict[str, str]]
) -> None:
    home, env = outside
    turn = subprocess.run(
        [str(installed / "lab11")], input="1\nMy name is Ana\n2\n0\n", cwd=home, env=env, capture_output=True, text=True
    )
    assert turn.returncode == 0, turn.stdout + turn.stderr
    assert "1. user: My name is Ana" in turn.stdout
    assert "2. assistant: [offline model]" in turn.stdout
    assert_clean(turn.stdout + turn.stderr)

    listed = subprocess.run(
        [str(installed / "python"), "-m", "lab11_persistence", "threads"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    assert '"My name is Ana"' in listed.stdout


def test_the_installed_modules_come_from_the_fresh_environment(
    installed: Path, outside: tuple[Path, dict[str, str]]
) -> None:
    home, env = outside
    script = (
        "import lab11_persistence.__main__ as entry, redis_chat_message_store as store;"
        "print(entry.lab_app().__file__); print(store.__file__)"
    )
    result = subprocess.run(
        [str(installed / "python"), "-c", script], cwd=home, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    site = str(installed.parent / "lib")
    app_file, store_file = result.stdout.split()
    assert app_file.startswith(site) and app_file.endswith("lab11_persistence/lab/app.py")
    assert store_file.startswith(site) and str(ROOT) not in store_file
