"""What reaches the terminal as a log line: the app's own warnings, one line each; library notes, not at all."""

from __future__ import annotations

import textwrap

import pytest

from tests.support.app_driver import run_with_app_modules

pytestmark = pytest.mark.app

# As some Agent Framework 1.x releases do on import: a warning class of their own, "experimental".
SCRIPT = textwrap.dedent(
    """
    import logging, warnings
    from lab11_persistence.config import load_settings
    from lab11_persistence.console.terminal import Terminal, configure_logging

    settings = load_settings()
    configure_logging(settings, Terminal(settings))

    class ExperimentalWarning(FutureWarning):
        pass

    warnings.warn("[SKILLS] SkillResource is experimental and may change", ExperimentalWarning)
    logging.getLogger("lab11_persistence.redis_history.history").warning(
        "Skipping entry 2 of lab11:t (not JSON)\\nsecond line"
    )
    """
)


def _stderr_of(script: str) -> str:
    result = run_with_app_modules(script)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_a_librarys_python_warning_is_not_shown_and_the_apps_own_warning_is_one_line() -> None:
    assert _stderr_of(SCRIPT) == "warning: Skipping entry 2 of lab11:t (not JSON)\n"
