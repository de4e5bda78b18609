"""Whole threads out of Redis and back in: the export and import behind ``lab11 export`` and ``lab11 import``.

A thread leaves as it is stored (every entry byte for byte, a corrupt one included) with its score in
the recency index and its summary record (``summary``), and comes back the same way, each thread as one
atomic unit. Everything goes through ``RedisHistory``'s public surface: its keys, its client and its
failure policy (``RedisHistory.call``), so a failover or a refused password means here what it means
for a turn. Nothing here imports the Agent Framework.

The export format (JSON Lines, one thread per line, ASCII only) is written and read here too::

    {"key": "lab11:thread_…", "thread_id": "thread_…", "entries": ["<entry as stored>", …], "last_used": 1717.0,
     "summary": "<summary record as stored>"}

``entries`` are the stored strings exactly, a corrupt one included; ``last_used`` is the thread's
score in the recency index (seconds since the epoch), or null when it has none; ``summary`` is the
thread's summary record (``redis_history.summary``), or null (exports made before it have no such
field). A file is read whole and checked before anything is written (``read_export``): a bad line
(not JSON, truncated, the wrong shape) is an ``ExportFormatError`` naming the line.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.keys import key_names_thread
from lab11_persistence.redis_history.thread_scripts import PUSH_ENTRIES_FROM_ARGV_5

__all__ = [
    "EXPORT_FIELDS",
    "IMPORT_KEPT",
    "IMPORT_NOT_A_LIST",
    "IMPORT_UNCONFIRMED",
    "IMPORT_WRITTEN",
    "ExportFormatError",
    "ThreadDump",
    "check_keys",
    "dump_all_threads",
    "dump_thread",
    "import_thread",
    "import_threads",
    "opened_dump",
    "parse_export_line",
    "read_export",
    "thread_record",
]


@dataclass(frozen=True)
class ThreadDump:
    """One thread as stored: its entries exactly as they are, its score in the recency index, and its
    summary record as stored (None when it has none)."""

    thread_id: str
    redis_key: str
    entries: list[str]
    last_used: float | None = None
    summary: str | None = None


#: The fields every line of an export has (``summary`` came later: an older export has none).
EXPORT_FIELDS = ("key", "thread_id", "entries", "last_used")


class ExportFormatError(ValueError):
    """A file, or a line of it, that is not a lab11 export; the message says which line and why."""


# Writes an imported thread atomically (a script runs as one unit, like MULTI/EXEC, but can decide on
# what it reads): left alone when it already holds messages (unless replacing) or is not a list.
# KEYS[1] the thread, KEYS[2] its summary (same slot), KEYS[3] the index (absent on a cluster, where it
# lives in another slot); ARGV: replace flag, score, thread id, summary record ('' for none), then the
# entries. Returns 1 written, 0 kept, -1 not a list.
_IMPORT_SCRIPT = f"""
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'none' and kind ~= 'list' then return -1 end
if kind == 'list' and ARGV[1] ~= '1' and redis.call('LLEN', KEYS[1]) > 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
{PUSH_ENTRIES_FROM_ARGV_5}
if ARGV[4] ~= '' then redis.call('SET', KEYS[2], ARGV[4]) end
if KEYS[3] then redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3]) end
return 1
"""
IMPORT_WRITTEN, IMPORT_KEPT, IMPORT_NOT_A_LIST = 1, 0, -1
IMPORT_UNCONFIRMED = 2  # written on the primary, but fewer replicas than the history's min_replicas confirmed it


def _last_used(score: Any) -> float | None:
    """An index score as read in a pipeline (an error or None when the thread has none)."""
    return float(score) if isinstance(score, (int, float)) else None


# -- export -----------------------------------------------------------------------------------


async def dump_thread(history: RedisHistory, thread_id: str) -> ThreadDump | None:
    """The thread's entries as stored and its index score; None when it holds no messages."""
    dumps = await history.call(lambda: _dump_page(history, [history.key(thread_id)]))
    return dumps[0] if dumps else None


async def dump_all_threads(history: RedisHistory, page_size: int = 500) -> AsyncIterator[ThreadDump]:
    """Every thread under the prefix, read ``page_size`` at a time (SCAN, then one pipeline per page).

    Only one page is held at a time, so it streams any number of threads. SCAN may report a key
    twice when the keyspace grows meanwhile; it never misses one that exists throughout.
    """
    page: list[str] = []
    async for key in history.scan_thread_keys():
        page.append(key)
        if len(page) >= page_size:
            for dump in await history.call(lambda keys=page: _dump_page(history, keys)):
                yield dump
            page = []
    if page:
        for dump in await history.call(lambda: _dump_page(history, page)):
            yield dump


async def _dump_page(history: RedisHistory, keys: Sequence[str]) -> list[ThreadDump]:
    pipe = history.client.pipeline(transaction=False)
    for key in keys:
        thread_id = history.thread_id_of(key)
        pipe.lrange(key, 0, -1)
        pipe.zscore(history.index_key, thread_id)
        pipe.get(history.summary_key(thread_id))
    replies = await history.replies(pipe)
    dumps = []
    for position, key in enumerate(keys):
        entries, score, summary = replies[3 * position : 3 * position + 3]
        if isinstance(entries, Exception) or not entries:  # deleted, or no longer a list, since SCAN saw it
            continue
        summary = summary if isinstance(summary, str) else None
        dumps.append(ThreadDump(history.thread_id_of(key), key, list(entries), _last_used(score), summary))
    return dumps


def opened_dump(history: RedisHistory, dump: ThreadDump) -> ThreadDump:
    """The thread with its sealed entries and summary opened (``export --decrypt``, a Markdown transcript); an
    entry that does not open is kept as stored. MissingKeyError when the keyring lacks a key id it names."""
    entries = [history.codec.open_or_none(entry, dump.redis_key) or entry for entry in dump.entries]
    summary = dump.summary and (history.codec.open_or_none(dump.summary, dump.redis_key) or dump.summary)
    return replace(dump, entries=entries, summary=summary)


def check_keys(history: RedisHistory, dump: ThreadDump) -> None:
    """MissingKeyError if importing the thread would need a key the history's keyring lacks (a thread exported
    from another key is opened to be sealed again): an import checks every thread before writing any."""
    entries = [*dump.entries, *([dump.summary] if dump.summary else [])]
    history.codec.check_reseal(entries, dump.redis_key, history.key(dump.thread_id))


def _resealed(history: RedisHistory, dump: ThreadDump) -> ThreadDump:
    """The thread as the history stores it: sealed for its key here (``EntryCodec.reseal``)."""
    target = history.key(dump.thread_id)
    entries = [history.codec.reseal(entry, dump.redis_key, target) for entry in dump.entries]
    summary = dump.summary and history.codec.reseal(dump.summary, dump.redis_key, target)
    return replace(dump, redis_key=target, entries=entries, summary=summary)


def thread_record(dump: ThreadDump) -> str:
    """One line of an export: the thread as a JSON object, ASCII only, with its newline."""
    record = {
        "key": dump.redis_key,
        "thread_id": dump.thread_id,
        "entries": dump.entries,
        "last_used": dump.last_used,
        "summary": dump.summary,
    }
    return json.dumps(record, ensure_ascii=True) + "\n"


# -- reading an export file -------------------------------------------------------------------


def parse_export_line(text: str, number: int) -> ThreadDump:
    """One line of an export, fully checked; ExportFormatError naming the line otherwise."""
    where = f"line {number}"
    if not text.endswith("\n"):
        raise ExportFormatError(f"{where} is truncated (no end of line): not a complete export.")
    try:
        record = json.loads(text)
    except ValueError as error:
        reason = getattr(error, "msg", str(error))  # json's own "line 1 column 5" would confuse the line number
        raise ExportFormatError(f"{where} is not JSON ({reason}): not a lab11 export.") from None
    if not isinstance(record, dict) or not all(field in record for field in EXPORT_FIELDS):
        raise ExportFormatError(f"{where} is not a thread of a lab11 export (needs {', '.join(EXPORT_FIELDS)}).")
    key, thread_id, entries, last_used = (record[field] for field in EXPORT_FIELDS)
    if not isinstance(thread_id, str) or not thread_id:
        raise ExportFormatError(f"{where}: thread_id is not a non-empty string.")
    if not isinstance(key, str) or not key_names_thread(key, thread_id):
        raise ExportFormatError(f"{where}: key is not a key of the thread_id (lab11:THREAD, or a scoped key).")
    if not isinstance(entries, list) or not entries or not all(isinstance(entry, str) for entry in entries):
        raise ExportFormatError(f"{where}: entries is not a non-empty list of strings.")
    if last_used is not None and (
        isinstance(last_used, bool) or not isinstance(last_used, (int, float)) or not math.isfinite(last_used)
    ):
        raise ExportFormatError(f"{where}: last_used is not a number or null.")
    summary = record.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise ExportFormatError(f"{where}: summary is not a string or null.")
    last_used = None if last_used is None else float(last_used)
    return ThreadDump(thread_id, key, entries, last_used, summary)


def read_export(path: Path) -> Iterator[ThreadDump]:
    """Each thread of an export file, checked, one line at a time (blank lines are skipped)."""
    try:
        with path.open("r", encoding="utf-8", newline="\n") as source:
            for number, text in enumerate(source, start=1):
                if text.strip():
                    yield parse_export_line(text, number)
    except UnicodeDecodeError as error:
        raise ExportFormatError(f"{path} is not UTF-8 text (at byte {error.start}): not a lab11 export.") from None
    except OSError as error:
        raise ExportFormatError(f"Cannot read {path}: {error.strerror or error}.") from None


# -- import -----------------------------------------------------------------------------------


async def import_thread(
    history: RedisHistory,
    thread_id: str,
    entries: Sequence[str],
    *,
    replace: bool = False,
    last_used: float | None = None,
    summary: str | None = None,
) -> int:
    """Write a whole thread, its summary and its index entry atomically; see ``import_threads``."""
    dump = ThreadDump(thread_id, history.key(thread_id), list(entries), last_used, summary)
    return (await import_threads(history, [dump], replace=replace))[0]


async def import_threads(history: RedisHistory, threads: Sequence[ThreadDump], *, replace: bool = False) -> list[int]:
    """Write each thread, entries byte for byte, with its index score, each as one atomic unit.

    With ``encryption_keys`` set, a plaintext entry (an export made with ``--decrypt``) is sealed, and a
    thread exported from another key (prefix or scope) is opened and sealed again for this one.

    A thread that already holds messages is kept as it is unless ``replace`` (so importing the
    same threads twice changes nothing), and a key that is not a list is never touched. Returns,
    per thread, ``IMPORT_WRITTEN``, ``IMPORT_KEPT`` or ``IMPORT_NOT_A_LIST``. Single node: one
    round trip for the lot; cluster: one call per thread, the index alongside (another slot).
    The history's ``max_messages`` and TTL do not apply: an import restores what was exported. With the
    history's ``min_replicas``, the writes are confirmed as a turn is (``RedisHistory.write_each``), and a
    thread written but not confirmed in time is ``IMPORT_UNCONFIRMED``.
    """
    now = time.time()
    client = history.client
    threads = [_resealed(history, thread) for thread in threads]  # sealed entries opened only for another key

    def score_of(thread: ThreadDump) -> float:
        return thread.last_used if thread.last_used is not None else now

    def arguments(thread: ThreadDump) -> list[Any]:
        flag, score = "1" if replace else "0", repr(float(score_of(thread)))
        return [flag, score, thread.thread_id, thread.summary or "", *thread.entries]

    def thread_keys(thread: ThreadDump) -> list[str]:
        return [history.key(thread.thread_id), history.summary_key(thread.thread_id)]

    if history.confirmation or not history.cluster:  # a cluster without confirmation: a call per thread, below
        index_keys = [] if history.cluster else [history.index_key]

        def write(thread: ThreadDump) -> Callable[[Any], None]:
            keys = [*thread_keys(thread), *index_keys]
            return lambda pipe: pipe.eval(_IMPORT_SCRIPT, len(keys), *keys, *arguments(thread))

        writes = [(history.key(thread.thread_id), write(thread)) for thread in threads]
        done = await history.call(lambda: history.write_each(writes))
        results = [IMPORT_UNCONFIRMED if int(reply) == IMPORT_WRITTEN and not ok else int(reply) for reply, ok in done]
        if history.cluster and (written := [t for t, r in zip(threads, results, strict=True) if r > 0]):
            scores = {thread.thread_id: score_of(thread) for thread in written}
            await history.call(lambda: client.zadd(history.index_key, scores))
        return results

    results = []
    for thread in threads:
        result = int(
            await history.call(
                lambda thread=thread: client.eval(_IMPORT_SCRIPT, 2, *thread_keys(thread), *arguments(thread))
            )
        )
        if result == IMPORT_WRITTEN:
            await history.call(
                lambda thread=thread: client.zadd(history.index_key, {thread.thread_id: score_of(thread)})
            )
        results.append(result)
    return results
