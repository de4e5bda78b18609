"""The thread commands' command line: ``lab11 COMMAND [options]`` parsed into an ``argparse.Namespace``,
and its scope options read into the key layout the command works on.

Only the grammar lives here (which commands, which options, what a bad value says); what each command
does is in its handler module, and running one is ``commands.main``. A usage error is one line and
exit status 2, never argparse's usage block.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lab11_persistence.config import EXIT_SETUP, KEY_PREFIX, Settings, SetupError
from lab11_persistence.console.inert_text import inert_line
from lab11_persistence.redis_history.keys import KeyLayout

COMMANDS = ("threads", "show", "export", "import", "delete", "migrate", "prune", "rekey", "new-key")
SCOPE_OPTIONS = ("application_id", "tenant_id", "agent_id", "source_id")
DEFAULT_LIMIT = 20
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class UsageError(SetupError):
    """A problem with what the user asked for (exit status 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_SETUP)


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


def wants_command(argv: list[str]) -> bool:
    """True when the arguments name a subcommand, ask for help, or start with any other bare word (a mistyped
    command, which ``unknown_command`` refuses); the app's own options (``--framework 1.x``) start the menu."""
    return bool(argv) and (argv[0] in COMMANDS or argv[0] in ("-h", "--help") or not argv[0].startswith("-"))


def unknown_command(argv: list[str]) -> str | None:
    """One line for a first word that is no command, naming the nearest one when one is near; None otherwise.

    Without it a typo (``lab11 thraeds``) would open the interactive menu, or, in a script, wait for input.
    """
    if not argv or argv[0] in COMMANDS or argv[0].startswith("-"):
        return None
    import difflib  # only for a refusal: the menu's start-up imports this module and need not load it

    word = inert_line(argv[0][:40])
    nearest = difflib.get_close_matches(argv[0], COMMANDS, n=1)
    if nearest:
        return f"'{word}' is not a command; did you mean '{nearest[0]}'? (see lab11 --help)"
    return f"'{word}' is not a command (commands: {', '.join(COMMANDS)}; with no command, the menu; see lab11 --help)"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2) rather than the usage block."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_SETUP, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w``: seconds."""
    number, unit = text[:-1], text[-1:].lower()
    if unit not in DURATION_UNITS or not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age such as 30d, 12h or 90m (units: s, m, h, d, w)")
    return int(number) * DURATION_UNITS[unit]


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
        "LAB11_APPLICATION_ID, LAB11_TENANT_ID, LAB11_AGENT_ID, LAB11_ENCRYPTION_KEYS. "
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
    export.add_argument(
        "--decrypt", action="store_true", help="write sealed entries opened, as plaintext (still a 0600 file)"
    )

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
    migrate.add_argument(
        "--decrypt", action="store_true", help="open sealed threads: Microsoft's provider reads plaintext only"
    )

    prune = commands.add_parser("prune", parents=scope, help="delete threads nobody has written for a while")
    prune.add_argument(
        "--older-than", metavar="AGE", type=_duration, required=True, help="last written longer ago: 30d, 12h, 90m..."
    )
    prune.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    prune.add_argument("--yes", action="store_true", help="do not ask")
    prune.add_argument(
        "--rebuild-index", action="store_true", help="first index threads other tools wrote (SCAN; not in a dry run)"
    )
    encryption_commands(commands, scope)
    return parser


def encryption_commands(commands: Any, scope: list[argparse.ArgumentParser]) -> None:
    """``rekey`` and ``new-key``: LAB11_ENCRYPTION_KEYS's commands (docs/encryption.md)."""
    rekey = commands.add_parser("rekey", parents=scope, help="seal threads under the first LAB11_ENCRYPTION_KEYS key")
    rekey.add_argument("threads", metavar="THREAD", nargs="*")
    rekey.add_argument("--all", action="store_true", help="every thread in the recency index, a page at a time")
    rekey.add_argument("--dry-run", action="store_true", help="count what would be rewritten; write nothing")
    new_key = commands.add_parser("new-key", help="print a fresh ID:KEY entry for LAB11_ENCRYPTION_KEYS")
    new_key.add_argument("id", metavar="ID", nargs="?", help="the key's id (default: today's date and 4 hex digits)")
