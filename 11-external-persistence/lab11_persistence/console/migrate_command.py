"""``lab11 migrate``: the lab's threads (``lab11:``) copied to Microsoft's scoped keys, in 1.x JSON, each
whole or not at all, and resumable after Ctrl-C (the work itself is ``redis_history.migration``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from typing import IO

from lab11_persistence.config import EXIT_OK, EXIT_SETUP, KEY_PREFIX
from lab11_persistence.console.command_line import UsageError
from lab11_persistence.console.inert_text import inert_line
from lab11_persistence.console.progress import Progress, report_unconfirmed, walk_pages
from lab11_persistence.console.thread_lookup import resolve_thread
from lab11_persistence.counting import counted
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.migration import PAGE_SIZE, Migration, migrate_all, migrate_threads, sealed_threads

MIGRATE_WORDS = {
    "migrated": "migrated",
    "already": "already migrated",
    "conflict": "not migrated: the target already holds other messages (both left as they are)",
    "not-a-list": "not migrated: the target key holds something other than a thread (both left as they are)",
    "unreadable": "not migrated",
    "gone": "no longer there",
    "unconfirmed": "written, but not confirmed by enough replicas in time (LAB11_MIN_REPLICAS): source kept",
}
MIGRATE_PROBLEMS = ("conflict", "not-a-list", "unreadable")


def migration_line(result: Migration, dry_run: bool, delete_source: bool) -> str:
    words = MIGRATE_WORDS[result.outcome]
    if dry_run and result.outcome == "migrated":
        words = "would be migrated"
    if result.detail:
        words += f": {result.detail}"
    if result.outcome in ("migrated", "already"):
        if result.source_deleted:
            words += ", source deleted"
        elif delete_source:
            words += ", source would be deleted" if dry_run else ", source kept (it changed meanwhile: run again)"
    count = f" ({counted(result.messages, 'message')})" if result.messages else ""
    return f"{inert_line(result.source_key)} -> {inert_line(result.target_key)}{count}: {words}"


async def cmd_migrate(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    """Copy the lab's threads (``lab11:``) to this scope's keys, in 1.x JSON; ``--delete-source`` then deletes them."""
    if args.all == bool(args.threads):
        raise UsageError("migrate needs THREAD... or --all (not both).")
    source = history.with_settings(key_prefix=KEY_PREFIX)
    thread_ids = list(dict.fromkeys([await resolve_thread(source, argument) for argument in args.threads]))
    options = {"delete_source": args.delete_source, "dry_run": args.dry_run, "decrypt": args.decrypt}
    if not args.decrypt:  # one line and nothing written, rather than some threads migrated and the sealed ones not
        await refuse_sealed_threads(source, thread_ids if not args.all else None)

    async def explicit_pages() -> AsyncIterator[list[Migration]]:
        for start in range(0, len(thread_ids), PAGE_SIZE):
            yield await migrate_threads(source, history, thread_ids[start : start + PAGE_SIZE], **options)

    progress = Progress(None if args.all else len(thread_ids), "checked" if args.dry_run else "migrated")
    counts = dict.fromkeys((*MIGRATE_WORDS, "messages", "deleted"), 0)

    def tally(result: Migration) -> None:
        counts[result.outcome] += 1
        counts["deleted"] += result.source_deleted
        if result.outcome in ("migrated", "already"):
            counts["messages"] += result.messages
        if result.outcome in (*MIGRATE_PROBLEMS, "unconfirmed"):
            sys.stderr.write(f"lab11: {migration_line(result, args.dry_run, args.delete_source)}\n")
        elif not args.all:
            out.write(migration_line(result, args.dry_run, args.delete_source) + "\n")

    pages = migrate_all(source, history, **options) if args.all else explicit_pages()
    await walk_pages(pages, progress, "migrated", tally)
    out.write(migration_summary(counts, history.layout.thread_key_prefix, args.dry_run, args.delete_source) + "\n")
    if counts["unconfirmed"]:  # on the primary only: run again once the replicas are back
        return report_unconfirmed(counts["unconfirmed"], history.confirmation.min_replicas)
    return EXIT_SETUP if any(counts[problem] for problem in MIGRATE_PROBLEMS) else EXIT_OK


async def refuse_sealed_threads(source: RedisHistory, thread_ids: list[str] | None) -> None:
    """UsageError when any of the threads (None: every thread under lab11:) is sealed: Microsoft's provider
    cannot open an envelope, so migrating one needs --decrypt."""
    sealed: list[str] = []
    if thread_ids is not None:
        for start in range(0, len(thread_ids), PAGE_SIZE):
            sealed += await sealed_threads(source, thread_ids[start : start + PAGE_SIZE])
    else:
        page: list[str] = []
        async for key in source.scan_thread_keys():
            page.append(source.thread_id_of(key))
            if len(page) >= PAGE_SIZE:
                sealed += await sealed_threads(source, page)
                page = []
        sealed += await sealed_threads(source, page) if page else []
    if sealed:
        raise UsageError(
            f"{counted(len(sealed), 'thread')} (first {inert_line(sealed[0])}) sealed with LAB11_ENCRYPTION_KEYS: "
            "Microsoft's provider cannot open them, so migrate them with --decrypt (written in plaintext). "
            "Nothing migrated."
        )


def migration_summary(counts: dict[str, int], target: str, dry_run: bool, delete_source: bool) -> str:
    moved = counts["migrated"] + counts["already"]
    head = "Dry run, nothing written: " if dry_run else ""
    verb = "would be migrated" if dry_run else "migrated"
    threads, messages = counted(moved, "thread"), counted(counts["messages"], "message")
    line = (
        f"{head}{threads} ({messages}) {verb} to '{inert_line(target)}': "
        f"{counts['migrated']:,} {'to write' if dry_run else 'written'}, {counts['already']:,} already there"
    )
    if delete_source:
        line += f"; {counted(moved if dry_run else counts['deleted'], 'source')} "
        line += "would be deleted" if dry_run else "deleted"
    problems = sum(counts[problem] for problem in MIGRATE_PROBLEMS)
    if problems:
        line += f"; {problems:,} not migrated (see above)"
    if counts["gone"]:
        line += f"; {counts['gone']:,} no longer there"
    return line + "."
