"""Agent Framework 1.x: ``RedisHistoryProvider`` on the lab's threads (``history_provider``), and the
app's ``Agent`` there (``agent``).

    from lab11_persistence.v1 import RedisHistoryProvider, summarizer_for

Importing it where the lab's release (or no Agent Framework) is installed, as a plain ``pip install .``
leaves it, raises an ImportError that says what to install instead of a bare missing name.
"""

from lab11_persistence.frameworks import V1_REQUIREMENTS, installed_releases


def _needs_1x() -> str | None:
    """Why this Python cannot run the 1.x adapter (it lacks 1.x's ``HistoryProvider``), or None when it can."""
    try:
        from agent_framework import HistoryProvider  # noqa: F401  (1.x's base class; the lab's release has none)
    except ImportError:
        releases = installed_releases()
        if releases is None:
            found = "no Agent Framework is installed"
        elif releases:
            found = f"this Python has agent-framework-core {releases[-1]}"
        else:
            found = "this Python's Agent Framework has no HistoryProvider"
        return (
            f"lab11_persistence.v1 needs Agent Framework 1.x (agent-framework-core 1.x), and {found}. "
            f"Install it into an environment of its own: pip install -r {V1_REQUIREMENTS} (from the project's "
            "folder), then pip install --no-deps . (see the README's install section)."
        )
    return None


if (_problem := _needs_1x()) is not None:
    raise ImportError(_problem, name=__name__)

from lab11_persistence.v1.history_provider import RedisHistoryProvider, summarizer_for  # noqa: E402

__all__ = ["RedisHistoryProvider", "summarizer_for"]
