"""Which Agent Framework the app starts on: the one installed, checked against what ``--framework`` asks.

Anything else is one line that says how to get the right one (``dev.py``, the requirements files, or the
project's ``.venv`` for a Python that has none), before anything heavy is imported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from lab11_persistence.config import SetupError
from lab11_persistence.console.inert_text import inert_line
from lab11_persistence.frameworks import (
    CHECKOUT,
    GENERATIONS,
    REQUIRED_FRAMEWORK,
    V1,
    V1_REQUIREMENTS,
    in_checkout,
    installed_generation,
    installed_releases,
)

INSTALL_HINT = f"pip install agent-framework-core=={REQUIRED_FRAMEWORK}"
V1_HINT = "or agent-framework-core 1.x: python3 dev.py app --framework 1.x"


def framework_generation() -> str:
    """``lab`` on the lab's release, ``1.x`` on Agent Framework 1.x; one line for anything else.

    Looks at the installed distribution's folder name rather than importing anything, so it
    costs a directory listing. The background import double-checks the API.
    """
    releases = installed_releases()
    if releases is None:
        if in_checkout():  # a Python without the project's packages, e.g. `python3 app.py` in the lab's folder
            activate, dev = _checkout_path(".venv", "bin", "activate"), _checkout_path("dev.py")
            raise SetupError(
                f"The Agent Framework is not installed for this Python. Use the project's .venv: "
                f"source {activate} (then python app.py), or run: python3 {dev} app"
            )
        raise SetupError(f"The Agent Framework is not installed. Run: {INSTALL_HINT} ({V1_HINT}).")
    if generation := installed_generation(releases):
        return generation
    raise SetupError(
        f"This lab needs agent-framework-core {REQUIRED_FRAMEWORK} (found {releases[-1]}). "
        f"Run: {INSTALL_HINT} ({V1_HINT})."
    )


def framework_asked(arguments: Sequence[str]) -> str | None:
    """The generation ``--framework 1.x`` (or ``--framework=1.x``; ``lab``) asks for, None without it.

    The app's one option; anything else is one line (SetupError), never ignored.
    """
    asked: str | None = None
    items = iter(arguments)
    for argument in items:
        if argument == "--framework":
            value = next(items, "")
        elif argument.startswith("--framework="):
            value = argument.split("=", 1)[1]
        else:
            raise SetupError(
                f"Unknown option {inert_line(repr(argument[:40]))}: the app takes --framework 1.x or "
                "--framework lab (--help lists its commands)."
            )
        if value not in GENERATIONS:
            raise SetupError(
                f"Unknown --framework {inert_line(repr(value[:40]))}: use 1.x (Agent Framework 1.x) "
                f"or lab (the lab's {REQUIRED_FRAMEWORK})."
            )
        asked = GENERATIONS[value]
    return asked


def check_framework_asked(asked: str | None, installed: str) -> None:
    """SetupError saying how to get the Agent Framework ``--framework`` names, when another one is installed."""
    if asked is None or asked == installed:
        return
    if asked == V1:
        where = (
            f"Run: python3 {_checkout_path('dev.py')} app --framework 1.x (or install {V1_REQUIREMENTS} "
            "into an environment of its own)"
            if in_checkout()
            else f"Install the project's {V1_REQUIREMENTS} into an environment of its own"
        )
        raise SetupError(
            f"--framework 1.x: Agent Framework 1.x is not installed for this Python (it has the lab's release, "
            f"agent-framework-core {REQUIRED_FRAMEWORK}). {where}."
        )
    where = f"Run: python3 {_checkout_path('dev.py')} app" if in_checkout() else f"Run: {INSTALL_HINT}"
    raise SetupError(
        f"--framework lab: this Python has Agent Framework 1.x, not the lab's release "
        f"(agent-framework-core {REQUIRED_FRAMEWORK}). {where} (in an environment of its own)."
    )


def _checkout_path(*parts: str) -> str:
    """A path in the project's folder as the user would type it here (``../dev.py`` in the lab's folder)."""
    path = CHECKOUT.joinpath(*parts)
    relative = os.path.relpath(path)
    return relative if not relative.startswith(os.path.join("..", "..")) else str(path)
