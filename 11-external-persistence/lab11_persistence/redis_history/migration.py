"""Threads from the lab's keys to Microsoft's scoped keys: the Redis work behind ``lab11 migrate``.

Each thread is read from its source (``lab11:{thread_id}``), every entry rewritten in the 1.x JSON
that Microsoft's ``agent_framework_redis.RedisHistoryProvider`` reads, and written to its target
(``lab11|v2|...|{thread_id}``) by one script: the whole list, its summary (``window``), its remaining
time to live and its recency-index entry, or nothing. A thread is therefore either migrated or not, whenever the run
stops; a target that already starts with the thread's converted entries counts as migrated, so a
second run skips what the first finished and changes nothing.

The source is deleted (``delete_source``) only after its target is complete, by a second script on
the source's own hash slot (on a cluster the target is in another one) that first checks the thread
is still exactly what was copied: a turn saved meanwhile keeps the source. Threads are read and
written a page at a time, each page in a few pipelined round trips, so memory stays flat at any
number of threads. Everything goes through ``RedisHistory.call`` (its failover and error policy).
Nothing here imports the Agent Framework.

A sealed thread (``LAB11_ENCRYPTION_KEYS``) is migrated only with ``decrypt``: its entries and summary are
opened and written to the target in plaintext, because Microsoft's provider cannot open an envelope;
without it the thread is not migrated (``sealed_threads`` finds such threads first, so that a command
can refuse before writing anything).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.message_json import decode_entry, encode_entry, v1_message_dict
from lab11_persistence.redis_history.sealing import is_sealed
from lab11_persistence.redis_history.summary import Summary, fingerprint
from lab11_persistence.redis_history.thread_scripts import PUSH_ENTRIES_FROM_ARGV_5

__all__ = [
    "ALREADY",
    "CONFLICT",
    "GONE",
    "MIGRATED",
    "NOT_A_LIST",
    "UNCONFIRMED",
    "UNREADABLE",
    "Migration",
    "convert_entries",
    "migrate_all",
    "migrate_threads",
    "sealed_threads",
]

MIGRATED = "migrated"  # written to the target (dry run: would be)
ALREADY = "already"  # the target already starts with this thread's converted entries
CONFLICT = "conflict"  # the target holds other messages: both left alone
NOT_A_LIST = "not-a-list"  # the target key holds something else: left alone
UNREADABLE = "unreadable"  # an entry is not a message: nothing written
GONE = "gone"  # the source no longer holds messages
UNCONFIRMED = "unconfirmed"  # written, but fewer replicas than the target's min_replicas confirmed it: source kept
PAGE_SIZE = 500

# KEYS[1] the target, KEYS[2] its summary (same slot), KEYS[3] its recency index (absent on a cluster:
# another slot). ARGV[1] index score, ARGV[2] thread id, ARGV[3] milliseconds to live (0: none),
# ARGV[4] the summary record ('' for none), ARGV[5..] the entries.
# Returns 1 written, 0 already there, -1 not a list, -2 other messages there.
_WRITE_TARGET = f"""
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'none' and kind ~= 'list' then return -1 end
local count = #ARGV - 4
if kind == 'list' then
  local head = redis.call('LRANGE', KEYS[1], 0, count - 1)
  if #head < count then return -2 end
  for i = 1, count do
    if head[i] ~= ARGV[i + 4] then return -2 end
  end
else
{PUSH_ENTRIES_FROM_ARGV_5}
  if ARGV[4] ~= '' then redis.call('SET', KEYS[2], ARGV[4]) end
  if tonumber(ARGV[3]) > 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    if ARGV[4] ~= '' then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
  end
end
if KEYS[3] then redis.call('ZADD', KEYS[3], 'GT', ARGV[1], ARGV[2]) end
if kind == 'list' then return 0 end
return 1
"""
_WRITE_RESULTS = {1: MIGRATED, 0: ALREADY, -1: NOT_A_LIST, -2: CONFLICT}

# KEYS[1] a source thread, KEYS[2] its summary. Returns how long it has been idle (asked first: reading
# resets it; false where the server does not track it, as under an LFU policy), its milliseconds to
# live, its entries, then its summary record (false for none): one command per thread instead of four.
_READ_SOURCE = """
local idle = redis.pcall('OBJECT', 'IDLETIME', KEYS[1])
if type(idle) ~= 'number' then idle = false end
local ttl = redis.call('PTTL', KEYS[1])
local summary = redis.pcall('GET', KEYS[2])
if type(summary) ~= 'string' then summary = false end
return {idle, ttl, redis.call('LRANGE', KEYS[1], 0, -1), summary}
"""

# KEYS: the source thread, its side keys, then (absent on a cluster) its recency index.
# ARGV[1] how many KEYS to delete, ARGV[2] thread id, ARGV[3] the digest of the entries as copied
# (``_digest``). Returns 1 deleted, 2 already gone (a resent script), 0 kept (changed since it was copied).
_DELETE_SOURCE = """
local now = redis.call('LRANGE', KEYS[1], 0, -1)
if #now == 0 then return 2 end
local parts = {}
for i = 1, #now do parts[i] = #now[i] .. ':' .. now[i] end
if redis.sha1hex(table.concat(parts)) ~= ARGV[3] then return 0 end
local count = tonumber(ARGV[1])
redis.call('DEL', unpack(KEYS, 1, count))
if #KEYS > count then redis.call('ZREM', KEYS[count + 1], ARGV[2]) end
return 1
"""


@dataclass(frozen=True)
class Migration:
    """What became of one thread."""

    thread_id: str
    source_key: str
    target_key: str
    outcome: str
    messages: int = 0
    source_deleted: bool = False
    detail: str = ""


@dataclass(frozen=True)
class _Source:
    thread_id: str
    entries: list[str]
    score: float
    ttl_ms: int
    summary: str | None = None


def converted_summary(record: str | None, converted: Sequence[str]) -> str:
    """The source's summary record for the target: its fingerprint taken of the converted entry it ends at.

    '' when the source has none, or none that can be read (the target then gets none, and its first
    turn summarizes what falls out of the window again).
    """
    summary = Summary.parse(record)
    if summary is None:
        return ""
    if 0 < summary.in_list <= len(converted):
        summary = replace(summary, last=fingerprint(converted[summary.in_list - 1]))
    return summary.record()


def convert_entries(entries: Sequence[str]) -> list[str]:
    """Every entry in the 1.x JSON Microsoft's 1.x provider reads; ValueError naming the first that is not a message."""
    converted = []
    for number, raw in enumerate(entries, start=1):
        try:
            converted.append(encode_entry(v1_message_dict(decode_entry(raw))))
        except ValueError as error:
            raise ValueError(f"entry {number} is not a message ({error})") from None
    return converted


async def migrate_threads(
    source: RedisHistory,
    target: RedisHistory,
    thread_ids: Sequence[str],
    *,
    delete_source: bool = False,
    dry_run: bool = False,
    decrypt: bool = False,
) -> list[Migration]:
    """Migrate these threads (one page: a few round trips for all of them); one ``Migration`` each, in order.

    ``source`` and ``target`` are two layouts on the same server (``RedisHistory.with_settings``).
    ``dry_run`` reads and converts, and says what would happen, but writes nothing. ``decrypt``: sealed
    entries are opened (with the source's keys) and migrated in plaintext; without it a sealed thread is
    not migrated.
    """
    read = await source.call(lambda: _read_sources(source, thread_ids))
    results: dict[str, Migration] = {}
    pending: dict[str, tuple[_Source, list[str]]] = {}
    for thread_id in thread_ids:
        found = read.get(thread_id)
        base = Migration(thread_id, source.key(thread_id), target.key(thread_id), GONE)
        if found is None:
            results[thread_id] = base
            continue
        try:
            opened = _opened(source, found, decrypt)
            # its summary opened (the target's is written from it); its entries as stored (the deletion checks them)
            pending[thread_id] = (replace(opened, entries=found.entries), convert_entries(opened.entries))
        except ValueError as error:
            results[thread_id] = replace(base, outcome=UNREADABLE, detail=str(error))
    if pending:
        check = _check_targets if dry_run else _write_targets
        outcomes = await target.call(lambda: check(target, pending))
        for thread_id, outcome in outcomes.items():
            count = len(pending[thread_id][0].entries)
            results[thread_id] = Migration(
                thread_id, source.key(thread_id), target.key(thread_id), outcome, messages=count
            )
    if delete_source and not dry_run:
        done = [pending[result.thread_id][0] for result in results.values() if result.outcome in (MIGRATED, ALREADY)]
        if done:
            deleted = await source.call(lambda: _delete_sources(source, done))
            for thread_id in deleted:
                results[thread_id] = replace(results[thread_id], source_deleted=True)
    return [results[thread_id] for thread_id in thread_ids]


async def migrate_all(
    source: RedisHistory,
    target: RedisHistory,
    *,
    delete_source: bool = False,
    dry_run: bool = False,
    decrypt: bool = False,
    page_size: int = PAGE_SIZE,
) -> AsyncIterator[list[Migration]]:
    """Every thread of ``source`` (found by SCAN), a page at a time; yields each page's results.

    SCAN may report a thread twice when the keyspace changes meanwhile (the second time it is
    already migrated, or gone); it never misses one that exists throughout.
    """
    options = {"delete_source": delete_source, "dry_run": dry_run, "decrypt": decrypt}
    page: list[str] = []
    async for key in source.scan_thread_keys():
        page.append(source.thread_id_of(key))
        if len(page) >= page_size:
            yield await migrate_threads(source, target, list(dict.fromkeys(page)), **options)
            page = []
    if page:
        yield await migrate_threads(source, target, list(dict.fromkeys(page)), **options)


def _opened(history: RedisHistory, found: _Source, decrypt: bool) -> _Source:
    """The source's entries and summary opened (``decrypt``); ValueError for a sealed thread without it, or
    an entry that does not open. MissingKeyError when the keyring lacks a key id the thread names."""
    key = history.key(found.thread_id)
    if not decrypt:
        if any(map(is_sealed, found.entries)) or is_sealed(found.summary):
            raise ValueError("it is sealed (LAB11_ENCRYPTION_KEYS): migrate it with --decrypt")
        return found
    entries = []
    for number, entry in enumerate(found.entries, start=1):
        opened = history.codec.open_or_none(entry, key)
        if opened is None:
            raise ValueError(f"entry {number} is sealed and does not open (altered, or moved from another thread)")
        entries.append(opened)
    summary = history.codec.open_or_none(found.summary, key) if found.summary else None
    return replace(found, entries=entries, summary=summary)


async def sealed_threads(history: RedisHistory, thread_ids: Sequence[str]) -> list[str]:
    """Which of these threads hold a sealed entry or summary (one pipeline): those migrate needs --decrypt for."""
    sealed = []
    for thread_id, (entries, summary) in zip(thread_ids, await history.entries_and_summaries(thread_ids), strict=True):
        entries = entries if isinstance(entries, list) else []
        if any(map(is_sealed, entries)) or is_sealed(summary):
            sealed.append(thread_id)
    return sealed


def _digest(entries: Sequence[str]) -> str:
    """What ``_DELETE_SOURCE`` computes from the list: SHA-1 of each entry's byte length, ``:``, the entry."""
    digest = hashlib.sha1(usedforsecurity=False)
    for entry in entries:
        data = entry.encode("utf-8")
        digest.update(b"%d:%s" % (len(data), data))
    return digest.hexdigest()


async def _read_sources(history: RedisHistory, thread_ids: Sequence[str]) -> dict[str, _Source]:
    """Entries, index score and time to live of each thread that holds messages (one pipeline).

    How long a thread has been idle dates a thread that has no index entry (one another tool wrote).
    """
    pipe = history.client.pipeline(transaction=False)
    for thread_id in thread_ids:
        pipe.eval(_READ_SOURCE, 2, history.key(thread_id), history.summary_key(thread_id))
        pipe.zscore(history.index_key, thread_id)
    replies = await history.replies(pipe)
    now = time.time()
    found = {}
    for position, thread_id in enumerate(thread_ids):
        read, score = replies[2 * position : 2 * position + 2]
        if isinstance(read, Exception) or not read[2]:  # gone, or not a list
            continue
        idle, ttl, entries, summary = read
        if not isinstance(score, (int, float)):
            score = now - (float(idle) if isinstance(idle, (int, float)) else 0.0)
        ttl_ms = int(ttl) if isinstance(ttl, int) and ttl > 0 else 0
        summary = summary if isinstance(summary, str) else None
        found[thread_id] = _Source(thread_id, list(entries), float(score), ttl_ms, summary)
    return found


async def _write_targets(history: RedisHistory, pending: dict[str, tuple[_Source, list[str]]]) -> dict[str, str]:
    """One script per thread, pipelined; on a cluster the index entries follow, in another slot. With the
    target's ``min_replicas``, confirmed as a turn is: a thread written but not confirmed is ``UNCONFIRMED``."""

    def write(pipe: Any, thread_id: str) -> None:
        found, converted = pending[thread_id]
        keys = [history.key(thread_id), history.summary_key(thread_id)] + (
            [] if history.cluster else [history.index_key]
        )
        summary = converted_summary(found.summary, converted)
        pipe.eval(_WRITE_TARGET, len(keys), *keys, repr(found.score), thread_id, found.ttl_ms, summary, *converted)

    writes = [
        (history.key(thread_id), lambda pipe, thread_id=thread_id: write(pipe, thread_id)) for thread_id in pending
    ]
    outcomes = {}
    for thread_id, (reply, confirmed) in zip(pending, await history.write_each(writes), strict=True):
        outcome = _WRITE_RESULTS[int(reply)]
        outcomes[thread_id] = UNCONFIRMED if outcome == MIGRATED and not confirmed else outcome
    indexed = {
        thread_id: pending[thread_id][0].score
        for thread_id, outcome in outcomes.items()
        if outcome in (MIGRATED, ALREADY, UNCONFIRMED)
    }
    if history.cluster and indexed:
        await history.client.zadd(history.index_key, indexed, gt=True)
    return outcomes


async def _check_targets(history: RedisHistory, pending: dict[str, tuple[_Source, list[str]]]) -> dict[str, str]:
    """What ``_write_targets`` would answer, by reading only."""
    pipe = history.client.pipeline(transaction=False)
    for thread_id, (_, converted) in pending.items():
        pipe.type(history.key(thread_id))
        pipe.lrange(history.key(thread_id), 0, len(converted) - 1)
    replies = await history.replies(pipe)
    outcomes = {}
    for position, (thread_id, (_, converted)) in enumerate(pending.items()):
        kind, head = replies[2 * position], replies[2 * position + 1]
        if kind == "none":
            outcomes[thread_id] = MIGRATED
        elif kind != "list" or isinstance(head, Exception):
            outcomes[thread_id] = NOT_A_LIST
        else:
            outcomes[thread_id] = ALREADY if list(head) == converted else CONFLICT
    return outcomes


async def _delete_sources(history: RedisHistory, threads: Sequence[_Source]) -> list[str]:
    """Delete each thread that is still exactly as copied (one script each, pipelined); the ids deleted."""
    pipe = history.client.pipeline(transaction=False)
    for found in threads:
        keys = history.thread_keys(found.thread_id)
        index = [] if history.cluster else [history.index_key]
        pipe.eval(
            _DELETE_SOURCE, len(keys) + len(index), *keys, *index, len(keys), found.thread_id, _digest(found.entries)
        )
    replies: list[Any] = await pipe.execute()
    deleted = [found.thread_id for found, reply in zip(threads, replies, strict=True) if int(reply) in (1, 2)]
    if history.cluster and deleted:
        await history.client.zrem(history.index_key, *deleted)
    return deleted
