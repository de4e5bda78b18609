"""The package's dependencies are the pins of requirements.txt, read here (pyproject.toml marks them dynamic).

So each version is written once, in the requirement files; ``-r`` includes are followed as pip follows
them (setuptools' own ``dynamic = {file = ...}`` reads no includes).
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent


def pins(name: str) -> list[str]:
    """The requirement lines of ``name`` and of every file it includes with ``-r``, in order."""
    found: list[str] = []
    for raw in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("-r "):
            found += pins(line[3:].strip())
        elif line and not line.startswith("#"):
            found.append(line)
    return found


def extra(name: str) -> list[str]:
    """What ``name`` adds to the app's own pins (an extra: ``pip install .[test]``)."""
    app = set(pins("requirements.txt"))
    return [line for line in pins(name) if line not in app]


setup(
    install_requires=pins("requirements.txt"),
    extras_require={"test": extra("requirements-test.txt"), "dev": extra("requirements-dev.txt")},
)
