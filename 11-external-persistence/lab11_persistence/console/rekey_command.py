"""``lab11 rekey``: threads rewritten under the first key of ``LAB11_ENCRYPTION_KEYS`` (the work itself is
``redis_history.rekey``: each thread whole or not at all, a turn written meanwhile kept, safe to stop and run again)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import IO

from lab11_persistence.config import EXIT_OK, EXIT_SETUP
from lab11_persistence.console.command_line import UsageError
from lab11_persistence.console.inert_text import inert_line
from lab11_persistence.console.progress import Progress, report_unconfirmed, walk_pages
from lab11_persistence.console.thread_lookup import resolve_thread
from lab11_persistence.counting import counted
from lab11_persistence.encryption_setting import SETTING
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.rekey import (
    BUSY,
    CURRENT,
    GONE,
    PAGE_SIZE,
    REKEYED,
    WOULD_REKEY,
    Rekey,
    rekey_all,
    rekey_threads,
)


def _entries(number: int) -> str:
    """``1 entry``, ``2 entries``: a thread's messages and its summary record, counted alike."""
    return f"{number:,} entr{'y' if number == 1 else 'ies'}"


def rekey_line(result: Rekey) -> str:
    words = {REKEYED: "rekeyed", WOULD_REKEY: "would be rekeyed", CURRENT: "already under the first key"}.get(
        result.outcome, "no longer there" if result.outcome == GONE else "left for the next run (busy: run again)"
    )
    if result.rewritten:
        words += f" ({_entries(result.rewritten)})"
    if result.unreadable:
        words += f"; {_entries(result.unreadable)} that do not open left as they are"
    if not result.confirmed:
        words += f"; confirmed by {result.replicas} replica{'s' if result.replicas != 1 else ''} only"
    return f"{inert_line(result.thread_id)}: {words}"


async def cmd_rekey(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    """Rewrite THREAD... (or ``--all``, paging the recency index) under the first key; ``--dry-run`` counts."""
    if args.all == bool(args.threads):
        raise UsageError("rekey needs THREAD... or --all (not both).")
    if not history.codec.seals:
        raise UsageError(f"rekey seals threads under the first key of {SETTING}, which is not set.")
    thread_ids = list(dict.fromkeys([await resolve_thread(history, argument) for argument in args.threads]))

    async def explicit_pages() -> AsyncIterator[list[Rekey]]:
        for start in range(0, len(thread_ids), PAGE_SIZE):
            yield await rekey_threads(history, thread_ids[start : start + PAGE_SIZE], dry_run=args.dry_run)

    progress = Progress(None if args.all else len(thread_ids), "checked")
    counts = dict.fromkeys((REKEYED, WOULD_REKEY, CURRENT, GONE, BUSY, "entries", "unreadable", "unconfirmed"), 0)

    def tally(result: Rekey) -> None:
        counts[result.outcome] += 1
        counts["entries"] += result.rewritten
        counts["unreadable"] += result.unreadable
        counts["unconfirmed"] += not result.confirmed
        if not args.all or result.outcome == BUSY or not result.confirmed:
            out.write(rekey_line(result) + "\n")

    pages = rekey_all(history, dry_run=args.dry_run) if args.all else explicit_pages()
    await walk_pages(pages, progress, "rekeyed", tally)
    out.write(rekey_summary(counts, history.codec.keyring.sealing_key_id or "", args.dry_run) + "\n")
    if counts["unconfirmed"]:  # a failover could bring back the entries as they were: the old key must stay
        return report_unconfirmed(
            counts["unconfirmed"],
            history.confirmation.min_replicas,
            "rekeyed",
            "their entries would be back as they were (plaintext, or under the old key)",
            advice="Keep the old key, and run the rekey again once they catch up.",
        )
    return EXIT_SETUP if counts[BUSY] else EXIT_OK


def rekey_summary(counts: dict[str, int], key_id: str, dry_run: bool) -> str:
    changed = counts[WOULD_REKEY] if dry_run else counts[REKEYED]
    verb = "would be rekeyed" if dry_run else "rekeyed"
    line = ("Dry run, nothing written: " if dry_run else "") + (
        f"{counted(changed, 'thread')} ({_entries(counts['entries'])}) {verb} under key {key_id!r}, "
        f"{counts[CURRENT]:,} already under it"
    )
    if counts["unreadable"]:
        line += f"; {_entries(counts['unreadable'])} that do not open left as they are"
    if counts[BUSY]:
        line += f"; {counts[BUSY]:,} busy (written to throughout): run again"
    return line + "."
