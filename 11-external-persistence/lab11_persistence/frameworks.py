"""Which Agent Framework release is installed, found without importing it (a directory listing).

The lab runs on one release (``REQUIRED_FRAMEWORK``), its ``ChatAgent`` era; ``lab11_persistence.v1`` needs
1.x. The app's start-up and the 1.x adapter's import both ask here, so that a wrong release is one line
that says what to install, before anything heavy is imported. Standard library only.
"""

from __future__ import annotations

import re
from importlib.util import find_spec
from pathlib import Path

REQUIRED_FRAMEWORK = "1.0.0b260130"
LAB, V1 = "lab", "1.x"
#: ``--framework`` values, as ``dev.py`` takes them.
GENERATIONS = {"lab": LAB, REQUIRED_FRAMEWORK: LAB, "1.x": V1, "1": V1}
CHECKOUT = Path(__file__).resolve().parent.parent.parent  # the project's folder, in a checkout
V1_REQUIREMENTS = "requirements-v1.txt"


def installed_releases() -> list[str] | None:
    """The versions of agent-framework-core beside the ``agent_framework`` package, oldest first (empty when
    none is recorded); None when there is no ``agent_framework`` to import."""
    spec = find_spec("agent_framework")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = Path(next(iter(spec.submodule_search_locations))).parent
    prefix, suffix = "agent_framework_core-", ".dist-info"
    found = (entry.name[len(prefix) : -len(suffix)] for entry in site.glob(f"{prefix}*{suffix}"))
    return sorted(found, key=_version_order)


def generation_of(version: str) -> str | None:
    """``lab`` for the lab's release, ``1.x`` from 1.0.0 on; None for the other 1.0.0 pre-releases (neither API)."""
    if version == REQUIRED_FRAMEWORK:
        return LAB
    if re.fullmatch(r"1\.0\.0(a|b|rc)\d+", version):
        return None
    return V1


def installed_generation(releases: list[str]) -> str | None:
    """The generation of what is installed: the lab's when its release is among them (or none is recorded)."""
    if not releases or REQUIRED_FRAMEWORK in releases:
        return LAB
    return generation_of(releases[-1])


def in_checkout() -> bool:
    """True when running from the project's folder (``dev.py`` and the requirements files are there)."""
    return (CHECKOUT / "dev.py").is_file()


def _version_order(version: str) -> list[int | str]:
    """1.10.0 after 1.9.0 (a plain string sort puts it before)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version)]
