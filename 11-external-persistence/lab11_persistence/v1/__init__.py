"""Agent Framework 1.x: ``RedisHistoryProvider`` on the lab's threads (``history_provider``), and the
app's ``Agent`` there (``agent``).

    from lab11_persistence.v1 import RedisHistoryProvider, summarizer_for
"""

from lab11_persistence.v1.history_provider import RedisHistoryProvider, summarizer_for

__all__ = ["RedisHistoryProvider", "summarizer_for"]
