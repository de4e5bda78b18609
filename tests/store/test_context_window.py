"""``redis_history.window``: what a model is sent of a long thread, and the fold that keeps the summary.

Each test runs on fakeredis (fast layer) and on the shared real server (server layer), through
``redis_backend``: the window is plain list commands, a pipeline and one WATCH transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from lab11_persistence.redis_history import window as window_module
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.message_json import message_text
from lab11_persistence.redis_history.summary import Summary, fingerprint
from lab11_persistence.redis_history.window import CATCH_UP_NOTICE, ContextWindow
from tests.support.backends import RedisBackend
from tests.support.messages import entry_texts, turn_entries, turn_texts

THREAD = "thread_w"


class Folds:
    """A summarizer whose summary is the texts it folded joined by ``|``; it records each call, can fail,
    and can be held until released."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, list[str]]] = []
        self.fail = False
        self.entered = asyncio.Event()
        self.release: asyncio.Event | None = None

    async def __call__(self, previous: str | None, messages: Sequence[dict[str, Any]]) -> str:
        texts = [message_text(message) for message in messages]
        self.calls.append((previous, texts))
        self.entered.set()
        if self.release is not None:
            await self.release.wait()
        if self.fail:
            raise RuntimeError("the summarizing model is down")
        return "|".join([*([previous] if previous else []), *texts])


@pytest.fixture
async def history(redis_backend: RedisBackend) -> AsyncIterator[RedisHistory]:
    history = RedisHistory(redis_backend.client(), key_prefix="lab11")
    yield history
    await history.aclose()


async def _turns(history: RedisHistory, numbers: range) -> None:
    for number in numbers:
        await history.append(THREAD, turn_entries(number), summarized=True)


def _stored(backend: RedisBackend, history: RedisHistory) -> list[str]:
    return entry_texts(backend.admin.lrange(history.key(THREAD), 0, -1))


def _summary(backend: RedisBackend, history: RedisHistory) -> Summary | None:
    return Summary.parse(backend.admin.get(history.summary_key(THREAD)))


# -- the fold -------------------------------------------------------------------------------------


async def test_a_fold_summarizes_everything_before_the_window_and_keeps_the_list(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    await _turns(history, range(5))
    folded = await ContextWindow(history, 4, Folds()).fold(THREAD)
    assert folded is not None
    assert (folded.text, folded.covers, folded.in_list) == ("|".join(turn_texts(range(3))), 6, 6)
    assert _summary(redis_backend, history) == folded
    assert _stored(redis_backend, history) == turn_texts(range(5))


async def test_a_thread_within_the_window_has_nothing_to_fold(history: RedisHistory) -> None:
    folds = Folds()
    await _turns(history, range(2))
    assert await ContextWindow(history, 4, folds).fold(THREAD) is None
    assert folds.calls == []


async def test_without_a_summarizer_nothing_is_folded(redis_backend: RedisBackend, history: RedisHistory) -> None:
    await _turns(history, range(5))
    assert await ContextWindow(history, 4).fold(THREAD) is None
    assert _summary(redis_backend, history) is None


async def test_the_next_fold_starts_from_the_previous_summary_and_folds_only_what_is_new(history: RedisHistory) -> None:
    folds = Folds()
    window = ContextWindow(history, 4, folds)
    await _turns(history, range(5))
    await window.fold(THREAD)
    await _turns(history, range(5, 7))
    folded = await window.fold(THREAD)
    assert folds.calls[-1] == ("|".join(turn_texts(range(3))), turn_texts(range(3, 5)))
    assert folded is not None and (folded.covers, folded.in_list) == (10, 10)


async def test_a_fold_trims_past_max_messages_only_what_the_summary_covers(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    capped = history.with_settings(key_prefix="lab11", max_messages=6)
    await _turns(capped, range(5))  # 10 entries: summarized appends leave the trimming to the fold
    assert len(_stored(redis_backend, capped)) == 10
    folded = await ContextWindow(capped, 4, Folds()).fold(THREAD)
    assert _stored(redis_backend, capped) == turn_texts(range(2, 5))
    assert folded is not None and (folded.covers, folded.in_list) == (6, 2)  # u2 and a2: covered and still listed


async def test_a_failing_summarizer_raises_and_leaves_the_thread_as_it_was(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    folds = Folds()
    folds.fail = True
    capped = history.with_settings(key_prefix="lab11", max_messages=6)
    await _turns(capped, range(5))
    with pytest.raises(RuntimeError, match="model is down"):
        await ContextWindow(capped, 4, folds).fold(THREAD)
    assert _stored(redis_backend, capped) == turn_texts(range(5))
    assert _summary(redis_backend, capped) is None


async def test_an_entry_that_is_not_a_message_is_not_summarized_and_stays(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    folds = Folds()
    redis_backend.admin.rpush(history.key(THREAD), "{not a message")
    await _turns(history, range(3))
    folded = await ContextWindow(history, 4, folds).fold(THREAD)
    assert folds.calls == [(None, ["u0", "a0"])]
    assert folded is not None and folded.covers == 3
    assert redis_backend.admin.lindex(history.key(THREAD), 0) == "{not a message"


async def test_a_head_trimmed_by_another_writer_is_found_by_the_fingerprint(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    folds = Folds()
    window = ContextWindow(history, 4, folds)
    await _turns(history, range(5))
    await window.fold(THREAD)  # covers u0..a2, the first six entries
    redis_backend.admin.ltrim(history.key(THREAD), 2, -1)  # a store without a window trims by count
    await _turns(history, range(5, 6))
    folded = await window.fold(THREAD)
    assert folds.calls[-1][1] == ["u3", "a3"]  # not u1..a2 again
    assert folded is not None and (folded.covers, folded.in_list) == (8, 6)


async def test_a_head_trimmed_past_the_summary_leaves_every_remaining_entry_uncovered(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    folds = Folds()
    window = ContextWindow(history, 4, folds)
    await _turns(history, range(5))
    await window.fold(THREAD)
    redis_backend.admin.ltrim(history.key(THREAD), 8, -1)  # u4 and a4 remain
    await _turns(history, range(5, 8))
    await window.fold(THREAD)
    assert folds.calls[-1][1] == ["u4", "a4", "u5", "a5"]


async def test_a_fold_that_loses_the_race_looks_again_from_the_winners_summary(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    """The WATCH on the summary: another process's fold lands while this one is asking the model."""
    await _turns(history, range(5))
    entries = redis_backend.admin.lrange(history.key(THREAD), 0, -1)
    folds = Folds()
    calls = 0

    async def raced(previous: str | None, messages: Sequence[dict[str, Any]]) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            winner = Summary(text="u0|a0", covers=2, in_list=2, last=fingerprint(entries[1]))
            redis_backend.admin.set(history.summary_key(THREAD), winner.record())
        return await folds(previous, messages)

    folded = await ContextWindow(history, 4, raced).fold(THREAD)
    assert folds.calls[-1] == ("u0|a0", ["u1", "a1", "u2", "a2"])
    assert folded is not None and folded.text == "|".join(turn_texts(range(3)))
    assert _summary(redis_backend, history) == folded


async def test_a_fold_that_always_loses_the_race_leaves_it_to_the_others(
    redis_backend: RedisBackend, history: RedisHistory, caplog: pytest.LogCaptureFixture
) -> None:
    await _turns(history, range(5))
    calls = 0

    async def always_beaten(previous: str | None, messages: Sequence[dict[str, Any]]) -> str:
        nonlocal calls
        calls += 1
        redis_backend.admin.set(history.summary_key(THREAD), Summary("other", calls, 0).record())
        return "mine"

    with caplog.at_level(logging.INFO, logger=window_module.__name__):
        assert await ContextWindow(history, 4, always_beaten).fold(THREAD) is None
    assert calls == window_module.FOLD_ATTEMPTS
    assert _summary(redis_backend, history) == Summary("other", calls, 0)
    assert "is being summarized by others" in caplog.text


# -- a turn's read ----------------------------------------------------------------------------------


async def test_a_read_gives_the_summary_the_newest_entries_and_the_length(history: RedisHistory) -> None:
    window = ContextWindow(history, 4, Folds())
    await _turns(history, range(5))
    before = await window.read(THREAD)
    assert (before.summary, entry_texts(before.entries), before.length) == (None, turn_texts(range(3, 5)), 10)
    assert (before.backlog, before.first_index) == (6, 6)
    await window.fold(THREAD)
    after = await window.read(THREAD)
    assert after.summary is not None and after.summary.covers == 6
    assert after.backlog == 0


async def test_a_key_that_is_not_a_list_reads_as_an_empty_thread(
    redis_backend: RedisBackend, history: RedisHistory, caplog: pytest.LogCaptureFixture
) -> None:
    redis_backend.admin.set(history.key(THREAD), "someone else's")
    read = await ContextWindow(history, 4).read(THREAD)
    assert (read.entries, read.length) == ([], 0)
    assert "is not a list" in caplog.text
    assert redis_backend.admin.get(history.key(THREAD)) == "someone else's"


async def test_a_turn_folds_the_backlog_before_it_reads(history: RedisHistory) -> None:
    await _turns(history, range(5))  # written by a store without a window: nothing folded yet
    read = await ContextWindow(history, 4, Folds()).read_for_turn(THREAD)
    assert read.summary is not None and read.summary.covers == 6
    assert read.backlog == 0


async def test_a_turn_whose_fold_fails_is_still_read_and_says_why_in_one_line(
    history: RedisHistory, caplog: pytest.LogCaptureFixture
) -> None:
    folds = Folds()
    folds.fail = True
    await _turns(history, range(5))
    read = await ContextWindow(history, 4, folds).read_for_turn(THREAD)
    assert (read.summary, read.backlog, entry_texts(read.entries)) == (None, 6, turn_texts(range(3, 5)))
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        f"Could not summarize {history.key(THREAD)} yet (the summarizing model is down); the next turn tries again"
    ]


async def test_a_long_catch_up_is_announced_with_how_many_messages_it_summarizes(
    history: RedisHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(window_module, "NOTICE_AFTER_SECONDS", 0)
    announced: list[int] = []
    folds = Folds()
    folds.release = asyncio.Event()

    def notice(backlog: int) -> None:
        announced.append(backlog)
        assert folds.release is not None
        folds.release.set()  # the summary call ends only once the notice was shown

    await _turns(history, range(5))
    token = CATCH_UP_NOTICE.set(notice)
    try:
        read = await asyncio.wait_for(ContextWindow(history, 4, folds).read_for_turn(THREAD), timeout=30)
    finally:
        CATCH_UP_NOTICE.reset(token)
    assert announced == [6]
    assert read.backlog == 0


# -- folding after a turn ------------------------------------------------------------------------------


async def test_a_thread_still_within_the_window_starts_no_background_fold(history: RedisHistory) -> None:
    folds = Folds()
    window = ContextWindow(history, 4, folds)
    await _turns(history, range(2))
    window.fold_soon(THREAD, length=4)
    await window.settle()
    assert folds.calls == []


async def test_a_background_fold_is_done_once_settled(redis_backend: RedisBackend, history: RedisHistory) -> None:
    window = ContextWindow(history, 4, Folds())
    await _turns(history, range(5))
    window.fold_soon(THREAD, length=10)
    window.fold_soon(THREAD)  # a second one waits for the first, then finds nothing new
    await window.settle(THREAD)
    summary = _summary(redis_backend, history)
    assert summary is not None and summary.covers == 6


async def test_a_background_fold_given_up_before_its_exec_changes_nothing(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    """What closing the app does to a fold still asking the model."""
    folds = Folds()
    folds.release = asyncio.Event()
    window = ContextWindow(history, 4, folds)
    await _turns(history, range(5))
    window.fold_soon(THREAD)
    await asyncio.wait_for(folds.entered.wait(), timeout=30)
    await window.settle(timeout=0)
    assert _summary(redis_backend, history) is None
    assert _stored(redis_backend, history) == turn_texts(range(5))


# -- construction -------------------------------------------------------------------------------------


@pytest.mark.fast
@pytest.mark.parametrize("size", [0, -1])
def test_a_window_of_no_messages_is_refused(size: int) -> None:
    history = RedisHistory(object(), key_prefix="lab11")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="context_messages must be a positive number"):
        ContextWindow(history, size)


@pytest.mark.fast
def test_a_window_larger_than_max_messages_is_max_messages() -> None:
    history = RedisHistory(object(), key_prefix="lab11", max_messages=6)  # type: ignore[arg-type]
    assert ContextWindow(history, 10).size == 6
    assert ContextWindow(history, 4).size == 4
