"""A thread's summary record, kept at ``{<thread key>}:summary`` (``RedisHistory.summary_key``)::

    {"text": "...", "covers": 180, "in_list": 40, "last": "<fingerprint>", "updated_at": 1764590000.0}

``window`` writes it and reads it for a turn; listing, export, import and migration
carry it. What the fields mean is said in ``window``'s docstring.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = ["Summary", "fingerprint", "read_summary"]

T = TypeVar("T")


class _History(Protocol):
    """What ``read_summary`` needs of a ``history.RedisHistory`` (named here, not imported: it imports this)."""

    client: Any
    codec: Any  # ``codec.EntryCodec``: the record is sealed like the thread's entries

    def key(self, thread_id: str) -> str: ...

    def summary_key(self, thread_id: str) -> str: ...

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T: ...


def fingerprint(entry: str) -> str:
    return hashlib.sha256(entry.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class Summary:
    """A thread's summary record (see the module's docstring)."""

    text: str
    covers: int
    in_list: int
    last: str = ""
    updated_at: float = 0.0

    @classmethod
    def parse(cls, raw: Any) -> Summary | None:
        """The record as stored; None for none, or for one that is not a summary record."""
        if not isinstance(raw, str):
            return None
        try:
            record = json.loads(raw)
            summary = cls(
                text=record["text"],
                covers=record["covers"],
                in_list=record["in_list"],
                last=record.get("last", ""),
                updated_at=record.get("updated_at", 0.0),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        valid = isinstance(summary.text, str) and isinstance(summary.covers, int) and isinstance(summary.in_list, int)
        return summary if valid and summary.covers >= summary.in_list >= 0 else None

    def record(self) -> str:
        fields = {"text": self.text, "covers": self.covers, "in_list": self.in_list, "last": self.last}
        return json.dumps({**fields, "updated_at": self.updated_at}, ensure_ascii=False, separators=(",", ":"))


async def read_summary(history: _History, thread_id: str) -> Summary | None:
    """A thread's summary record, opened, under the history's failure policy; None when it has none."""
    raw = await history.call(lambda: history.client.get(history.summary_key(thread_id)))
    return history.codec.open_summary(raw, history.key(thread_id))
