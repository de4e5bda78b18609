"""What every thread command starts from: the app's threads in Redis, in the command's key layout
(``open_history``), and THREAD as the user typed it (a thread id, a full key, or the number ``lab11
threads`` printed) found among them (``resolve_thread``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from lab11_persistence.config import KEY_PREFIX, Settings
from lab11_persistence.console.command_line import UsageError, key_layout
from lab11_persistence.console.inert_text import inert_line
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.keys import KeyLayout
from lab11_persistence.redis_history.sealing import Keyring
from lab11_persistence.server.entra_id import store_connection


@asynccontextmanager
async def open_history(
    settings: Settings, redis_url: str, layout: KeyLayout | None = None
) -> AsyncIterator[RedisHistory]:
    """The app's threads (``KEY_PREFIX``, in ``layout``), with no trim: the commands show and restore what is stored."""
    history = RedisHistory.connect(
        **store_connection(settings, redis_url),
        ssl_ca_certs=settings.redis_ca_cert,
        cluster=settings.redis_is_cluster,
        key_prefix=KEY_PREFIX,
        encryption_keys=Keyring(settings.encryption_keys),  # threads and show open entries; writes seal
        min_replicas=settings.min_replicas,  # what the commands write (import, migrate) is confirmed as a turn is
        replica_timeout_ms=settings.replica_timeout_ms,
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
