"""dev.py: one line before installing anything when python3 cannot serve; progress while pip installs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dev

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """dev.py and the files it reads, in a checkout of their own (a wrong turn would install there, not here)."""
    copy = tmp_path / "checkout"
    copy.mkdir()
    for path in [ROOT / "dev.py", ROOT / "pyproject.toml", *ROOT.glob("requirements*.txt")]:
        shutil.copy(path, copy / path.name)
    return copy


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, str]:
    """A PATH whose only Python is a python3.12 that answers dev.py's probe with 3.12.9; no pyenv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3.12"
    fake.write_text("#!/bin/sh\necho 3 12 9\n")
    fake.chmod(0o755)
    return {"PATH": str(bin_dir), "PYENV_ROOT": str(tmp_path / "no-pyenv"), "HOME": str(tmp_path)}


def _dev_py(
    checkout: Path, environment: dict[str, str], prelude: str, *arguments: str
) -> subprocess.CompletedProcess[str]:
    """``python3 dev.py ARGUMENTS`` with ``prelude`` run first (to make this Python look like another)."""
    script = (
        f"import runpy, sys\n{prelude}\nsys.argv = ['dev.py', *{list(arguments)!r}]\n"
        f"runpy.run_path({str(checkout / 'dev.py')!r}, run_name='__main__')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_too_old_python_is_refused_in_one_line_naming_a_supported_one(
    checkout: Path, machine: dict[str, str]
) -> None:
    result = _dev_py(checkout, machine, "sys.version_info = (3, 9, 18, 'final', 0)", "app")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "dev.py needs Python 3.10 to 3.14 with venv and pip, and this python3 is 3.9.18. "
        "Use 3.12.9, found here: python3.12 dev.py app"
    ]
    assert sorted(path.name for path in checkout.iterdir() if path.name.startswith(".venv")) == []


def test_a_python_without_pip_is_refused_before_anything_is_installed(checkout: Path, machine: dict[str, str]) -> None:
    result = _dev_py(checkout, machine, "sys.modules['ensurepip'] = None", "test")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "has no pip (ensurepip); on Debian/Ubuntu: apt install python3-venv" in line
    assert line.endswith("Use 3.12.9, found here: python3.12 dev.py test")
    assert not (checkout / ".venv").exists()


def test_with_no_supported_python_on_the_machine_it_says_so(checkout: Path, tmp_path: Path) -> None:
    empty = {"PATH": str(tmp_path / "nothing"), "PYENV_ROOT": str(tmp_path / "no-pyenv"), "HOME": str(tmp_path)}
    result = _dev_py(checkout, empty, "sys.version_info = (3, 8, 10, 'final', 0)", "app")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "dev.py needs Python 3.10 to 3.14 with venv and pip, and this python3 is 3.8.10. "
        "None was found here (PATH, pyenv): install one and run dev.py with it"
    ]


def test_a_python_newer_than_the_range_is_tried_with_a_note(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 15, 0, "final", 0))
    dev.check_interpreter("app")
    assert capsys.readouterr().out == "Note: Python 3.15.0 is newer than Python 3.10 to 3.14; trying anyway.\n"


def test_pip_progress_says_how_many_packages_and_how_far_along(capsys: pytest.CaptureFixture[str]) -> None:
    """In a log (not a terminal): one line per step, never pip's whole output."""
    progress = dev.InstallProgress(site_packages=None, interactive=False)
    for line in [
        "Collecting fakeredis==2.40.0 (from -r requirements-test.txt (line 3))\n",
        "  Downloading fakeredis-2.40.0-py3-none-any.whl (204 kB)\n",
        "Processing /opt/pypi/files/redis-8.1.0-py3-none-any.whl (from fakeredis==2.40.0)\n",
        "Collecting pluggy<2,>=1.6 (from pytest==9.2.0)\n",
        "Installing collected packages: redis, pluggy, fakeredis\n",
        "Successfully installed fakeredis-2.40.0 pluggy-1.7.0 redis-8.1.0\n",
    ]:
        progress.feed(line)
    progress.finish(ok=True)
    assert capsys.readouterr().out.splitlines() == [
        "  collecting packages: 1 so far (fakeredis)",
        "  collected 3 packages; installing 3 ...",
        "  installed 3 packages in 0 s",
    ]


def test_on_a_terminal_the_progress_line_is_rewritten_in_place(capsys: pytest.CaptureFixture[str]) -> None:
    progress = dev.InstallProgress(site_packages=None, interactive=True)
    progress.feed("Collecting pluggy<2,>=1.6 (from pytest==9.2.0)\n")
    progress.feed("  Downloading pluggy-1.7.0-py3-none-any.whl (27 kB)\n")
    progress.finish(ok=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one line on screen, however many steps
    assert "collecting packages: 1 so far (pluggy)" in out
    assert "(downloading pluggy-1.7.0-py3-none-any.whl" in out  # cut to the terminal's width


def test_framework_1x_picks_the_v1_environment_and_is_not_passed_to_the_app() -> None:
    assert dev._split_framework(["--framework", "1.x", "--flag"]) == (dev.V1, ["--flag"])
    assert dev._split_framework(["--framework=1.x"]) == (dev.V1, [])
    assert dev._split_framework([]) == (dev.LAB, [])


def test_an_unknown_framework_is_one_line() -> None:
    with pytest.raises(SystemExit) as stopped:
        dev._split_framework(["--framework", "2.0"])
    assert str(stopped.value) == (
        "Unknown --framework '2.0': use 1.x (Agent Framework 1.x) or lab (the lab's 1.0.0b260130)."
    )


def test_test_paths_under_tests_v1_belong_to_the_v1_environment() -> None:
    assert dev._is_v1_path(dev._test_path("tests/v1") or ROOT)
    assert dev._is_v1_path(
        dev._test_path("tests/v1/test_v1_environment.py::test_the_1x_names_replace_the_labs") or ROOT
    )
    assert not dev._is_v1_path(dev._test_path("tests/store") or ROOT)
    assert dev._test_path("-q") is None


@pytest.mark.parametrize(
    ("statuses", "combined"),
    [([0, 0, 0], 0), ([0, 1, 0], 1), ([0, 0, 5], 0), ([5, 5], 5), ([0, 5, 2], 2)],
)
def test_the_exit_status_combines_every_part(statuses: list[int], combined: int) -> None:
    """pytest's 5 (nothing selected, e.g. a -k that matches only main-suite tests) fails only if no part ran."""
    assert dev._combine([(f"part {index}", status) for index, status in enumerate(statuses)]) == combined


@pytest.mark.parametrize(
    ("arguments", "cores", "parallel"),
    [
        ([], 2, ["-n", "3", "--dist", "loadfile"]),
        ([], 3, ["-n", "4", "--dist", "loadfile"]),
        ([], 16, ["-n", "4", "--dist", "loadfile"]),
        ([], 1, []),
        (["--fast"], 2, []),
        (["-n", "3"], 2, []),
        (["-n3"], 2, []),
        (["-p", "no:xdist"], 2, []),
        (["tests/store", "-q"], 2, ["-n", "3", "--dist", "loadfile"]),
    ],
)
def test_the_suite_runs_on_the_machines_cores_unless_told_otherwise(
    arguments: list[str], cores: int, parallel: list[str]
) -> None:
    assert dev.TestRun(arguments).parallel(cores) == parallel


def test_a_run_that_selected_no_test_fails_even_when_ruff_passed() -> None:
    """`dev.py test --fast` where no test is in the fast layer: ruff's 0 does not make the run a pass."""
    assert dev._combine([("ruff", 0), ("the fast layer in .venv", 5)]) == 5


# -- every environment complete for every command that uses it (issue 21 point 7) ------------------


@pytest.mark.parametrize(
    ("command", "arguments", "v1_exists", "expected"),
    [
        ("app", [], False, [(".venv", "requirements.txt")]),
        ("app", ["--framework", "1.x"], False, [(".venv-v1", "requirements-v1.txt")]),
        ("test", [], False, [(".venv", "requirements-dev.txt"), (".venv-v1", "requirements-v1-dev.txt")]),
        ("test", ["tests/store", "-q"], False, [(".venv", "requirements-dev.txt")]),
        ("test", ["tests/store"], True, [(".venv", "requirements-dev.txt"), (".venv-v1", "requirements-v1-dev.txt")]),
        ("test", ["tests/v1"], True, [(".venv-v1", "requirements-v1-dev.txt")]),
        ("test", ["--fast"], True, [(".venv", "requirements-dev.txt")]),
        ("bench", [], False, [(".venv", "requirements-dev.txt"), (".venv-v1", "requirements-v1-dev.txt")]),
    ],
)
def test_each_command_sets_up_every_environment_it_uses_with_the_whole_set_first(
    command: str, arguments: list[str], v1_exists: bool, expected: list[tuple[str, str]]
) -> None:
    """The main suite runs Microsoft's 1.x provider in .venv-v1 when it exists (the benchmark's smoke
    test), so `test` completes .venv-v1 before it runs anything; --fast uses .venv only."""
    planned = dev.environments_for(command, arguments, v1_exists)
    chosen = [
        (environment.directory.name, environment.dev_requirements if tools else environment.requirements)
        for environment, tools in planned
    ]
    assert chosen == expected


FAKE_PYTHON = '#!/bin/sh\necho "$0 $*" >> "$DEV_LOG"\n'


@pytest.fixture
def built_by_app_then_test(checkout: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A checkout where `dev.py app` made .venv with the test tools and `dev.py app --framework 1.x` made
    .venv-v1 without them; each python and uv only logs how it was called. A redis-server on PATH."""
    for environment, requirements in ((dev.LAB, dev.LAB.dev_requirements), (dev.V1, dev.V1.requirements)):
        bin_dir = checkout / environment.directory.name / "bin"
        bin_dir.mkdir(parents=True)
        for program in ("python", "uv"):
            (bin_dir / program).write_text(FAKE_PYTHON)
            (bin_dir / program).chmod(0o755)
        python = bin_dir / "python"
        (python.parent.parent / f".installed-{dev._fingerprint(requirements)}").write_text(requirements)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "redis-server").write_text("#!/bin/sh\n")
    (bin_dir / "redis-server").chmod(0o755)
    log = tmp_path / "calls.log"
    environment = {"PATH": str(bin_dir), "HOME": str(tmp_path), "DEV_LOG": str(log)}
    return log, environment


def _calls(log: Path, checkout: Path) -> list[str]:
    return [line.replace(str(checkout) + "/", "") for line in log.read_text().splitlines()]


def test_after_the_app_on_1x_the_tests_complete_venv_v1_before_the_main_suite_runs(
    checkout: Path, built_by_app_then_test: tuple[Path, dict[str, str]]
) -> None:
    log, environment = built_by_app_then_test
    result = _dev_py(checkout, environment, "", "test")
    assert result.returncode == 0, result.stdout + result.stderr
    calls = _calls(log, checkout)
    completed = next(n for n, call in enumerate(calls) if call.endswith("-r requirements-v1-dev.txt"))
    main_suite = next(n for n, call in enumerate(calls) if call.startswith(".venv/bin/python -m pytest"))
    assert calls[completed].startswith(".venv-v1/bin/uv pip install --python .venv-v1/bin/python")
    assert completed < main_suite
    parallel = dev.TestRun([]).parallel(os.cpu_count())  # the same machine runs dev.py
    assert calls[-1] == " ".join([".venv-v1/bin/python -m pytest", *parallel, "tests/v1"])


def test_fast_runs_only_the_fast_layer_in_venv_and_installs_no_server(
    checkout: Path, built_by_app_then_test: tuple[Path, dict[str, str]]
) -> None:
    log, environment = built_by_app_then_test
    (Path(environment["PATH"]) / "redis-server").unlink()  # were it wanted, dev.py would say so or install it
    result = _dev_py(checkout, environment, "", "test", "--fast", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _calls(log, checkout) == [
        ".venv/bin/python -m ruff check .",
        ".venv/bin/python -m ruff format --check .",
        ".venv/bin/python -m pytest -m fast -q",
    ]
    assert "redis-server" not in result.stdout + result.stderr


def test_without_uv_the_requirements_are_installed_with_pip(
    checkout: Path, built_by_app_then_test: tuple[Path, dict[str, str]]
) -> None:
    """Where pip cannot get uv (here the fake pip installs nothing), pip installs the set itself."""
    log, environment = built_by_app_then_test
    (checkout / ".venv-v1" / "bin" / "uv").unlink()
    result = _dev_py(checkout, environment, "", "test", "tests/v1")
    assert result.returncode == 0, result.stdout + result.stderr
    installs = [call for call in _calls(log, checkout) if " install " in call]
    assert installs == [
        f".venv-v1/bin/python -m pip install -q --disable-pip-version-check {dev.UV}",
        ".venv-v1/bin/python -m pip install --disable-pip-version-check --progress-bar off -r requirements-v1-dev.txt",
    ]


def test_uv_is_given_pips_index_and_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """uv reads neither PIP_* nor pip.conf: behind a network that inspects TLS it trusts only what pip is told."""
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    monkeypatch.setenv("PIP_CERT", "/etc/ssl/corporate.pem")
    assert dev._pip_settings_for_uv(Path(sys.executable)) == [
        "--index-url",
        "https://mirror.example/simple",
        "--cert",
        "/etc/ssl/corporate.pem",
    ]


def test_uv_is_given_pips_ca_bundle_from_pip_conf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "pip.conf"
    config.write_text("[global]\ncert = /etc/ssl/from-pip-conf.pem\n")
    for name in ("PIP_INDEX_URL", "PIP_CERT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    settings = dev._pip_settings_for_uv(Path(sys.executable))
    assert settings[settings.index("--cert") + 1] == "/etc/ssl/from-pip-conf.pem"
