"""``redis_history.archive`` and the export format: whole threads out of Redis and back in, byte for byte.

The archive runs on fakeredis (fast layer; its import is a Lua script, run by fakeredis's Lua) and on
the shared real server (server layer), through ``redis_backend``. The export lines are pure text.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lab11_persistence.console.archive_commands import markdown_transcript
from lab11_persistence.redis_history.archive import (
    IMPORT_KEPT,
    IMPORT_NOT_A_LIST,
    IMPORT_WRITTEN,
    ExportFormatError,
    ThreadDump,
    dump_all_threads,
    dump_thread,
    import_thread,
    import_threads,
    parse_export_line,
    read_export,
    thread_record,
)
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.summary import Summary
from tests.support.backends import RedisBackend
from tests.support.messages import entry_texts, lab_entry, turn_entries

SUMMARY = Summary("Ana wants Lisbon.", covers=4, in_list=0).record()


@pytest.fixture
async def history(redis_backend: RedisBackend) -> AsyncIterator[RedisHistory]:
    history = RedisHistory(redis_backend.client(), key_prefix="lab11")
    yield history
    await history.aclose()


# -- out of Redis ---------------------------------------------------------------------------------------


async def test_a_thread_leaves_with_every_entry_as_stored_its_score_and_its_summary(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    entries = [*turn_entries(0), "{not a message, kept as it is"]
    redis_backend.admin.rpush("lab11:thread_a", *entries)
    redis_backend.admin.zadd(history.index_key, {"thread_a": 1_700_000_000.5})
    redis_backend.admin.set(history.summary_key("thread_a"), SUMMARY)
    assert await dump_thread(history, "thread_a") == ThreadDump(
        "thread_a", "lab11:thread_a", entries, 1_700_000_000.5, SUMMARY
    )


async def test_a_thread_with_no_messages_is_not_exported(redis_backend: RedisBackend, history: RedisHistory) -> None:
    assert await dump_thread(history, "nothing") is None
    redis_backend.admin.set("lab11:a-string", "not a thread")
    assert [dump async for dump in dump_all_threads(history)] == []


async def test_every_thread_is_exported_page_by_page(redis_backend: RedisBackend, history: RedisHistory) -> None:
    for number in range(7):
        redis_backend.admin.rpush(f"lab11:thread_{number}", *turn_entries(number))
    dumps = [dump async for dump in dump_all_threads(history, page_size=3)]
    assert sorted(dump.thread_id for dump in dumps) == [f"thread_{number}" for number in range(7)]
    assert all(dump.last_used is None and dump.summary is None for dump in dumps)


# -- back in ----------------------------------------------------------------------------------------------


async def test_an_imported_thread_is_written_whole_with_its_score_and_summary(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    written = await import_thread(history, "thread_a", turn_entries(0), last_used=1234.5, summary=SUMMARY)
    assert written == IMPORT_WRITTEN
    assert entry_texts(redis_backend.admin.lrange("lab11:thread_a", 0, -1)) == ["u0", "a0"]
    assert redis_backend.admin.zscore(history.index_key, "thread_a") == 1234.5
    assert redis_backend.admin.get(history.summary_key("thread_a")) == SUMMARY


async def test_importing_the_same_threads_twice_changes_nothing(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    dumps = [ThreadDump(f"thread_{n}", f"lab11:thread_{n}", turn_entries(n), 100.0 + n) for n in range(3)]
    assert await import_threads(history, dumps) == [IMPORT_WRITTEN] * 3
    assert await import_threads(history, [ThreadDump("thread_0", "lab11:thread_0", turn_entries(9))]) == [IMPORT_KEPT]
    assert entry_texts(redis_backend.admin.lrange("lab11:thread_0", 0, -1)) == ["u0", "a0"]


async def test_replace_overwrites_a_thread_and_drops_its_old_summary(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    await import_thread(history, "thread_a", turn_entries(0), summary=SUMMARY)
    assert await import_thread(history, "thread_a", turn_entries(1), replace=True) == IMPORT_WRITTEN
    assert entry_texts(redis_backend.admin.lrange("lab11:thread_a", 0, -1)) == ["u1", "a1"]
    assert redis_backend.admin.exists(history.summary_key("thread_a")) == 0


async def test_a_key_that_is_not_a_list_is_never_touched(redis_backend: RedisBackend, history: RedisHistory) -> None:
    redis_backend.admin.set("lab11:thread_a", "someone else's")
    assert await import_thread(history, "thread_a", turn_entries(0), replace=True) == IMPORT_NOT_A_LIST
    assert redis_backend.admin.get("lab11:thread_a") == "someone else's"


async def test_a_thread_of_more_entries_than_one_push_takes_arrives_in_order(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    entries = [lab_entry("user", f"m{number}") for number in range(2500)]
    await import_thread(history, "long", entries)
    assert redis_backend.admin.lrange("lab11:long", 0, -1) == entries


async def test_an_export_imported_elsewhere_is_the_same_thread(
    redis_backend: RedisBackend, history: RedisHistory
) -> None:
    redis_backend.admin.rpush("lab11:thread_a", *turn_entries(0), *turn_entries(1))
    redis_backend.admin.zadd(history.index_key, {"thread_a": 1_700_000_000.25})
    redis_backend.admin.set(history.summary_key("thread_a"), SUMMARY)
    dump = await dump_thread(history, "thread_a")
    assert dump is not None
    line = thread_record(dump)
    redis_backend.admin.flushall()
    await import_threads(history, [parse_export_line(line, 1)])
    assert await dump_thread(history, "thread_a") == dump


# -- the export format --------------------------------------------------------------------------------------


def _line(**fields: object) -> str:
    record = {"key": "lab11:t", "thread_id": "t", "entries": turn_entries(0), "last_used": 1.5, **fields}
    return json.dumps(record) + "\n"


@pytest.mark.fast
def test_an_export_line_is_one_line_of_ascii_json() -> None:
    line = thread_record(ThreadDump("t", "lab11:t", [lab_entry("user", "São Paulo\nnext line")], None, None))
    assert line.endswith("\n") and line.count("\n") == 1 and line.isascii()
    assert json.loads(line) == {
        "key": "lab11:t",
        "thread_id": "t",
        "entries": [lab_entry("user", "São Paulo\nnext line")],
        "last_used": None,
        "summary": None,
    }


@pytest.mark.fast
@pytest.mark.parametrize(
    ("text", "wording"),
    [
        (_line().rstrip("\n"), "line 3 is truncated (no end of line): not a complete export."),
        ("{oops\n", "line 3 is not JSON (Expecting property name enclosed in double quotes): not a lab11 export."),
        ("[]\n", "line 3 is not a thread of a lab11 export (needs key, thread_id, entries, last_used)."),
        (_line(thread_id=""), "line 3: thread_id is not a non-empty string."),
        (_line(key="lab11:another"), "line 3: key is not a key of the thread_id (lab11:THREAD, or a scoped key)."),
        (_line(entries=[]), "line 3: entries is not a non-empty list of strings."),
        (_line(entries=[1]), "line 3: entries is not a non-empty list of strings."),
        (_line(last_used=True), "line 3: last_used is not a number or null."),
        (_line(last_used="yesterday"), "line 3: last_used is not a number or null."),
        (_line(summary=7), "line 3: summary is not a string or null."),
    ],
    ids=[
        "truncated",
        "not json",
        "not a record",
        "empty thread id",
        "key of another thread",
        "no entries",
        "an entry not a string",
        "last_used a boolean",
        "last_used text",
        "summary not text",
    ],
)
def test_a_damaged_export_line_is_refused_in_one_line_naming_it(text: str, wording: str) -> None:
    with pytest.raises(ExportFormatError) as refused:
        parse_export_line(text, 3)
    assert str(refused.value) == wording


@pytest.mark.fast
def test_an_infinite_last_used_is_refused() -> None:
    with pytest.raises(ExportFormatError, match="last_used is not a number or null"):
        parse_export_line('{"key": "lab11:t", "thread_id": "t", "entries": ["{}"], "last_used": Infinity}\n', 1)


@pytest.mark.fast
def test_an_export_file_is_read_line_by_line_skipping_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "threads.jsonl"
    path.write_text(_line() + "\n" + _line(thread_id="u", key="lab11:u", last_used=None))
    assert [(dump.thread_id, dump.last_used) for dump in read_export(path)] == [("t", 1.5), ("u", None)]


@pytest.mark.fast
def test_an_export_file_that_is_not_utf8_or_missing_is_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\n")
    with pytest.raises(ExportFormatError, match=r"binary.jsonl is not UTF-8 text \(at byte 0\): not a lab11 export."):
        list(read_export(binary))
    with pytest.raises(ExportFormatError, match=r"^Cannot read .*missing.jsonl: No such file or directory.$"):
        list(read_export(tmp_path / "missing.jsonl"))


@pytest.mark.fast
def test_a_markdown_transcript_shows_the_summary_first_and_numbers_each_message_by_its_place() -> None:
    dump = ThreadDump("t", "lab11:t", [*turn_entries(0), "{broken"], None, SUMMARY)
    assert markdown_transcript(dump).split("\n") == [
        "## lab11:t",
        "",
        "Last used: unknown",
        "",
        "*Summary of the 4 oldest messages, sent to the model in their place:* Ana wants Lisbon.",
        "",
        # the summary covers 4 messages of which none is still in the list: they were removed (issue 21)
        "*The 4 oldest messages were removed from Redis: they live on only in this summary.*",
        "",
        "5. **user**: u0",
        "6. **assistant**: a0",
        "7. *(unreadable entry: not JSON (JSONDecodeError))*",
        "",
        "",
    ]
