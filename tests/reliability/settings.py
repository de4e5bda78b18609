"""How hard the reliability suite pushes: quick by default, a longer soak with ``LAB11_SOAK=1``."""

from __future__ import annotations

import os

SOAK = os.environ.get("LAB11_SOAK", "") not in ("", "0")


def scaled(default: int, soak: int) -> int:
    """The repeat count for this run: ``default`` in CI, ``soak`` when LAB11_SOAK=1."""
    return soak if SOAK else default


FIGURES: dict[str, str] = {}


def record_figure(scenario: str, text: str) -> None:
    """A line for the end-of-run summary ("reliability figures"), copied into docs/reliability.md."""
    FIGURES[scenario] = text
