"""``lab11 delete`` and ``lab11 prune``: threads deleted by name, or because nobody wrote them for a while.

Both ask first, on standard input, as the menu's option 5 does (``wording.delete_question``), unless ``--yes``.
"""

from __future__ import annotations

import argparse
import time
from contextlib import aclosing
from typing import IO

from lab11_persistence.config import EXIT_OK
from lab11_persistence.console.command_line import UsageError
from lab11_persistence.console.inert_text import inert_line
from lab11_persistence.console.progress import Progress, report_unconfirmed
from lab11_persistence.console.terminal import StdinLines
from lab11_persistence.console.thread_lookup import resolve_thread
from lab11_persistence.console.wording import delete_question, local_time, said_yes
from lab11_persistence.counting import counted
from lab11_persistence.redis_history.confirmation import ReplicaConfirmationError
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.retention import count_idle_threads, prune_threads


async def cmd_delete(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    thread_ids: list[str] = []
    for argument in args.threads:  # every thread is found before any is deleted
        thread_id = await resolve_thread(history, argument)
        if thread_id not in thread_ids:
            thread_ids.append(thread_id)
    counts = {thread_id: await history.count(thread_id) for thread_id in thread_ids}
    if not args.yes:
        if len(thread_ids) == 1:
            question = delete_question(history.key(thread_ids[0]), counts[thread_ids[0]])
        else:
            listed = ", ".join(inert_line(history.key(thread_id)) for thread_id in thread_ids)
            threads, messages = counted(len(thread_ids), "thread"), counted(sum(counts.values()), "message")
            question = f"Delete {threads} ({messages}): {listed}? (y/N): "
        if not await confirmed(question, out):
            return EXIT_OK
    unconfirmed = 0
    for thread_id in thread_ids:
        try:
            await history.clear(thread_id)
        except ReplicaConfirmationError:  # deleted on the primary all the same: said, and counted below
            unconfirmed += 1
            out.write(
                f"Deleted {inert_line(history.key(thread_id))} (on the primary; not confirmed by its replicas).\n"
            )
        else:
            out.write(f"Deleted {inert_line(history.key(thread_id))}.\n")
    return _unconfirmed_deletions(history, unconfirmed)


def _unconfirmed_deletions(history: RedisHistory, unconfirmed: int) -> int:
    """The exit status after deleting: 1, with one line, if some deletion was short of LAB11_MIN_REPLICAS."""
    if not unconfirmed:
        return EXIT_OK
    return report_unconfirmed(unconfirmed, history.confirmation.min_replicas, "deleted", "they would come back")


async def confirmed(question: str, out: IO[str]) -> bool:
    """Ask ``question`` (y/N) on standard input; False after "Nothing deleted."; UsageError with no answer."""
    out.write(question)
    out.flush()
    try:
        answer = await StdinLines().read_line_async()
    except EOFError:  # no terminal, no answer
        out.write("\n")
        raise UsageError("Nothing deleted: no answer (use --yes to delete without asking).") from None
    if not said_yes(answer):
        out.write("Nothing deleted.\n")
        return False
    return True


async def cmd_prune(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    """Delete the threads of this layout last written longer than ``--older-than`` ago (the recency index says)."""
    cutoff = time.time() - args.older_than
    under, since = inert_line(history.layout.thread_key_prefix), local_time(cutoff)
    if args.rebuild_index and not args.dry_run:
        added = await history.rebuild_index()
        if added:
            out.write(f"Indexed {counted(added, 'thread')} other tools wrote, dated by how long Redis saw them idle.\n")
    total = await count_idle_threads(history, cutoff)
    if not total:
        out.write(f"No threads under '{under}' last used before {since}.\n")
        return EXIT_OK
    question = f"Delete {counted(total, 'thread')} under '{under}' last used before {since}? (y/N): "
    if not args.dry_run and not args.yes and not await confirmed(question, out):
        return EXIT_OK
    progress = Progress(total, "checked" if args.dry_run else "pruned")
    threads = messages = kept = done = unconfirmed = 0
    async with aclosing(prune_threads(history, cutoff, dry_run=args.dry_run)) as pages:
        async for page in pages:
            for pruned in page:
                if pruned.kept:
                    kept += 1
                    continue
                threads, messages = threads + 1, messages + pruned.messages
                unconfirmed += not pruned.confirmed
                if args.dry_run:
                    used = local_time(pruned.last_used)
                    out.write(
                        f"{inert_line(pruned.redis_key)}  {counted(pruned.messages, 'message')}, last used {used}\n"
                    )
            done += len(page)
            progress.update(done)
    progress.finish()
    verb = "Dry run, nothing deleted: would delete" if args.dry_run else "Deleted"
    line = (
        f"{verb} {counted(threads, 'thread')} ({counted(messages, 'message')}) under '{under}' last used before {since}"
    )
    if kept:
        line += f"; {kept:,} written since, kept"
    out.write(line + ".\n")
    return _unconfirmed_deletions(history, unconfirmed)
