"""The three stores under test, behind one small factory each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.baselines import LabStore

OURS, LAB, MICROSOFT = "ours", "lab", "microsoft"
ORDER = (OURS, LAB, MICROSOFT)
LABELS = {OURS: "this project", LAB: "lab's algorithm", MICROSOFT: "Microsoft agent_framework_redis"}


def _ours_class() -> Any:
    from redis_chat_message_store import RedisChatMessageStore

    return RedisChatMessageStore


def _microsoft_class() -> Any:
    from agent_framework_redis import RedisChatMessageStore

    return RedisChatMessageStore


@dataclass(frozen=True)
class StoreSpec:
    """How to build one store for a thread: ``make(redis_url, thread_id, key_prefix, max_messages)``."""

    name: str
    make: Callable[[str, str, str, int | None], Any]

    @property
    def label(self) -> str:
        return LABELS[self.name]


def store_specs() -> dict[str, StoreSpec]:
    ours, microsoft = _ours_class(), _microsoft_class()
    return {
        OURS: StoreSpec(
            OURS,
            lambda url, thread, prefix, limit: ours(
                redis_url=url, thread_id=thread, key_prefix=prefix, max_messages=limit
            ),
        ),
        LAB: StoreSpec(
            LAB,
            lambda url, thread, prefix, limit: LabStore(
                redis_url=url, thread_id=thread, key_prefix=prefix, max_messages=limit
            ),
        ),
        MICROSOFT: StoreSpec(
            MICROSOFT,
            lambda url, thread, prefix, limit: microsoft(
                redis_url=url, thread_id=thread, key_prefix=prefix, max_messages=limit
            ),
        ),
    }


def ours_class() -> Any:
    """This project's store class (for the thread-listing measurement, which only it supports)."""
    return _ours_class()
