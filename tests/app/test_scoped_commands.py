"""``lab11 migrate``, ``lab11 prune`` and the scope options, run as a user runs them.

Each test starts the real program with subprocess against a Valkey server of its own and judges
what the command did by reading the server. Migration: explicit threads and ``--all``, a dry run,
``--delete-source``, a second run, a stop by Ctrl-C and the run that finishes the job; a bad
argument or an unknown thread is one line, a non-zero exit and nothing written. Prune: the dry run,
the question, ``--yes``. The other commands on a scope: ``--application-id`` and friends, or the
settings.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from lab11_persistence.console import progress
from lab11_persistence.redis_history.keys import KeyLayout
from lab11_persistence.redis_history.migration import PAGE_SIZE, convert_entries
from tests.app.test_commands import INDEX, client, env, lab11, save_thread  # noqa: F401 (fixtures)
from tests.support.app_driver import APP, assert_clean, wait_for
from tests.support.messages import lab_entry

SCOPE = ["--application-id", "travel-app", "--tenant-id", "acme"]
TARGET = KeyLayout.resolve("lab11", tenant_id="acme", application_id="travel-app")
DAY = 86400


def everything(client: redis.Redis) -> dict[str, object]:  # noqa: F811 (the fixture's name, a plain client here)
    return {key: (client.type(key), client.dump(key)) for key in client.scan_iter(count=1000)}


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def seed(client: redis.Redis, count: int, *, score: float = 1_700_000_000) -> None:  # noqa: F811
    pipe = client.pipeline(transaction=False)
    for number in range(count):
        thread_id = f"thread_{number:05d}"
        pipe.rpush(
            f"lab11:{thread_id}", lab_entry("user", f"question {number}"), lab_entry("assistant", f"answer {number}")
        )
        pipe.zadd(INDEX, {thread_id: score + number})
    pipe.execute()


# -- migrate ----------------------------------------------------------------------------------


@pytest.mark.app
def test_migrate_named_threads_says_where_each_went(lab11, client: redis.Redis) -> None:  # noqa: F811
    save_thread(client, "thread_a", [lab_entry("user", "hi"), lab_entry("assistant", "hello")], 1_700_000_000)
    save_thread(client, "thread_b", [lab_entry("user", "hey")], 1_700_000_001)
    result = lab11("migrate", "thread_a", "lab11:thread_b", *SCOPE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"lab11:thread_a -> {TARGET.key('thread_a')} (2 messages): migrated",
        f"lab11:thread_b -> {TARGET.key('thread_b')} (1 message): migrated",
        "2 threads (3 messages) migrated to 'lab11|v2|acme|travel-app|~none|redis_memory|': "
        "2 written, 0 already there.",
    ]
    assert [json.loads(raw)["type"] for raw in client.lrange(TARGET.key("thread_a"), 0, -1)] == ["message"] * 2
    assert client.zscore(TARGET.index_key, "thread_b") == 1_700_000_001
    assert client.llen("lab11:thread_a") == 2  # kept without --delete-source


@pytest.mark.app
@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["thread_a"], "--application-id"),  # no target scope
        (["thread_a", "thread_nope", *SCOPE], "thread_nope"),
        (["thread_a", "--all", *SCOPE], "not both"),
        ([*SCOPE], "not both"),
        (["thread_a", "--tenant-id", "acme"], "--application-id"),
        (["thread_a", "--application-id", "app", "--tenant-id", ""], "tenant_id must be non-empty"),
    ],
)
def test_a_bad_argument_or_an_unknown_thread_writes_nothing(
    lab11,  # noqa: F811
    client: redis.Redis,  # noqa: F811
    arguments: list[str],
    says: str,
) -> None:
    save_thread(client, "thread_a", [lab_entry("user", "hi")], 1_700_000_000)
    before = everything(client)
    result = lab11("migrate", *arguments)
    assert result.returncode == 2
    assert says in one_line(result.stderr) and result.stderr.startswith("lab11")
    assert everything(client) == before


@pytest.mark.app
def test_a_dry_run_writes_nothing_and_says_what_a_run_would_do(lab11, client: redis.Redis) -> None:  # noqa: F811
    seed(client, 5)
    before = everything(client)
    result = lab11("migrate", "--all", "--delete-source", "--dry-run", *SCOPE)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Dry run, nothing written: 5 threads (10 messages) would be migrated to "
        "'lab11|v2|acme|travel-app|~none|redis_memory|': 5 to write, 0 already there; 5 sources would be deleted.\n"
    )
    assert everything(client) == before


@pytest.mark.app
def test_migrate_all_twice_then_delete_the_sources(lab11, client: redis.Redis) -> None:  # noqa: F811
    seed(client, 30)
    client.rpush("lab11:thread_corrupt", "{not json")
    first = lab11("migrate", "--all", *SCOPE)
    assert first.returncode == 2  # one thread could not be migrated: said on stderr, the rest done
    assert "lab11:thread_corrupt" in one_line(first.stderr) and "not a message" in first.stderr
    assert "30 threads (60 messages) migrated" in first.stdout and "1 not migrated" in first.stdout
    again = lab11("migrate", "--all", "--delete-source", *SCOPE)
    assert "30 threads (60 messages) migrated" in again.stdout
    assert "0 written, 30 already there; 30 sources deleted" in again.stdout
    assert sorted(client.scan_iter(match="lab11:*")) == ["lab11:thread_corrupt"]
    assert client.zcard(TARGET.index_key) == 30 and client.zcard(INDEX) == 0
    threads = lab11("threads", "--all", *SCOPE)
    assert threads.stdout.count("thread_") == 30


# The real program, with one seam: after its first page of threads, the migration says so (a file)
# and waits for the test's go-ahead (another file). The test uses that moment to pause the server's
# writes, so the Ctrl-C lands with the run certainly midway, however busy the machine is.
FIRST_PAGE_GATE = """
import asyncio, runpy, sys
from pathlib import Path
from lab11_persistence.redis_history import migration

gate, app, arguments = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
first_page = migration.migrate_threads


async def migrate_threads_then_wait_at_the_gate(*args, **kwargs):
    page = await first_page(*args, **kwargs)
    if not gate.exists():
        gate.write_text("first page done")
        while not gate.with_suffix(".open").exists():
            await asyncio.sleep(0.01)
    return page


migration.migrate_threads = migrate_threads_then_wait_at_the_gate
sys.argv = [app, *arguments]
runpy.run_path(app, run_name="__main__")
"""


@pytest.mark.app
def test_stopped_by_ctrl_c_every_thread_is_whole_and_the_next_run_finishes(
    client: redis.Redis,  # noqa: F811
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    count = 3 * PAGE_SIZE
    seed(client, count)
    arguments = ["migrate", "--all", "--delete-source", *SCOPE]
    gate = tmp_path / "gate"
    gated = [sys.executable, "-c", FIRST_PAGE_GATE, str(gate), str(APP), *arguments]
    run = subprocess.Popen(gated, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: gate.exists() or run.poll() is not None, timeout=120), "no page was migrated"
        assert run.poll() is None, run.communicate()
        client.client_pause(120_000, all=False)  # writes wait (reads go on): the run cannot finish now
        gate.with_suffix(".open").touch()
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
    finally:
        client.client_unpause()
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, out + err
    assert "interrupted after" in err and "run the same command again" in err
    assert_clean(out + err)

    ids = [f"thread_{number:05d}" for number in range(count)]
    sources, targets = _lists(client, [f"lab11:{i}" for i in ids]), _lists(client, [TARGET.key(i) for i in ids])
    migrated = sum(1 for target in targets if target)
    assert 0 < migrated < count, "the run was not stopped midway"
    for thread_id, source, target in zip(ids, sources, targets, strict=True):
        number = int(thread_id[-5:])
        original = [lab_entry("user", f"question {number}"), lab_entry("assistant", f"answer {number}")]
        assert target in ([], convert_entries(original)), thread_id  # whole, or not there at all
        assert source in ([], original) and (source or target), thread_id  # a source goes only once copied

    command = [sys.executable, str(APP), *arguments]
    finish = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0, finish.stderr
    assert "sources deleted" in finish.stdout
    assert client.zcard(TARGET.index_key) == count
    assert not list(client.scan_iter(match="lab11:*", count=1000))


def _lists(client: redis.Redis, keys: list[str]) -> list[list[str]]:  # noqa: F811
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.lrange(key, 0, -1)
    return pipe.execute()


@pytest.mark.fast
def test_progress_is_shown_once_a_run_takes_more_than_a_second(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = iter([100.0, 100.5, 101.5, 101.7, 103.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    shown = progress.Progress(None, "migrated")
    for done in (500, 1000, 1500, 2000):
        shown.update(done)
    assert capsys.readouterr().err.splitlines() == ["migrated 1,000 threads", "migrated 2,000 threads"]


# -- prune ------------------------------------------------------------------------------------


@pytest.mark.app
def test_prune_dry_run_lists_then_yes_deletes(lab11, client: redis.Redis) -> None:  # noqa: F811
    now = time.time()
    save_thread(client, "thread_old", [lab_entry("user", "long ago")], now - 40 * DAY)
    save_thread(client, "thread_new", [lab_entry("user", "yesterday"), lab_entry("assistant", "ok")], now - DAY)
    before = everything(client)
    dry = lab11("prune", "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0].startswith("lab11:thread_old  1 message, last used ") and len(lines) == 2
    assert lines[1].startswith("Dry run, nothing deleted: would delete 1 thread (1 message) under 'lab11:'")
    assert everything(client) == before
    kept = lab11("prune", "--older-than", "30d", stdin="n\n")
    assert (
        kept.stdout.startswith("Delete 1 thread under 'lab11:' last used before ") and "Nothing deleted." in kept.stdout
    )
    assert everything(client) == before
    done = lab11("prune", "--older-than", "720h", "--yes")
    assert done.returncode == 0 and done.stdout.startswith("Deleted 1 thread (1 message) under 'lab11:'")
    assert client.exists("lab11:thread_old") == 0 and client.llen("lab11:thread_new") == 2
    assert lab11("prune", "--older-than", "30d").stdout.startswith("No threads under 'lab11:' last used before")


@pytest.mark.app
def test_prune_works_on_one_scope_only(lab11, client: redis.Redis) -> None:  # noqa: F811
    old = time.time() - 90 * DAY
    save_thread(client, "thread_lab", [lab_entry("user", "mine")], old)
    other = KeyLayout.resolve("lab11", tenant_id="globex", application_id="travel-app")
    for layout in (TARGET, other):
        client.rpush(layout.key("thread_s"), lab_entry("user", "scoped"))
        client.zadd(layout.index_key, {"thread_s": old})
    result = lab11("prune", "--older-than", "30d", "--yes", *SCOPE)
    assert result.returncode == 0 and "Deleted 1 thread" in result.stdout
    assert client.exists(TARGET.key("thread_s")) == 0
    assert client.exists(other.key("thread_s"), "lab11:thread_lab") == 2


@pytest.mark.app
@pytest.mark.parametrize("age", ["30", "0d", "-1d", "30x", "d", "1.5d"])
def test_a_bad_age_is_one_line_and_deletes_nothing(lab11, client: redis.Redis, age: str) -> None:  # noqa: F811
    save_thread(client, "thread_old", [lab_entry("user", "long ago")], 1_000)
    result = lab11("prune", "--older-than", age, "--yes")
    assert result.returncode == 2 and "--older-than" in one_line(result.stderr)
    assert client.exists("lab11:thread_old") == 1


# -- the other commands, on a scope ------------------------------------------------------------


@pytest.mark.app
def test_every_command_works_on_the_scope_the_settings_or_options_name(
    lab11,  # noqa: F811
    client: redis.Redis,  # noqa: F811
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    save_thread(client, "thread_lab", [lab_entry("user", "in the lab's layout")], 1_700_000_000)
    assert lab11("migrate", "thread_lab", *SCOPE).returncode == 0
    key = TARGET.key("thread_lab")
    env.update(LAB11_APPLICATION_ID="travel-app", LAB11_TENANT_ID="acme")  # the settings name the same scope
    listed = lab11("threads")
    assert "thread_lab" in listed.stdout and "in the lab's layout" in listed.stdout
    assert json.loads(lab11("threads", "--json").stdout)[0]["key"] == key
    assert f"History of {key} (1 message" in lab11("show", key).stdout
    export = tmp_path / "acme.jsonl"
    assert lab11("export", "--all", "-o", str(export)).returncode == 0
    imported = lab11("import", str(export), "--tenant-id", "globex")  # an option overrides its setting
    assert imported.returncode == 0, imported.stderr
    globex = KeyLayout.resolve("lab11", tenant_id="globex", application_id="travel-app")
    assert client.lrange(globex.key("thread_lab"), 0, -1) == client.lrange(key, 0, -1)
    assert lab11("delete", "--yes", "1").stdout == f"Deleted {key}.\n"
    assert client.exists(key) == 0 and client.exists(globex.key("thread_lab"), "lab11:thread_lab") == 2
    env.pop("LAB11_APPLICATION_ID")
    result = lab11("threads")  # LAB11_TENANT_ID alone
    assert result.returncode == 2 and "LAB11_APPLICATION_ID" in one_line(result.stderr)
