"""``lab11 threads | show | export | import | delete | migrate | prune | rekey | new-key``: the saved threads from
the command line.

The menu shows one thread at a time; these subcommands make the same history scriptable, in the
manner of ``llm logs``: find a thread, read it, back it up, move it to another Redis, delete what a
user asked to forget, move the lab's threads to Microsoft's scoped keys, delete what nobody used for
a while. Each job has its module: the grammar (``command_line``), the handlers (``listing_commands``,
``archive_commands``, ``deleting_commands``, ``migrate_command``, each a small function over
``RedisHistory``), what they share (``thread_lookup``, ``wording``, ``progress``), the export format
(``redis_history.archive``). This module runs one command: it connects, calls the handler, and turns
every failure into one line and an exit status. Nothing imports the Agent Framework, so a command
starts in a fraction of a second; and this module imports the handlers only when a command runs, so
the menu's start-up (which imports it to ask ``wants_command``) does not pay for them.

Every command works on the app's key layout: the lab's ``lab11:{thread_id}``, or Microsoft's scoped
keys when ``LAB11_APPLICATION_ID`` (and optionally ``LAB11_TENANT_ID``, ``LAB11_AGENT_ID``) are set;
``--application-id``, ``--tenant-id`` and ``--agent-id`` override them. ``migrate`` copies threads
from ``lab11:`` to that scope.

Exit status: 0 done, 1 Redis could not be used, 2 a usage or input problem (an unknown thread, a
file that is not an export). Every error is one line on standard error, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import IO, TYPE_CHECKING

from lab11_persistence.config import EXIT_OK, EXIT_REDIS, EXIT_SETUP, Settings, SetupError
from lab11_persistence.console.closed_output import output_closed
from lab11_persistence.console.command_line import UsageError, build_parser, key_layout, unknown_command, wants_command
from lab11_persistence.console.inert_text import inert_line
from lab11_persistence.server.choice import redis_for

if TYPE_CHECKING:  # pragma: no cover
    from lab11_persistence.redis_history.history import RedisHistory
    from lab11_persistence.redis_history.keys import KeyLayout

__all__ = ["handler_for", "main", "wants_command"]

Handler = Callable[["RedisHistory", argparse.Namespace, IO[str]], Awaitable[int]]


def handler_for(command: str) -> Handler:
    """The command's handler (``await handler(history, args, out)`` -> exit status), imported now: the one place
    the commands' modules, and the Redis client with them, load."""
    from lab11_persistence.console import (
        archive_commands,
        deleting_commands,
        listing_commands,
        migrate_command,
        rekey_command,
    )

    handlers: dict[str, Handler] = {
        "threads": listing_commands.cmd_threads,
        "show": listing_commands.cmd_show,
        "export": archive_commands.cmd_export,
        "import": archive_commands.cmd_import,
        "delete": deleting_commands.cmd_delete,
        "migrate": migrate_command.cmd_migrate,
        "prune": deleting_commands.cmd_prune,
        "rekey": rekey_command.cmd_rekey,
    }
    return handlers[command]


def _error(settings: Settings, message: str) -> None:
    sys.stderr.write(f"lab11: {inert_line(settings.redact(message))}\n")


def main(argv: list[str], settings: Settings) -> int:
    """Run one subcommand; returns the exit status."""
    import logging  # the menu's path imports this module; logging is set up here, for a command only

    if problem := unknown_command(argv):
        sys.stderr.write(f"lab11: {problem}\n")
        return EXIT_SETUP
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return EXIT_OK
    logging.basicConfig(level=logging.WARNING, format="lab11: %(message)s", stream=sys.stderr)
    server = None
    try:
        if args.command == "new-key":  # needs neither Redis nor the settings
            from lab11_persistence.console.new_key_command import cmd_new_key

            return cmd_new_key(args, sys.stdout)
        settings.check()  # every settings problem, one line each, before any connection
        layout = key_layout(settings, args)  # a bad scope stops here, before any connection
        if args.command == "migrate" and not layout.scoped:
            raise UsageError(
                "migrate copies threads to Microsoft's scoped keys: "
                "give --application-id (or set LAB11_APPLICATION_ID)."
            )
        redis_url, server = redis_for(settings)
        from lab11_persistence.console.interrupts import run_until_interrupted  # not at the top, as asyncio

        return run_until_interrupted(_run(settings, redis_url, args, layout))  # Ctrl-C stops it at once
    except SetupError as error:
        for line in error.lines:
            _error(settings, line)
        return error.exit_status
    except BrokenPipeError:  # `lab11 export --all | head`
        return output_closed()
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 130
    except Exception as error:
        from lab11_persistence.console.deferred import MissingKeyError, RedisError, RedisUnavailableError

        if isinstance(error, MissingKeyError):  # a configuration error: one line naming the key id
            _error(settings, str(error))
            return EXIT_SETUP
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


async def _run(settings: Settings, redis_url: str, args: argparse.Namespace, layout: KeyLayout) -> int:
    from lab11_persistence.console.thread_lookup import open_history

    handler = handler_for(args.command)
    async with open_history(settings, redis_url, layout) as history:
        return int(await handler(history, args, sys.stdout))
