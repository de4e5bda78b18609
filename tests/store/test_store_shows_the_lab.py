"""The file a learner reads is the lab: the store issues the lab's RPUSH, LTRIM and LRANGE itself, in one sitting."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import redis_chat_message_store
from redis_chat_message_store import RedisChatMessageStore

pytestmark = pytest.mark.fast

MOST_LINES = 300


def test_the_store_is_short_enough_to_read_in_one_sitting() -> None:
    lines = Path(redis_chat_message_store.__file__).read_text(encoding="utf-8").count("\n")
    assert lines <= MOST_LINES


def test_add_messages_queues_the_labs_rpush_and_ltrim_itself() -> None:
    source = inspect.getsource(RedisChatMessageStore.add_messages)
    assert ".rpush(" in source and ".ltrim(" in source


def test_list_messages_issues_the_labs_lrange_itself() -> None:
    assert ".lrange(" in inspect.getsource(RedisChatMessageStore.list_messages)
