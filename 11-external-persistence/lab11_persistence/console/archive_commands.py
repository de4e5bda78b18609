"""``lab11 export`` and ``lab11 import``: threads written to a file and loaded back.

The file's format, and the checking of every line before anything is written, are ``redis_history.archive``'s;
here: which threads, where the output goes (a private file, or standard output), the Markdown transcript,
and what the user is told.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from lab11_persistence.config import EXIT_OK
from lab11_persistence.console.command_line import UsageError
from lab11_persistence.console.inert_text import inert, inert_line
from lab11_persistence.console.progress import Progress, report_unconfirmed
from lab11_persistence.console.thread_lookup import resolve_thread
from lab11_persistence.console.wording import local_time, removed_note, summary_heading
from lab11_persistence.counting import counted
from lab11_persistence.redis_history.archive import (
    IMPORT_KEPT,
    IMPORT_NOT_A_LIST,
    IMPORT_UNCONFIRMED,
    IMPORT_WRITTEN,
    ExportFormatError,
    ThreadDump,
    check_keys,
    dump_all_threads,
    dump_thread,
    import_threads,
    opened_dump,
    read_export,
    thread_record,
)
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.message_json import decode_entry, message_text
from lab11_persistence.redis_history.summary import Summary

IMPORT_BATCH = 200


# -- export -----------------------------------------------------------------------------------


def markdown_transcript(dump: ThreadDump) -> str:
    lines = [f"## {inert_line(dump.redis_key)}", "", f"Last used: {local_time(dump.last_used)}", ""]
    removed = 0
    if summary := Summary.parse(dump.summary):
        removed = summary.covers - summary.in_list  # numbered as the menu and `show` do, by place in the conversation
        lines += [f"*{summary_heading(summary.covers)}* {inert(summary.text)}", ""]
        if removed:
            lines += [f"*{removed_note(removed)}*", ""]
    for index, raw in enumerate(dump.entries, start=removed + 1):
        try:
            message = decode_entry(raw)
        except ValueError as error:
            lines.append(f"{index}. *(unreadable entry: {inert_line(str(error))})*")
            continue
        lines.append(f"{index}. **{inert_line(message['role'])}**: {inert(message_text(message))}")
    return "\n".join(lines) + "\n\n"


def private_file(path: Path) -> IO[str]:
    """Open ``path`` for writing, created 0600 (a looser existing file is tightened): it holds conversations."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "w", encoding="utf-8", newline="\n")


async def cmd_export(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    if args.all == bool(args.threads):
        raise UsageError("export needs THREAD... or --all (not both).")
    thread_ids = [await resolve_thread(history, argument) for argument in args.threads]  # all known before writing

    def render(dump: ThreadDump) -> str:
        """A line of the export (entries as stored, sealed; opened with ``--decrypt``), or a transcript (opened)."""
        if args.decrypt or args.format == "markdown":
            dump = opened_dump(history, dump)
        return markdown_transcript(dump) if args.format == "markdown" else thread_record(dump)

    target = private_file(args.output) if args.output else out
    count = 0
    try:
        if args.all:
            async for dump in dump_all_threads(history):
                target.write(render(dump))
                count += 1
        else:
            for thread_id in thread_ids:
                dump = await dump_thread(history, thread_id)
                if dump is not None:
                    target.write(render(dump))
                    count += 1
    finally:
        if target is not out:
            target.close()
    if args.output:
        print(f"Exported {counted(count, 'thread')} to {args.output}.", file=sys.stderr)
    return EXIT_OK


# -- import -----------------------------------------------------------------------------------


def checked_export(path: Path) -> Iterator[ThreadDump]:
    """``archive.read_export``, a bad file being a usage problem (one line, exit status 2)."""
    try:
        yield from read_export(path)
    except ExportFormatError as error:
        raise UsageError(str(error)) from None


async def cmd_import(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    total = 0
    for dump in checked_export(args.file):  # the whole file is checked before anything is written, its keys too
        check_keys(history, dump)
        total += 1
    progress = Progress(total)
    counts = {IMPORT_WRITTEN: 0, IMPORT_KEPT: 0, IMPORT_NOT_A_LIST: 0, IMPORT_UNCONFIRMED: 0}
    batch: list[ThreadDump] = []
    done = 0

    async def flush() -> None:
        nonlocal batch, done
        for result in await import_threads(history, batch, replace=args.replace):
            counts[result] += 1
        done += len(batch)
        batch = []
        progress.update(done)

    for dump in checked_export(args.file):
        batch.append(dump)
        if len(batch) >= IMPORT_BATCH:
            await flush()
    if batch:
        await flush()
    progress.finish()
    unconfirmed = counts[IMPORT_UNCONFIRMED]
    written, kept, foreign = counts[IMPORT_WRITTEN] + unconfirmed, counts[IMPORT_KEPT], counts[IMPORT_NOT_A_LIST]
    verb = "replaced or written" if args.replace else "written"
    line = f"Imported {counted(total, 'thread')}: {written:,} {verb}"
    if not args.replace:
        line += f", {kept:,} already there and kept"
    if foreign:
        line += f", {foreign:,} left alone (the key holds something other than a thread)"
    out.write(line + ".\n")
    if unconfirmed:
        return report_unconfirmed(unconfirmed, history.confirmation.min_replicas)
    return EXIT_OK
