"""``python -m lab11_persistence`` and the ``lab11`` command: the lab's ``app.py``, the same program.

Installed, ``app.py`` ships inside this package (``lab11_persistence.lab.app``, see pyproject.toml);
in a checkout it sits beside this package's folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def lab_app() -> ModuleType:
    """The module of the lab's ``app.py``, wherever this package lives."""
    try:
        return importlib.import_module("lab11_persistence.lab.app")
    except ModuleNotFoundError as error:
        if error.name not in ("lab11_persistence.lab", "lab11_persistence.lab.app"):
            raise
    lab_folder = Path(__file__).resolve().parent.parent
    if str(lab_folder) not in sys.path:  # app.py imports the lab's store by its plain name, as the lab does
        sys.path.insert(0, str(lab_folder))
    spec = importlib.util.spec_from_file_location("lab11_app", lab_folder / "app.py")
    if spec is None or spec.loader is None:  # pragma: no cover - app.py is part of every checkout
        raise ModuleNotFoundError("app.py is missing beside the lab11_persistence package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run() -> None:
    """The console entry point (``lab11``)."""
    lab_app().run()


if __name__ == "__main__":
    run()
