"""The subcommands (``app.py threads | show | export | import | delete``), run as a user runs them.

Each test starts the real program with subprocess against a Valkey server of its own (REDIS_URL),
and reads the server directly to judge what the command did.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.support.app_driver import APP, LabApp, assert_clean, run_app
from tests.support.app_driver import app_env as clean_env
from tests.support.messages import lab_entry
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.app

INDEX = "lab11.recent-threads"
ESCAPES = "\x1b]0;TITLE\x07\x1b[2J\rOVERWRITE"


@pytest.fixture
def env(tmp_path: Path, redis_server: ValkeyProcess) -> dict[str, str]:
    return clean_env(tmp_path / "home", tmp_path / "data", REDIS_URL=redis_server.url)


@pytest.fixture
def client(redis_server: ValkeyProcess) -> redis.Redis:
    return redis_server.client()


@pytest.fixture
def lab11(env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run ``python app.py ARGS...``; returns the CompletedProcess (stdout and stderr as text)."""

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return run_app(env, tmp_path, *args, stdin=stdin)

    return run


def save_thread(client: redis.Redis, thread_id: str, entries: list[str], last_used: float) -> None:
    client.rpush(f"lab11:{thread_id}", *entries)
    client.zadd(INDEX, {thread_id: last_used})


def snapshot(client: redis.Redis) -> tuple[dict[str, list[str]], list[tuple[str, float]]]:
    """Every thread's entries and the whole index."""
    threads = {key: client.lrange(key, 0, -1) for key in client.scan_iter(match="lab11:*", count=1000)}
    return threads, client.zrange(INDEX, 0, -1, withscores=True)


def seed_many(client: redis.Redis, count: int) -> None:
    pipe = client.pipeline(transaction=False)
    for number in range(count):
        thread_id = f"thread_{number:05d}"
        pipe.rpush(
            f"lab11:{thread_id}", lab_entry("user", f"question {number}"), lab_entry("assistant", f"answer {number}")
        )
        pipe.zadd(INDEX, {thread_id: 1_700_000_000 + number + 0.123456})
    pipe.rpush("lab11:thread_00007", "{corrupt: not json")
    pipe.execute()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert_clean(text)
    return lines[0]


def test_export_all_then_import_into_a_flushed_server_restores_every_key_entry_and_the_index(
    lab11, client: redis.Redis, tmp_path: Path
) -> None:
    seed_many(client, 1000)
    before = snapshot(client)
    export = tmp_path / "threads.jsonl"

    exported = lab11("export", "--all", "-o", str(export))
    assert exported.returncode == 0, exported.stderr
    assert len(export.read_text().splitlines()) == 1000
    client.flushall()
    imported = lab11("import", str(export))

    assert imported.returncode == 0, imported.stderr
    assert snapshot(client) == before
    assert "{corrupt: not json" in client.lrange("lab11:thread_00007", 0, -1)


def test_the_export_file_is_private_to_its_user(lab11, client: redis.Redis, tmp_path: Path) -> None:
    save_thread(client, "thread_a", [lab_entry("user", "hello")], 1_700_000_000)
    export = tmp_path / "a.jsonl"

    assert lab11("export", "thread_a", "-o", str(export)).returncode == 0

    assert stat.S_IMODE(export.stat().st_mode) == 0o600


def test_importing_the_same_file_twice_changes_nothing(lab11, client: redis.Redis, tmp_path: Path) -> None:
    seed_many(client, 50)
    export = tmp_path / "threads.jsonl"
    lab11("export", "--all", "-o", str(export))
    client.flushall()
    lab11("import", str(export))
    after_first = snapshot(client)

    second = lab11("import", str(export))

    assert second.returncode == 0, second.stderr
    assert snapshot(client) == after_first
    assert "0 written, 50 already there and kept" in second.stdout


def test_import_keeps_a_thread_that_holds_messages_unless_replace(lab11, client: redis.Redis, tmp_path: Path) -> None:
    exported_entries = [lab_entry("user", "as exported")]
    save_thread(client, "thread_a", exported_entries, 1_700_000_000)
    export = tmp_path / "a.jsonl"
    lab11("export", "thread_a", "-o", str(export))
    client.rpush("lab11:thread_a", lab_entry("assistant", "written after the export"))
    newer = client.lrange("lab11:thread_a", 0, -1)

    lab11("import", str(export))
    assert client.lrange("lab11:thread_a", 0, -1) == newer
    replaced = lab11("import", "--replace", str(export))

    assert replaced.returncode == 0, replaced.stderr
    assert client.lrange("lab11:thread_a", 0, -1) == exported_entries
    assert client.zscore(INDEX, "thread_a") == 1_700_000_000


def test_show_finds_a_thread_by_number_by_id_and_by_key(lab11, client: redis.Redis) -> None:
    save_thread(client, "thread_old", [lab_entry("user", "older thread")], 1_700_000_000)
    save_thread(
        client, "thread_new", [lab_entry("user", "I'm Ana"), lab_entry("assistant", "Hello Ana")], 1_700_000_100
    )

    shown = [lab11("show", thread).stdout for thread in ("1", "thread_new", "lab11:thread_new")]

    assert shown[0] == shown[1] == shown[2]
    assert shown[0].splitlines() == [
        "History of lab11:thread_new (2 messages, oldest first):",
        "1. user: I'm Ana",
        "2. assistant: Hello Ana",
    ]
    assert "older thread" in lab11("show", "2").stdout


def test_threads_lists_the_most_recent_first_with_count_and_first_words(lab11, client: redis.Redis) -> None:
    save_thread(client, "thread_old", [lab_entry("user", "older thread")], 1_700_000_000)
    save_thread(client, "thread_new", [lab_entry("user", "I'm Ana"), lab_entry("assistant", "Hi")], 1_700_000_100)

    rows = lab11("threads").stdout.splitlines()[1:]

    assert rows[0].split()[:3] == ["1", "thread_new", "2"]
    assert rows[0].endswith('"I\'m Ana"')
    assert rows[1].split()[:3] == ["2", "thread_old", "1"]
    assert len(lab11("threads", "--limit", "1").stdout.splitlines()) == 2  # heading and one row


def test_json_output_is_only_the_json_document(lab11, client: redis.Redis) -> None:
    save_thread(client, "thread_a", [lab_entry("user", "hello"), "not json"], 1_700_000_000)

    listed = json.loads(lab11("threads", "--json").stdout)
    shown = json.loads(lab11("show", "thread_a", "--json").stdout)

    assert listed[0]["thread_id"] == "thread_a"
    assert listed[0]["message_count"] == 2
    assert shown[0]["contents"][0]["text"] == "hello"
    assert shown[1] == "not json"


def test_a_stored_escape_sequence_is_shown_inert_by_show_and_threads(lab11, client: redis.Redis) -> None:
    save_thread(client, "thread_evil", [lab_entry("user", ESCAPES)], 1_700_000_000)

    outputs = [
        lab11(*command).stdout for command in (("show", "1"), ("threads",), ("export", "1", "--format", "markdown"))
    ]

    for output in outputs:
        assert "\x1b" not in output and "\x07" not in output and "\r" not in output
        assert "\\x1b]0;TITLE\\x07\\x1b[2J" in output


def test_delete_removes_the_thread_from_threads_and_from_the_menu(
    lab11, client: redis.Redis, env: dict[str, str], tmp_path: Path
) -> None:
    save_thread(client, "thread_keep", [lab_entry("user", "keep me")], 1_700_000_000)
    save_thread(client, "thread_gone", [lab_entry("user", "forget me")], 1_700_000_100)

    deleted = lab11("delete", "thread_gone", "--yes")

    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == "Deleted lab11:thread_gone.\n"
    assert client.exists("lab11:thread_gone") == 0
    assert client.zscore(INDEX, "thread_gone") is None
    assert "thread_gone" not in lab11("threads").stdout
    app = LabApp(env, tmp_path)
    try:
        app.menu()
        app.choose("3")
        app.expect_exact("Load which thread?")
        assert "lab11:thread_keep" in app.transcript
        assert "thread_gone" not in app.transcript
    finally:
        app.kill()


def test_delete_asks_first_and_no_answer_deletes_nothing(lab11, client: redis.Redis) -> None:
    save_thread(client, "thread_a", [lab_entry("user", "hello")], 1_700_000_000)

    refused = lab11("delete", "thread_a", stdin="n\n")
    unanswered = lab11("delete", "thread_a")

    assert refused.stdout == "Delete lab11:thread_a and its 1 message? (y/N): Nothing deleted.\n"
    assert refused.returncode == 0
    assert unanswered.returncode == 2
    assert client.exists("lab11:thread_a") == 1


def test_one_ctrl_c_at_the_delete_question_ends_the_command_and_deletes_nothing(
    client: redis.Redis, env: dict[str, str], tmp_path: Path
) -> None:
    save_thread(client, "thread_a", [lab_entry("user", "hello")], 1_700_000_000)
    app = LabApp(env, tmp_path, argv=[sys.executable, str(APP), "delete", "thread_a"])
    try:
        app.expect_exact("(y/N): ")
        app.child.sendintr()
        assert app.finish() == 130
    finally:
        app.kill()
    assert client.exists("lab11:thread_a") == 1
    assert_clean(app.transcript)


def test_an_unknown_thread_is_one_line_and_exit_status_2(lab11, client: redis.Redis) -> None:
    save_thread(client, "thread_a", [lab_entry("user", "hello")], 1_700_000_000)

    for command in (("delete", "thread_a", "thread_nope", "--yes"), ("show", "thread_nope"), ("show", "9")):
        result = lab11(*command)
        assert result.returncode == 2
        assert "thread_nope" in one_line(result.stderr) or "number 9" in result.stderr
    assert client.exists("lab11:thread_a") == 1  # nothing deleted when one of them is unknown


GOOD_LINE = json.dumps({"key": "lab11:t1", "thread_id": "t1", "entries": [lab_entry("user", "hi")], "last_used": 1.5})


@pytest.mark.parametrize(
    ("content", "line"),
    [
        pytest.param("user,message\nAna,hello\n", 1, id="not JSON Lines"),
        pytest.param(GOOD_LINE + "\n" + GOOD_LINE.replace("t1", "t2")[:-10], 2, id="truncated last line"),
        pytest.param(GOOD_LINE + "\n" + json.dumps({"key": "lab11:t3", "entries": "hi"}) + "\n", 2, id="wrong shape"),
        pytest.param(GOOD_LINE + "\n" + json.dumps([1, 2]) + "\n", 2, id="not an object"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_line_and_nothing_is_written(
    lab11, client: redis.Redis, tmp_path: Path, content: str, line: int
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content, encoding="utf-8")

    result = lab11("import", str(bad))

    assert result.returncode == 2
    assert f"line {line}" in one_line(result.stderr)
    assert client.dbsize() == 0


def test_redis_unavailable_is_one_line_and_exit_status_1(tmp_path: Path) -> None:
    from tests.support.valkey import free_port

    env = clean_env(tmp_path / "home", tmp_path / "data", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")

    result = subprocess.run([sys.executable, str(APP), "threads"], env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 1
    assert "Redis" in one_line(result.stderr)


def test_the_commands_do_not_load_the_agent_framework() -> None:
    probe = (
        "import sys, app, lab11_persistence.console.commands, lab11_persistence.redis_history.archive;"
        "sys.exit('agent_framework' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=APP.parent, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr


def test_menu_option_5_asks_the_same_question_as_delete(
    client: redis.Redis, env: dict[str, str], tmp_path: Path
) -> None:
    save_thread(client, "thread_a", [lab_entry("user", "hello")], 1_700_000_000)
    app = LabApp(env, tmp_path)
    try:
        app.menu()
        app.choose("5")
        app.expect_exact("Delete which thread?")
        app.send("1")
        app.expect_exact("Delete lab11:thread_a and its 1 message? (y/N): ")
        app.send("y")
        app.expect_exact("Deleted lab11:thread_a.")
        app.menu()
    finally:
        app.kill()
    assert client.exists("lab11:thread_a") == 0
    assert client.zscore(INDEX, "thread_a") is None


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        pytest.param("thraeds", "'thraeds' is not a command; did you mean 'threads'?", id="a typo"),
        pytest.param("frobnicate", "'frobnicate' is not a command (commands: threads, show, export", id="no near one"),
    ],
)
def test_a_word_that_is_not_a_command_is_one_line_and_exit_status_2_not_the_menu(
    lab11, client: redis.Redis, typed: str, said: str
) -> None:
    result = lab11(typed, stdin="0\n")

    assert result.returncode == 2
    assert said in one_line(result.stderr)
    assert result.stdout == ""  # no menu


def test_an_option_of_the_app_still_starts_the_menu_not_a_command(lab11, client: redis.Redis) -> None:
    result = lab11("--framework", "1.x", stdin="0\n")

    assert "is not a command" not in result.stdout + result.stderr
