"""``lab11 threads | show | export | import | delete | migrate | prune``: the saved threads from the command line.

The menu shows one thread at a time; these subcommands make the same history scriptable, in the
manner of ``llm logs``: find a thread, read it, back it up, move it to another Redis, delete what a
user asked to forget, move the lab's threads to Microsoft's scoped keys, delete what nobody used for
a while. Each command is a small function over ``RedisHistory`` and, for export and import,
``archive``, for migrate ``migration``, for prune ``retention`` (where all the Redis work is); nothing
here imports the Agent Framework, so a command starts in a fraction of a second.

Every command works on the app's key layout: the lab's ``lab11:{thread_id}``, or Microsoft's scoped
keys when ``LAB11_APPLICATION_ID`` (and optionally ``LAB11_TENANT_ID``, ``LAB11_AGENT_ID``) are set;
``--application-id``, ``--tenant-id`` and ``--agent-id`` override them. ``migrate`` copies threads
from ``lab11:`` to that scope.

Exit status: 0 done, 1 Redis could not be used, 2 a usage or input problem (an unknown thread, a
file that is not an export). Every error is one line on standard error, never a traceback.

Export format (JSON Lines, one thread per line, ASCII only)::

    {"key": "lab11:thread_…", "thread_id": "thread_…", "entries": ["<entry as stored>", …], "last_used": 1717.0,
     "summary": "<summary record as stored>"}

``entries`` are the stored strings exactly, a corrupt one included; ``last_used`` is the thread's
score in the recency index (seconds since the epoch), or null when it has none; ``summary`` is the
thread's summary record (``redis_history.window``), or null (exports made before it have no such field).

Import reads the whole file once to check every line before it writes anything: a bad line (not
JSON, truncated, the wrong shape) stops it with the line's number and nothing written. Then each
thread is written as one atomic unit with its index entry; a thread that already holds messages is
kept unless ``--replace``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lab11_persistence.config import EXIT_OK, EXIT_REDIS, EXIT_SETUP, KEY_PREFIX, Settings, SetupError
from lab11_persistence.console.inert_text import inert, inert_line
from lab11_persistence.console.terminal import StdinLines
from lab11_persistence.redis_history.keys import KeyLayout, key_names_thread
from lab11_persistence.server.choice import redis_for

if TYPE_CHECKING:  # pragma: no cover
    from lab11_persistence.redis_history.archive import ThreadDump
    from lab11_persistence.redis_history.history import RedisHistory, SavedThread
    from lab11_persistence.redis_history.migration import Migration

COMMANDS = ("threads", "show", "export", "import", "delete", "migrate", "prune")
SCOPE_OPTIONS = ("application_id", "tenant_id", "agent_id", "source_id")
DEFAULT_LIMIT = 20
IMPORT_BATCH = 200
PROGRESS_AFTER_SECONDS = 1.0
EXPORT_FIELDS = ("key", "thread_id", "entries", "last_used")


class UsageError(SetupError):
    """A problem with what the user asked for (exit status 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_SETUP)


# -- shared wording (the menu's option 5 asks the same question) ------------------------------


def delete_question(redis_key: str, message_count: int) -> str:
    plural = "" if message_count == 1 else "s"
    return f"Delete {inert_line(redis_key)} and its {message_count} message{plural}? (y/N): "


def said_yes(answer: str) -> bool:
    return answer.strip().lower() in ("y", "yes")


def summary_heading(covers: int) -> str:
    return f"Summary of the {covers} oldest messages, sent to the model in their place:"


# -- connecting -------------------------------------------------------------------------------


def key_layout(settings: Settings, args: argparse.Namespace | None = None) -> KeyLayout:
    """The app's key layout: the settings' scope, with the command's ``--application-id`` etc. over it."""
    scope = dict(settings.key_scope)
    for name in SCOPE_OPTIONS:
        if args is not None and getattr(args, name, None) is not None:
            scope[name] = getattr(args, name)
    if scope and "application_id" not in scope:
        raise UsageError(
            "--tenant-id, --agent-id and --source-id (LAB11_TENANT_ID, LAB11_AGENT_ID) need --application-id "
            "(or LAB11_APPLICATION_ID): Microsoft's scoped keys need an application id."
        )
    try:
        return KeyLayout.resolve(KEY_PREFIX, **scope)
    except ValueError as error:
        raise UsageError(str(error)) from None


@asynccontextmanager
async def open_history(
    settings: Settings, redis_url: str, layout: KeyLayout | None = None
) -> AsyncIterator[RedisHistory]:
    """The app's threads (``KEY_PREFIX``, in ``layout``), with no trim: the commands show and restore what is stored."""
    from lab11_persistence.redis_history.history import RedisHistory
    from lab11_persistence.server.entra_id import store_connection

    history = RedisHistory.connect(
        **store_connection(settings, redis_url),
        ssl_ca_certs=settings.redis_ca_cert,
        cluster=settings.redis_is_cluster,
        key_prefix=KEY_PREFIX,
        **(layout or key_layout(settings)).scope,
    )
    try:
        yield history
    finally:
        await history.aclose()


def resolve_key(argument: str, layout: KeyLayout) -> str | None:
    """A thread id from its full key (``lab11:thread_…``, or a scoped key) or ``thread_…``; None for a number
    (a row of ``threads``)."""
    if argument.isdigit():
        return None
    thread_id = layout.thread_id_of(argument)
    return argument if thread_id is None else thread_id


async def resolve_thread(history: RedisHistory, argument: str) -> str:
    """THREAD as the user gave it (id, full key, or the number ``threads`` printed) → an existing thread id."""
    thread_id = resolve_key(argument, history.layout)
    if thread_id is None:
        number = int(argument)
        listed = await history.list_threads(number) if number >= 1 else []
        if number < 1 or len(listed) < number:
            raise UsageError(f"No thread number {number}: `threads` lists {len(listed)} (run `lab11 threads --all`).")
        return listed[number - 1].thread_id
    if not thread_id or not await history.count(thread_id):
        raise UsageError(f"No saved thread {inert_line(history.key(thread_id))} (run `lab11 threads` to list them).")
    return thread_id


# -- threads ----------------------------------------------------------------------------------


def local_time(timestamp: float | None) -> str:
    if timestamp is None:
        return "unknown"
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


async def cmd_threads(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    threads: list[SavedThread] = await history.list_threads(None if args.all else args.limit)
    if args.json:
        document = [
            {
                "number": number,
                "thread_id": thread.thread_id,
                "key": thread.redis_key,
                "message_count": thread.message_count,
                "last_used": thread.last_used,
                "preview": thread.preview,
                "summary_covers": thread.summary_covers,
            }
            for number, thread in enumerate(threads, start=1)
        ]
        json.dump(document, out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not threads:
        out.write(f"No saved threads under '{inert_line(history.layout.thread_key_prefix)}' yet.\n")
        return EXIT_OK
    width = max(len(inert_line(thread.thread_id)) for thread in threads)
    out.write(f"{'#':>3}  {'thread':<{width}}  {'messages':>8}  {'last used':<16}  first words\n")
    for number, thread in enumerate(threads, start=1):
        preview = f'"{inert_line(thread.preview)}"' if thread.preview else ""
        out.write(
            f"{number:>3}  {inert_line(thread.thread_id):<{width}}  {thread.message_count:>8}  "
            f"{local_time(thread.last_used):<16}  {preview}\n"
        )
    return EXIT_OK


# -- show -------------------------------------------------------------------------------------


def _raw_json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # a corrupt entry, shown as the string it is


async def cmd_show(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    from lab11_persistence.redis_history.message_json import message_text
    from lab11_persistence.redis_history.summary import read_summary

    thread_id = await resolve_thread(history, args.thread)
    key = history.key(thread_id)
    if args.json:
        json.dump([_raw_json(raw) for raw in await history.entries(thread_id)], out, indent=2)
        out.write("\n")
        return EXIT_OK
    messages = await history.messages(thread_id, lambda message: (message["role"], message_text(message)))
    summary = await read_summary(history, thread_id)
    if summary is not None:
        out.write(summary_heading(summary.covers) + "\n")
        out.write(f"  {inert(summary.text)}\n")
    if not messages:
        out.write(f"No readable messages in {inert_line(key)}.\n")
        return EXIT_OK
    plural = "" if len(messages) == 1 else "s"
    out.write(f"History of {inert_line(key)} ({len(messages)} message{plural}, oldest first):\n")
    for index, (role, text) in enumerate(messages, start=1):
        out.write(f"{index}. {inert_line(role)}: {inert(text)}\n")
    return EXIT_OK


# -- export -----------------------------------------------------------------------------------


def export_line(dump: ThreadDump) -> str:
    record = {
        "key": dump.redis_key,
        "thread_id": dump.thread_id,
        "entries": dump.entries,
        "last_used": dump.last_used,
        "summary": dump.summary,
    }
    return json.dumps(record, ensure_ascii=True) + "\n"


def markdown_transcript(dump: ThreadDump) -> str:
    from lab11_persistence.redis_history.message_json import decode_entry, message_text
    from lab11_persistence.redis_history.summary import Summary

    lines = [f"## {inert_line(dump.redis_key)}", "", f"Last used: {local_time(dump.last_used)}", ""]
    if summary := Summary.parse(dump.summary):
        lines += [f"*{summary_heading(summary.covers)}* {inert(summary.text)}", ""]
    for index, raw in enumerate(dump.entries, start=1):
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
    from lab11_persistence.redis_history.archive import dump_all_threads, dump_thread

    if args.all == bool(args.threads):
        raise UsageError("export needs THREAD... or --all (not both).")
    thread_ids = [await resolve_thread(history, argument) for argument in args.threads]  # all known before writing
    render: Callable[[ThreadDump], str] = markdown_transcript if args.format == "markdown" else export_line
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
        print(f"Exported {count} thread{'' if count == 1 else 's'} to {args.output}.", file=sys.stderr)
    return EXIT_OK


# -- import -----------------------------------------------------------------------------------


def parse_export_line(text: str, number: int) -> ThreadDump:
    """One line of an export, fully checked; UsageError naming the line otherwise."""
    from lab11_persistence.redis_history.archive import ThreadDump

    where = f"line {number}"
    if not text.endswith("\n"):
        raise UsageError(f"{where} is truncated (no end of line): not a complete export.")
    try:
        record = json.loads(text)
    except ValueError as error:
        reason = getattr(error, "msg", str(error))  # json's own "line 1 column 5" would confuse the line number
        raise UsageError(f"{where} is not JSON ({inert_line(reason)}): not a lab11 export.") from None
    if not isinstance(record, dict) or not all(field in record for field in EXPORT_FIELDS):
        raise UsageError(f"{where} is not a thread of a lab11 export (needs {', '.join(EXPORT_FIELDS)}).")
    key, thread_id, entries, last_used = (record[field] for field in EXPORT_FIELDS)
    if not isinstance(thread_id, str) or not thread_id:
        raise UsageError(f"{where}: thread_id is not a non-empty string.")
    if not isinstance(key, str) or not key_names_thread(key, thread_id):
        raise UsageError(f"{where}: key is not a key of the thread_id (lab11:THREAD, or a scoped key).")
    if not isinstance(entries, list) or not entries or not all(isinstance(entry, str) for entry in entries):
        raise UsageError(f"{where}: entries is not a non-empty list of strings.")
    if last_used is not None and (
        isinstance(last_used, bool) or not isinstance(last_used, (int, float)) or not math.isfinite(last_used)
    ):
        raise UsageError(f"{where}: last_used is not a number or null.")
    summary = record.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise UsageError(f"{where}: summary is not a string or null.")
    last_used = None if last_used is None else float(last_used)
    return ThreadDump(thread_id, f"{KEY_PREFIX}:{thread_id}", entries, last_used, summary)


def read_export(path: Path) -> Iterator[ThreadDump]:
    """Each thread of an export file, checked, one line at a time (blank lines are skipped)."""
    try:
        with path.open("r", encoding="utf-8", newline="\n") as source:
            for number, text in enumerate(source, start=1):
                if text.strip():
                    yield parse_export_line(text, number)
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not UTF-8 text (at byte {error.start}): not a lab11 export.") from None
    except OSError as error:
        raise UsageError(f"Cannot read {path}: {error.strerror or error}.") from None


class Progress:
    """``imported N of M`` (or ``migrated N``) on standard error, only once the work has taken more than a second."""

    def __init__(self, total: int | None, verb: str = "imported") -> None:
        self.total = total
        self.verb = verb
        self.started = time.monotonic()
        self.last_shown = 0.0
        self.shown = False
        self.tty = sys.stderr.isatty()

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.started < PROGRESS_AFTER_SECONDS or now - self.last_shown < 1.0:
            return
        self.last_shown, self.shown = now, True
        of = "" if self.total is None else f" of {self.total:,}"
        self._write(f"{self.verb} {done:,}{of} threads")

    def finish(self) -> None:
        if self.shown and self.tty:
            sys.stderr.write("\n")

    def _write(self, text: str) -> None:
        sys.stderr.write(f"\r{text}" if self.tty else f"{text}\n")
        sys.stderr.flush()


async def cmd_import(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    from lab11_persistence.redis_history.archive import IMPORT_KEPT, IMPORT_NOT_A_LIST, IMPORT_WRITTEN, import_threads

    total = sum(1 for _ in read_export(args.file))  # the whole file is checked before anything is written
    progress = Progress(total)
    counts = {IMPORT_WRITTEN: 0, IMPORT_KEPT: 0, IMPORT_NOT_A_LIST: 0}
    batch: list[ThreadDump] = []
    done = 0

    async def flush() -> None:
        nonlocal batch, done
        for result in await import_threads(history, batch, replace=args.replace):
            counts[result] += 1
        done += len(batch)
        batch = []
        progress.update(done)

    for dump in read_export(args.file):
        batch.append(dump)
        if len(batch) >= IMPORT_BATCH:
            await flush()
    if batch:
        await flush()
    progress.finish()
    written, kept, foreign = counts[IMPORT_WRITTEN], counts[IMPORT_KEPT], counts[IMPORT_NOT_A_LIST]
    verb = "replaced or written" if args.replace else "written"
    line = f"Imported {total:,} thread{'' if total == 1 else 's'}: {written:,} {verb}"
    if not args.replace:
        line += f", {kept:,} already there and kept"
    if foreign:
        line += f", {foreign:,} left alone (the key holds something other than a thread)"
    out.write(line + ".\n")
    return EXIT_OK


# -- delete -----------------------------------------------------------------------------------


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
            question = f"Delete {len(thread_ids)} threads ({sum(counts.values())} messages): {listed}? (y/N): "
        if not await confirmed(question, out):
            return EXIT_OK
    for thread_id in thread_ids:
        await history.clear(thread_id)
        out.write(f"Deleted {inert_line(history.key(thread_id))}.\n")
    return EXIT_OK


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


def counted(number: int, noun: str) -> str:
    """``1 message``, ``1,204 messages``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


# -- migrate ----------------------------------------------------------------------------------

MIGRATE_WORDS = {
    "migrated": "migrated",
    "already": "already migrated",
    "conflict": "not migrated: the target already holds other messages (both left as they are)",
    "not-a-list": "not migrated: the target key holds something other than a thread (both left as they are)",
    "unreadable": "not migrated",
    "gone": "no longer there",
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
    plural = "" if result.messages == 1 else "s"
    count = f" ({result.messages} message{plural})" if result.messages else ""
    return f"{inert_line(result.source_key)} -> {inert_line(result.target_key)}{count}: {words}"


async def cmd_migrate(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    """Copy the lab's threads (``lab11:``) to this scope's keys, in 1.x JSON; ``--delete-source`` then deletes them."""
    import asyncio

    from lab11_persistence.redis_history.migration import PAGE_SIZE, migrate_all, migrate_threads

    if args.all == bool(args.threads):
        raise UsageError("migrate needs THREAD... or --all (not both).")
    source = history.with_settings(key_prefix=KEY_PREFIX)
    thread_ids = list(dict.fromkeys([await resolve_thread(source, argument) for argument in args.threads]))
    options = {"delete_source": args.delete_source, "dry_run": args.dry_run}

    async def explicit_pages() -> AsyncIterator[list[Migration]]:
        for start in range(0, len(thread_ids), PAGE_SIZE):
            yield await migrate_threads(source, history, thread_ids[start : start + PAGE_SIZE], **options)

    progress = Progress(None if args.all else len(thread_ids), "checked" if args.dry_run else "migrated")
    counts = dict.fromkeys((*MIGRATE_WORDS, "messages", "deleted"), 0)
    done = 0
    try:
        pages = migrate_all(source, history, **options) if args.all else explicit_pages()
        async with aclosing(pages):  # closed here, even when stopped, not at the loop's shutdown
            async for page in pages:
                for result in page:
                    counts[result.outcome] += 1
                    counts["deleted"] += result.source_deleted
                    if result.outcome in ("migrated", "already"):
                        counts["messages"] += result.messages
                    if result.outcome in MIGRATE_PROBLEMS:
                        sys.stderr.write(f"lab11: {migration_line(result, args.dry_run, args.delete_source)}\n")
                    elif not args.all:
                        out.write(migration_line(result, args.dry_run, args.delete_source) + "\n")
                done += len(page)
                progress.update(done)
    except (KeyboardInterrupt, asyncio.CancelledError):
        progress.finish()
        sys.stderr.write(
            f"\nlab11: interrupted after {done:,} threads. Each thread is migrated whole or not at all: "
            "run the same command again to go on.\n"
        )
        raise
    progress.finish()
    out.write(migration_summary(counts, history.layout.thread_key_prefix, args.dry_run, args.delete_source) + "\n")
    return EXIT_SETUP if any(counts[problem] for problem in MIGRATE_PROBLEMS) else EXIT_OK


def migration_summary(counts: dict[str, int], target: str, dry_run: bool, delete_source: bool) -> str:
    moved = counts["migrated"] + counts["already"]
    plural = "" if moved == 1 else "s"
    head = "Dry run, nothing written: " if dry_run else ""
    verb = "would be migrated" if dry_run else "migrated"
    line = (
        f"{head}{moved:,} thread{plural} ({counted(counts['messages'], 'message')}) {verb} to '{inert_line(target)}': "
        f"{counts['migrated']:,} {'to write' if dry_run else 'written'}, {counts['already']:,} already there"
    )
    if delete_source:
        line += f"; {moved if dry_run else counts['deleted']:,} source{'s' if moved != 1 else ''} "
        line += "would be deleted" if dry_run else "deleted"
    problems = sum(counts[problem] for problem in MIGRATE_PROBLEMS)
    if problems:
        line += f"; {problems:,} not migrated (see above)"
    if counts["gone"]:
        line += f"; {counts['gone']:,} no longer there"
    return line + "."


# -- prune ------------------------------------------------------------------------------------

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w``: seconds."""
    number, unit = text[:-1], text[-1:].lower()
    if unit not in DURATION_UNITS or not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age such as 30d, 12h or 90m (units: s, m, h, d, w)")
    return int(number) * DURATION_UNITS[unit]


async def cmd_prune(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    """Delete the threads of this layout last written longer than ``--older-than`` ago (the recency index says)."""
    from lab11_persistence.redis_history.retention import count_idle_threads, prune_threads

    cutoff = time.time() - args.older_than
    under, since = inert_line(history.layout.thread_key_prefix), local_time(cutoff)
    if args.rebuild_index and not args.dry_run:
        added = await history.rebuild_index()
        if added:
            out.write(f"Indexed {added:,} threads other tools wrote, dated by how long Redis saw them idle.\n")
    total = await count_idle_threads(history, cutoff)
    if not total:
        out.write(f"No threads under '{under}' last used before {since}.\n")
        return EXIT_OK
    plural = "" if total == 1 else "s"
    question = f"Delete {total:,} thread{plural} under '{under}' last used before {since}? (y/N): "
    if not args.dry_run and not args.yes and not await confirmed(question, out):
        return EXIT_OK
    progress = Progress(total, "checked" if args.dry_run else "pruned")
    threads = messages = kept = done = 0
    async with aclosing(prune_threads(history, cutoff, dry_run=args.dry_run)) as pages:
        async for page in pages:
            for pruned in page:
                if pruned.kept:
                    kept += 1
                    continue
                threads, messages = threads + 1, messages + pruned.messages
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
    return EXIT_OK


# -- the command line -------------------------------------------------------------------------


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2) rather than the usage block."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_SETUP, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def scope_options() -> argparse.ArgumentParser:
    """``--application-id``, ``--tenant-id``, ``--agent-id``: every command's key layout (over the settings)."""
    scope = argparse.ArgumentParser(add_help=False)
    group = scope.add_argument_group(
        "Microsoft's scoped keys (default: LAB11_APPLICATION_ID, LAB11_TENANT_ID, LAB11_AGENT_ID; none: lab11:THREAD)"
    )
    group.add_argument("--application-id", metavar="ID", help="the application's segment of the key")
    group.add_argument("--tenant-id", metavar="ID", help="the tenant's segment (needs an application id)")
    group.add_argument("--agent-id", metavar="ID", help="the agent's segment (needs an application id)")
    group.add_argument(
        "--source-id",
        metavar="ID",
        help="the history provider's segment (needs an application id; default redis_memory, as Microsoft's provider)",
    )
    return scope


def build_parser(prog: str = "lab11") -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=prog,
        description="Lab 11: chat history in Redis. With no command, the interactive menu.",
        epilog="Uses the app's settings: REDIS_URL (else the embedded server), REDIS_CLUSTER, REDIS_CA_CERT, "
        "LAB11_APPLICATION_ID, LAB11_TENANT_ID, LAB11_AGENT_ID. "
        "THREAD is a thread id, a full key (lab11:thread_…) or the number `threads` printed.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    scope = [scope_options()]

    threads = commands.add_parser("threads", parents=scope, help="list saved threads, most recent first")
    threads.add_argument("--limit", type=_positive, default=DEFAULT_LIMIT, help="how many (default %(default)s)")
    threads.add_argument("--all", action="store_true", help="every thread (found by SCAN)")
    threads.add_argument("--json", action="store_true", help="a JSON document instead of the table")

    show = commands.add_parser("show", parents=scope, help="print one thread's history")
    show.add_argument("thread", metavar="THREAD")
    show.add_argument("--json", action="store_true", help="the stored messages as JSON")

    export = commands.add_parser("export", parents=scope, help="write threads as JSON Lines (or a Markdown transcript)")
    export.add_argument("threads", metavar="THREAD", nargs="*")
    export.add_argument("--all", action="store_true", help="every thread, streamed")
    export.add_argument("-o", "--output", type=Path, help="write to FILE (created private, 0600), not stdout")
    export.add_argument("--format", choices=("jsonl", "markdown"), default="jsonl", help="default %(default)s")

    importer = commands.add_parser("import", parents=scope, help="load threads from an export file")
    importer.add_argument("file", metavar="FILE", type=Path)
    importer.add_argument("--replace", action="store_true", help="overwrite threads that already hold messages")

    delete = commands.add_parser("delete", parents=scope, help="delete threads and their index entries")
    delete.add_argument("threads", metavar="THREAD", nargs="+")
    delete.add_argument("--yes", action="store_true", help="do not ask")

    migrate = commands.add_parser(
        "migrate", parents=scope, help="copy threads from lab11: to Microsoft's scoped keys (1.x JSON)"
    )
    migrate.add_argument("threads", metavar="THREAD", nargs="*", help="a thread id or its lab11: key")
    migrate.add_argument("--all", action="store_true", help="every thread under lab11:, streamed")
    migrate.add_argument("--delete-source", action="store_true", help="delete each lab11: thread once copied")
    migrate.add_argument("--dry-run", action="store_true", help="say what would happen; write nothing")

    prune = commands.add_parser("prune", parents=scope, help="delete threads nobody has written for a while")
    prune.add_argument(
        "--older-than", metavar="AGE", type=_duration, required=True, help="last written longer ago: 30d, 12h, 90m..."
    )
    prune.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    prune.add_argument("--yes", action="store_true", help="do not ask")
    prune.add_argument(
        "--rebuild-index", action="store_true", help="first index threads other tools wrote (SCAN; not in a dry run)"
    )
    return parser


HANDLERS = {
    "threads": cmd_threads,
    "show": cmd_show,
    "export": cmd_export,
    "import": cmd_import,
    "delete": cmd_delete,
    "migrate": cmd_migrate,
    "prune": cmd_prune,
}


def wants_command(argv: list[str]) -> bool:
    """True when the arguments name a subcommand or ask for help (otherwise the app shows the menu)."""
    return bool(argv) and (argv[0] in COMMANDS or argv[0] in ("-h", "--help"))


def _error(settings: Settings, message: str) -> None:
    sys.stderr.write(f"lab11: {inert_line(settings.redact(message))}\n")


def main(argv: list[str], settings: Settings) -> int:
    """Run one subcommand; returns the exit status."""
    import logging

    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return EXIT_OK
    logging.basicConfig(level=logging.WARNING, format="lab11: %(message)s", stream=sys.stderr)
    server = None
    try:
        settings.check()  # every settings problem, one line each, before any connection
        layout = key_layout(settings, args)  # a bad scope stops here, before any connection
        if args.command == "migrate" and not layout.scoped:
            raise UsageError(
                "migrate copies threads to Microsoft's scoped keys: "
                "give --application-id (or set LAB11_APPLICATION_ID)."
            )
        redis_url, server = redis_for(settings)
        import asyncio  # not at the top: the menu path imports this module before its first menu

        return asyncio.run(_run(HANDLERS[args.command], settings, redis_url, args, layout))
    except SetupError as error:
        for line in error.lines:
            _error(settings, line)
        return error.exit_status
    except BrokenPipeError:  # `lab11 export --all | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 130
    except Exception as error:
        from redis.exceptions import RedisError

        from lab11_persistence.redis_history.connection import RedisUnavailableError

        if isinstance(error, (RedisUnavailableError, RedisError)):
            _error(settings, f"Redis: {' '.join(str(error).split()) or type(error).__name__}")
            return EXIT_REDIS
        if isinstance(error, OSError):
            _error(settings, f"{error.strerror or error}: {error.filename or ''}".rstrip(": "))
            return EXIT_SETUP
        raise
    finally:
        if server is not None:
            server.release()


async def _run(handler: Any, settings: Settings, redis_url: str, args: argparse.Namespace, layout: KeyLayout) -> int:
    async with open_history(settings, redis_url, layout) as history:
        return int(await handler(history, args, sys.stdout))
