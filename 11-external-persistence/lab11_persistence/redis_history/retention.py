"""Deleting threads nobody has written for a while: the Redis work behind ``lab11 prune``.

The recency index already orders every thread by its last write, so the threads to delete are one
``ZRANGEBYSCORE index -inf cutoff`` away, read a page at a time: no KEYS, no SCAN, and not one
message is read. Each thread goes by one script, with its side keys and its index entry, and only
if it is still idle: on a single server the script looks at its index score again (a turn saved
meanwhile moved it past the cutoff); on a cluster the index is in another slot, so the script looks
at the thread's write token instead, which every write of this project's store and provider leaves
for ``WRITE_TOKEN_TTL_SECONDS``, and the index entry follows, removed only while still old.

A key that is no longer a list (someone else's data) is never deleted; only its index entry goes.
Threads that only other tools wrote (they keep no index entry) are not seen: index them first
(``RedisHistory.rebuild_index``). Nothing here imports the Agent Framework.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from lab11_persistence.redis_history.history import RedisHistory

__all__ = ["Pruned", "count_idle_threads", "prune_threads"]

PAGE_SIZE = 500
KEPT = -1  # written since it was found: kept

# Single server. KEYS: the thread, its side keys, then the index. ARGV[1] cutoff, ARGV[2] thread id.
# Returns the number of messages deleted (0: the key was gone, or not a list and left alone), or -1 kept.
_PRUNE = """
local index = KEYS[#KEYS]
local score = redis.call('ZSCORE', index, ARGV[2])
if not score or tonumber(score) > tonumber(ARGV[1]) then return -1 end
local kind = redis.call('TYPE', KEYS[1]).ok
local count = 0
if kind == 'list' then
  count = redis.call('LLEN', KEYS[1])
  redis.call('DEL', unpack(KEYS, 1, #KEYS - 1))
elseif kind == 'none' then
  redis.call('DEL', unpack(KEYS, 2, #KEYS - 1))
end
redis.call('ZREM', index, ARGV[2])
return count
"""

# Cluster, the thread's slot. KEYS: the thread, its write token, its other side keys.
# Returns as above; -1 when the write token shows a write in the last few minutes.
_PRUNE_THREAD = """
if redis.call('TYPE', KEYS[2]).ok ~= 'none' then return -1 end
local kind = redis.call('TYPE', KEYS[1]).ok
local count = 0
if kind == 'list' then
  count = redis.call('LLEN', KEYS[1])
  redis.call('DEL', unpack(KEYS))
elseif kind == 'none' then
  redis.call('DEL', unpack(KEYS, 2))
end
return count
"""

# Cluster, the index's slot. KEYS[1] the index; ARGV[1] cutoff, ARGV[2..] thread ids: each removed while still old.
_FORGET_OLD = """
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) <= tonumber(ARGV[1]) then redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return 1
"""


@dataclass(frozen=True)
class Pruned:
    """One thread found idle: its messages (deleted, or that would be), or kept because it was written since."""

    thread_id: str
    redis_key: str
    last_used: float
    messages: int
    kept: bool = False
    confirmed: bool = True  # under min_replicas: whether that many replicas hold the deletion


async def count_idle_threads(history: RedisHistory, cutoff: float) -> int:
    """How many threads were last written at or before ``cutoff`` (seconds since the epoch): one ZCOUNT."""
    return int(await history.call(lambda: history.client.zcount(history.index_key, "-inf", repr(float(cutoff)))))


async def prune_threads(
    history: RedisHistory, cutoff: float, *, dry_run: bool = False, page_size: int = PAGE_SIZE
) -> AsyncIterator[list[Pruned]]:
    """Delete every thread last written at or before ``cutoff``; yields each page's threads as handled.

    ``dry_run`` deletes nothing and reports each thread's message count instead.
    """
    offset = 0  # the idle threads still in the index ahead of the next page (kept ones, or all in a dry run)
    while True:
        page: list[tuple[str, float]] = await history.call(
            lambda start=offset: history.client.zrangebyscore(
                history.index_key, "-inf", repr(float(cutoff)), start=start, num=page_size, withscores=True
            )
        )
        if not page:
            return
        if dry_run:
            results = await history.call(lambda page=page: _count_messages(history, page))
            offset += len(page)
        else:
            results = await history.call(lambda page=page: _prune_page(history, page, cutoff))
            offset += sum(1 for result in results if result.kept and history.cluster)
        yield results
        if len(page) < page_size:
            return


async def _count_messages(history: RedisHistory, page: list[tuple[str, float]]) -> list[Pruned]:
    pipe = history.client.pipeline(transaction=False)
    for thread_id, _ in page:
        pipe.llen(history.key(thread_id))
    replies = await history.replies(pipe)
    return [
        Pruned(thread_id, history.key(thread_id), score, reply if isinstance(reply, int) else 0)
        for (thread_id, score), reply in zip(page, replies, strict=True)
    ]


async def _prune_page(history: RedisHistory, page: list[tuple[str, float]], cutoff: float) -> list[Pruned]:
    """One script per thread, pipelined; on a cluster the index entries follow, in their own slot. With the
    history's ``min_replicas``, each primary's WAIT follows its scripts (``RedisHistory.write_each``)."""

    def prune(pipe: Any, thread_id: str) -> None:
        token = history.write_token_key(thread_id)
        keys = [history.key(thread_id), token, *(key for key in history.thread_keys(thread_id)[1:] if key != token)]
        if history.cluster:
            pipe.eval(_PRUNE_THREAD, len(keys), *keys)
        else:
            pipe.eval(_PRUNE, len(keys) + 1, *keys, history.index_key, repr(float(cutoff)), thread_id)

    writes = [
        (history.key(thread_id), lambda pipe, thread_id=thread_id: prune(pipe, thread_id)) for thread_id, _ in page
    ]
    replies_and_confirmed = await history.write_each(writes)
    results = [
        Pruned(thread_id, history.key(thread_id), score, max(int(reply), 0), int(reply) == KEPT, confirmed)
        for (thread_id, score), (reply, confirmed) in zip(page, replies_and_confirmed, strict=True)
    ]
    gone = [result.thread_id for result in results if not result.kept]
    if history.cluster and gone:
        await history.client.eval(_FORGET_OLD, 1, history.index_key, repr(float(cutoff)), *gone)
    return results
