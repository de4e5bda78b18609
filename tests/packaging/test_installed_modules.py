"""``pip install .`` (the ``lab11`` command) carries every module of the lab's folder."""

from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_lists_every_module_of_the_lab_folder() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["py-modules"])
    on_disk = {path.stem for path in (ROOT / "11-external-persistence").glob("*.py")}
    assert sorted(on_disk - listed) == [] and sorted(listed - on_disk) == []
