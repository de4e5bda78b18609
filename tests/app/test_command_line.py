"""The commands' arguments and wording, checked in-process (the commands run for real in test_commands.py).

A usage error is one line and exit status 2; counts are worded in the singular for one.
"""

from __future__ import annotations

import argparse

import pytest

from lab11_persistence.console.command_line import DEFAULT_LIMIT, build_parser, wants_command
from lab11_persistence.console.migrate_command import migration_line, migration_summary
from lab11_persistence.console.thread_lookup import resolve_key
from lab11_persistence.console.wording import delete_question, said_yes, summary_heading
from lab11_persistence.counting import counted
from lab11_persistence.redis_history.keys import KeyLayout
from lab11_persistence.redis_history.migration import Migration

pytestmark = pytest.mark.fast

DAY = 86400


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        _parse(*argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err


# -- parsing ------------------------------------------------------------------------------------------------


def test_threads_lists_twenty_by_default() -> None:
    args = _parse("threads")
    assert (args.command, args.limit, args.all, args.json) == ("threads", DEFAULT_LIMIT, False, False)
    assert DEFAULT_LIMIT == 20


def test_each_command_takes_its_threads_and_options() -> None:
    assert _parse("show", "3", "--json").thread == "3"
    export = _parse("export", "a", "b", "--format", "markdown", "-o", "out.md")
    assert (export.threads, export.format, str(export.output)) == (["a", "b"], "markdown", "out.md")
    assert _parse("import", "threads.jsonl", "--replace").replace is True
    assert _parse("delete", "a", "--yes").threads == ["a"]
    migrate = _parse("migrate", "--all", "--delete-source", "--dry-run", "--application-id", "travel")
    assert (migrate.all, migrate.delete_source, migrate.dry_run, migrate.application_id) == (True, True, True, "travel")


@pytest.mark.parametrize(
    ("age", "seconds"), [("45s", 45), ("90m", 90 * 60), ("12h", 12 * 3600), ("30d", 30 * DAY), ("2W", 14 * DAY)]
)
def test_prune_reads_an_age_in_any_unit(age: str, seconds: int) -> None:
    assert _parse("prune", "--older-than", age).older_than == seconds


@pytest.mark.parametrize("age", ["30", "d", "0d", "1.5d", "30y"])
def test_an_age_without_a_unit_or_count_is_refused_in_one_line(capsys: pytest.CaptureFixture[str], age: str) -> None:
    error = _refused(capsys, "prune", "--older-than", age)
    assert error == (
        f"lab11 prune: argument --older-than: {age!r} is not an age such as 30d, 12h or 90m (units: s, m, h, d, w) "
        "(see lab11 prune --help)\n"
    )


@pytest.mark.parametrize("limit", ["0", "-3", "ten"])
def test_a_limit_that_is_not_a_positive_number_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    error = _refused(capsys, "threads", "--limit", limit)
    assert error.count("\n") == 1 and f"{limit!r} is not a positive whole number" in error


def test_an_unknown_command_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    error = _refused(capsys, "frobnicate")
    assert error.startswith("lab11: argument COMMAND: invalid choice: 'frobnicate'")
    assert error.endswith("(see lab11 --help)\n") and error.count("\n") == 1


def test_prune_needs_an_age(capsys: pytest.CaptureFixture[str]) -> None:
    assert "the following arguments are required: --older-than" in _refused(capsys, "prune")


# A bare word that is no command ("hello") goes to the commands too, which refuse it in one line (issue 21);
# only the app's own options ("--framework 1.x") start the menu.
@pytest.mark.parametrize(
    ("argv", "command"),
    [
        ([], False),
        (["threads"], True),
        (["--help"], True),
        (["-h"], True),
        (["hello"], True),
        (["prune", "x"], True),
        (["--framework", "1.x"], False),
    ],
)
def test_only_the_apps_own_options_start_the_menu(argv: list[str], command: bool) -> None:
    assert wants_command(argv) is command


# -- a thread as the user names it ----------------------------------------------------------------------------


def test_a_thread_is_named_by_its_id_its_key_or_a_row_number() -> None:
    lab = KeyLayout.resolve("lab11")
    assert resolve_key("thread_abc", lab) == "thread_abc"
    assert resolve_key("lab11:thread_abc", lab) == "thread_abc"
    assert resolve_key("3", lab) is None
    scoped = KeyLayout.resolve("lab11", application_id="travel")
    assert resolve_key(scoped.key("thread_abc"), scoped) == "thread_abc"


# -- wording ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "wording"), [(0, "0 messages"), (1, "1 message"), (2, "2 messages"), (1204, "1,204 messages")]
)
def test_a_count_is_singular_for_one_only(number: int, wording: str) -> None:
    assert counted(number, "message") == wording


def test_the_delete_question_names_the_key_and_its_count() -> None:
    assert delete_question("lab11:t", 1) == "Delete lab11:t and its 1 message? (y/N): "
    assert delete_question("lab11:\x1b[2Jt", 3) == "Delete lab11:\\x1b[2Jt and its 3 messages? (y/N): "  # inert


@pytest.mark.parametrize(("answer", "yes"), [("y", True), (" YES\n", True), ("", False), ("n", False), ("yes!", False)])
def test_only_y_or_yes_is_a_yes(answer: str, yes: bool) -> None:
    assert said_yes(answer) is yes


def test_the_summary_heading_says_how_many_messages_it_stands_for() -> None:
    assert summary_heading(12) == "Summary of the 12 oldest messages, sent to the model in their place:"


def _migration(outcome: str, messages: int = 2, deleted: bool = False, detail: str = "") -> Migration:
    return Migration("t", "lab11:t", "lab11|v2|~none|travel|~none|redis_memory|t", outcome, messages, deleted, detail)


@pytest.mark.parametrize(
    ("result", "dry_run", "delete_source", "ending"),
    [
        (_migration("migrated"), False, False, " (2 messages): migrated"),
        (_migration("migrated", 1), True, False, " (1 message): would be migrated"),
        (_migration("migrated", deleted=True), False, True, " (2 messages): migrated, source deleted"),
        (_migration("migrated"), True, True, " (2 messages): would be migrated, source would be deleted"),
        (
            _migration("already"),
            False,
            True,
            " (2 messages): already migrated, source kept (it changed meanwhile: run again)",
        ),
        (
            _migration("unreadable", 0, detail="entry 2 is not a message"),
            False,
            False,
            ": not migrated: entry 2 is not a message",
        ),
        (_migration("gone", 0), False, False, ": no longer there"),
    ],
    ids=["migrated", "dry run", "deleted", "dry run deleting", "source changed", "unreadable", "gone"],
)
def test_each_migrated_thread_is_one_line_saying_what_became_of_it(
    result: Migration, dry_run: bool, delete_source: bool, ending: str
) -> None:
    line = migration_line(result, dry_run, delete_source)
    assert line == f"lab11:t -> lab11|v2|~none|travel|~none|redis_memory|t{ending}"


def test_the_migration_summary_counts_threads_messages_and_problems() -> None:
    counts = {"migrated": 2, "already": 1, "conflict": 1, "not-a-list": 0, "unreadable": 1, "gone": 1}
    line = migration_summary({**counts, "messages": 7, "deleted": 3}, "lab11|v2|~none|travel|", False, True)
    assert line == (
        "3 threads (7 messages) migrated to 'lab11|v2|~none|travel|': 2 written, 1 already there; 3 sources deleted; "
        "2 not migrated (see above); 1 no longer there."
    )


def test_a_dry_runs_summary_says_nothing_was_written() -> None:
    counts = dict.fromkeys(("migrated", "already", "conflict", "not-a-list", "unreadable", "gone", "deleted"), 0)
    line = migration_summary({**counts, "migrated": 1, "messages": 1}, "p|", True, True)
    assert line == (
        "Dry run, nothing written: 1 thread (1 message) would be migrated to 'p|': 1 to write, 0 already there; "
        "1 source would be deleted."
    )
