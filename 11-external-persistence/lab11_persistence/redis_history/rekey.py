"""``lab11 rekey``: threads rewritten under the first key of ``LAB11_ENCRYPTION_KEYS``, so an old key can go.

A thread needs a rekey when one of its entries, or its summary record, is plaintext or sealed under
another key than the first (``Keyring.needs_rekey``). Such an entry is opened and sealed again under
the first key, bound to the same thread; an entry that does not open (corrupt, or moved from another
thread) is left exactly as it is, never deleted.

Each thread is rewritten whole or not at all: one optimistic transaction (WATCH on the thread's list,
its summary and its write token, then LSET of each changed entry and SET of the summary, keeping their
expiry, in MULTI/EXEC). A turn written meanwhile changes a watched key, so the rewrite is refused and
done again over the thread as it now is: that turn is kept, sealed or not. Under ``min_replicas`` the
EXEC is followed by WAIT on the same held connection (``watched_transaction``), and a rewrite fewer
replicas confirmed in time is reported (``Rekey.confirmed``): a failover could bring back the entries
as they were, so the old key must stay until a rekey is confirmed. Run again, such a thread is found
already done, with nothing to write and so no WAIT: it counts as confirmed once enough replicas of its
primary hold everything that primary has accepted (``confirmation.replicas_caught_up``). A crash, a kill or Ctrl-C
before EXEC changes nothing; a thread already under the first key is read and left alone, so running
it again goes on where it stopped, and a second run finds nothing to do.

Threads are found by paging the recency index (never KEYS), by score: a thread written during the
rekey moves to the end of the index and may be visited twice, which is harmless; none is missed.
Each page is read in one pipeline, and only threads that need it are rewritten, so only one page
of thread ids and one thread's entries are held at a time. Nothing here imports the Agent Framework.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lab11_persistence.redis_history.connection import RETRIES
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.watched_transaction import WatchedTransaction

__all__ = ["CURRENT", "GONE", "REKEYED", "WOULD_REKEY", "Rekey", "rekey_all", "rekey_threads"]

PAGE_SIZE = 500
#: WATCH conflicts in a row (a turn landed each time) before the thread is left for the next run.
ATTEMPTS = 20
REKEYED, WOULD_REKEY, CURRENT, GONE, BUSY = "rekeyed", "would be rekeyed", "current", "gone", "busy"


@dataclass(frozen=True)
class Rekey:
    """What became of one thread: ``outcome``, how many entries (the summary counted as one) were rewritten
    (or would be), and how many needed it but do not open (left as they are). A rewrite under ``min_replicas``
    is ``confirmed`` once that many replicas hold it (``replicas``: how many did in time)."""

    thread_id: str
    outcome: str
    rewritten: int = 0
    unreadable: int = 0
    confirmed: bool = True
    replicas: int = 0


def _stale(history: RedisHistory, entries: Sequence[Any], summary: Any) -> dict[int | None, str]:
    """What needs a rekey, as stored: the entries by their index in the list, the summary record under None."""
    keyring = history.codec.keyring
    stale: dict[int | None, str] = {
        index: entry for index, entry in enumerate(entries) if isinstance(entry, str) and keyring.needs_rekey(entry)
    }
    if isinstance(summary, str) and keyring.needs_rekey(summary):
        stale[None] = summary
    return stale


async def rekey_threads(history: RedisHistory, thread_ids: Sequence[str], *, dry_run: bool = False) -> list[Rekey]:
    """Rekey these threads (their entries and summary read in one pipeline first); one ``Rekey`` each, in order.

    A ``MissingKeyError`` (an entry under a key id the keyring lacks) propagates: the threads before it are
    done, whole; the one it names, and those after it, are untouched.
    """
    if not history.codec.seals:
        raise ValueError("rekey needs LAB11_ENCRYPTION_KEYS: the first key is the one threads are sealed under.")
    results = []
    for thread_id, (entries, summary) in zip(thread_ids, await history.entries_and_summaries(thread_ids), strict=True):
        if isinstance(entries, Exception) or not entries:
            results.append(Rekey(thread_id, GONE))
        elif not _stale(history, entries, summary):
            results.append(Rekey(thread_id, CURRENT))
        else:
            results.append(await _rekey_one(history, thread_id, dry_run))
    if history.confirmation and not dry_run:
        results = await _confirm_current(history, results)
    return results


async def _confirm_current(history: RedisHistory, results: list[Rekey]) -> list[Rekey]:
    """Threads found already under the first key may be an earlier run's unconfirmed rewrites (there is nothing
    to write, so no WAIT): confirmed when enough replicas of their primary hold everything it has accepted."""
    keys = {result.thread_id: history.key(result.thread_id) for result in results if result.outcome == CURRENT}
    if not keys:
        return results
    caught_up = await history.call(lambda: history.confirmed.caught_up(list(keys.values())))
    required = history.confirmation.min_replicas
    return [
        replace(result, confirmed=caught_up[key] >= required, replicas=caught_up[key])
        if (key := keys.get(result.thread_id))
        else result
        for result in results
    ]


async def _rekey_one(history: RedisHistory, thread_id: str, dry_run: bool) -> Rekey:
    committed_unheard = False  # an attempt sent its EXEC and lost the connection before the replies came

    async def once() -> Rekey:
        nonlocal committed_unheard
        try:
            result = await history.confirmed.watched(
                history.key(thread_id), lambda transaction: _rekey_once(history, transaction, thread_id, dry_run)
            )
        except _LostCommit as lost:
            committed_unheard = True
            raise lost.error from None
        if committed_unheard and result.outcome == CURRENT:  # that EXEC ran; its WAIT's answer was lost with it
            return Rekey(thread_id, REKEYED, result.rewritten, result.unreadable, confirmed=not history.confirmation)
        return result

    for _ in range(ATTEMPTS):
        try:
            return await history.call(once, tries_of_our_own=RETRIES)  # redis-py's retries are not on this connection
        except WatchError:
            continue  # a turn (or another rekey) landed meanwhile: look again at the thread as it now is
    return Rekey(thread_id, BUSY)


class _LostCommit(Exception):
    """The connection went after the rewrite was sent: it may have run (``error`` is the connection's)."""

    def __init__(self, error: Exception) -> None:
        self.error = error


async def _rekey_once(history: RedisHistory, transaction: WatchedTransaction, thread_id: str, dry_run: bool) -> Rekey:
    codec = history.codec
    key, summary_key = history.key(thread_id), history.summary_key(thread_id)
    await transaction.watch(key, summary_key, history.write_token_key(thread_id))  # one hash slot
    try:
        entries = await transaction.read("LRANGE", key, 0, -1)
    except ResponseError as error:  # no longer a list since the page was read: not a thread to touch
        if not str(error).startswith("WRONGTYPE"):
            raise
        return Rekey(thread_id, GONE)
    if not entries:
        return Rekey(thread_id, GONE)
    summary = await transaction.read("GET", summary_key)
    stale = _stale(history, entries, summary)
    opened = {where: codec.open_or_none(entry, key) for where, entry in stale.items()}  # MissingKeyError propagates
    resealed = {where: codec.seal_one(text, key) for where, text in opened.items() if text is not None}
    rewritten, unreadable = len(resealed), len(stale) - len(resealed)  # what does not open stays as it is
    if not rewritten:
        return Rekey(thread_id, CURRENT, 0, unreadable)
    if dry_run:
        return Rekey(thread_id, WOULD_REKEY, rewritten, unreadable)
    commands = [
        ("SET", summary_key, entry, "KEEPTTL") if where is None else ("LSET", key, where, entry)
        for where, entry in resealed.items()
    ]
    try:
        done = await transaction.commit(commands)
    except (RedisConnectionError, RedisTimeoutError, OSError) as error:
        raise _LostCommit(error) from None
    return Rekey(thread_id, REKEYED, rewritten, unreadable, confirmed=done.confirmed, replicas=done.replicas)


async def index_pages(history: RedisHistory, page_size: int = PAGE_SIZE) -> AsyncIterator[list[str]]:
    """The recency index's thread ids, oldest write first, a page at a time, by score (see the module)."""
    after: tuple[float, str] | None = None
    fetch = page_size
    while True:
        low = after[0] if after else "-inf"
        reply = await history.call(
            lambda low=low, fetch=fetch: history.client.zrangebyscore(  # ZRANGEBYSCORE: in the least-privilege ACL
                history.index_key, low, "+inf", start=0, num=fetch, withscores=True
            )
        )
        fresh = [(member, float(score)) for member, score in reply if after is None or (float(score), member) > after]
        if not fresh:
            if len(reply) < fetch:
                return
            fetch *= 2  # a page's worth of threads written at the same instant: look further
            continue
        yield [member for member, _ in fresh]
        if len(reply) < fetch:
            return
        after, fetch = (fresh[-1][1], fresh[-1][0]), page_size


async def rekey_all(
    history: RedisHistory, *, dry_run: bool = False, page_size: int = PAGE_SIZE
) -> AsyncIterator[list[Rekey]]:
    """Every thread in the recency index, a page at a time; yields each page's results."""
    async for page in index_pages(history, page_size):
        yield await rekey_threads(history, page, dry_run=dry_run)
