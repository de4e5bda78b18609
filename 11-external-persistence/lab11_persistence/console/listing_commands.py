"""``lab11 threads`` and ``lab11 show``: the saved threads, listed, and one thread read, as Redis holds them."""

from __future__ import annotations

import argparse
import json
from typing import IO, Any

from lab11_persistence.config import EXIT_OK
from lab11_persistence.console.inert_text import inert, inert_line
from lab11_persistence.console.thread_lookup import resolve_thread
from lab11_persistence.console.wording import history_heading, local_time, removed_note, summary_heading
from lab11_persistence.redis_history.history import RedisHistory, SavedThread
from lab11_persistence.redis_history.message_json import message_text
from lab11_persistence.redis_history.summary import read_summary


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


def _raw_json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # a corrupt entry, shown as the string it is


async def cmd_show(history: RedisHistory, args: argparse.Namespace, out: IO[str]) -> int:
    thread_id = await resolve_thread(history, args.thread)
    key = history.key(thread_id)
    if args.json:
        entries = [history.codec.open_or_none(raw, key) or raw for raw in await history.entries(thread_id)]
        json.dump([_raw_json(entry) for entry in entries], out, indent=2)
        out.write("\n")
        return EXIT_OK
    messages = await history.messages(thread_id, lambda message: (message["role"], message_text(message)))
    summary = await read_summary(history, thread_id)
    removed = summary.covers - summary.in_list if summary is not None else 0  # trimmed once the summary covered them
    if summary is not None:
        out.write(summary_heading(summary.covers) + "\n")
        out.write(f"  {inert(summary.text)}\n")
        if removed:
            out.write(removed_note(removed) + "\n")
    if not messages:
        out.write(f"No readable messages in {inert_line(key)}.\n")
        return EXIT_OK
    out.write(history_heading(key, len(messages), removed) + "\n")
    for index, (role, text) in enumerate(messages, start=removed + 1):
        out.write(f"{index}. {inert_line(role)}: {inert(text)}\n")
    return EXIT_OK
