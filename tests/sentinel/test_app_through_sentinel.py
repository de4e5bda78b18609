"""The app and its commands on ``REDIS_URL=redis+sentinel://...``: the menu, ``lab11 threads`` and ``lab11 show``
through the sentinels; with LAB11_MIN_REPLICAS, the start-up check, a turn no replica confirmed (one line under
the reply, nothing resent, the thread goes on) and an import that counts such threads."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab11_persistence.redis_history.sealing import is_sealed
from tests.support.app_driver import APP, LabApp, assert_clean
from tests.support.app_driver import app_env as clean_env
from tests.support.encryption_keys import key_entry
from tests.support.sentinel import SentinelDeployment

pytestmark = pytest.mark.sentinel

KEY = key_entry("sentinel")
UNCONFIRMED = "saved on the primary but confirmed by 0 of 1 replica in time"


def entry(text: str, role: str = "user") -> str:
    return json.dumps(
        {"type": "chat_message", "role": {"type": "role", "value": role}, "contents": [{"type": "text", "text": text}]}
    )


@pytest.fixture
def env(tmp_path: Path, sentinel: SentinelDeployment) -> dict[str, str]:
    return clean_env(tmp_path / "home", tmp_path / "data", REDIS_URL=sentinel.url())


@pytest.fixture
def lab11(env: dict[str, str], tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(APP), *args],
            env={**env, **extra_env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
        )

    return run


@pytest.fixture
def start_app(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., LabApp]]:
    started: list[LabApp] = []

    def start(**extra_env: str) -> LabApp:
        app = LabApp({**env, **extra_env}, tmp_path)
        started.append(app)
        return app

    yield start
    for app in started:
        app.kill()


def seed(sentinel: SentinelDeployment, thread_id: str, texts: list[str]) -> None:
    with sentinel.primary.client() as client:
        client.delete(f"lab11:{thread_id}")
        client.rpush(f"lab11:{thread_id}", *[entry(text) for text in texts])
        client.zadd("lab11.recent-threads", {thread_id: 4_000_000_000})


def test_threads_and_show_read_the_primary_the_sentinels_name(
    sentinel: SentinelDeployment, lab11: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    seed(sentinel, "thread_through_sentinel", ["I want to go to Lisbon.", "With my sister."])

    listed = lab11("threads")
    shown = lab11("show", "thread_through_sentinel")

    assert listed.returncode == 0, listed.stderr
    assert "thread_through_sentinel" in listed.stdout.splitlines()[1]  # the most recent, first
    assert shown.returncode == 0, shown.stderr
    assert "I want to go to Lisbon." in shown.stdout and "With my sister." in shown.stdout


def test_the_app_saves_a_turn_on_the_primary_the_sentinels_name(
    sentinel: SentinelDeployment, start_app: Callable[..., LabApp]
) -> None:
    app = start_app()
    key = app.menu()

    reply = app.say("My name is Ada and I want to go to Lisbon.")
    status = app.exit()

    assert reply and status == 0
    assert "via sentinels" in app.transcript  # the start-up line names the service and its sentinels
    with sentinel.primary.client() as client:
        assert len(client.lrange(key, 0, -1)) == 2
    assert_clean(app.transcript)


def test_a_turn_no_replica_confirmed_is_one_line_under_the_reply_and_the_thread_goes_on(
    sentinel: SentinelDeployment, start_app: Callable[..., LabApp]
) -> None:
    app = start_app(LAB11_MIN_REPLICAS="1", LAB11_REPLICA_TIMEOUT_MS="200")
    key = app.menu()
    app.say("My name is Ada.")
    sentinel.replica.pause()

    reply = app.say("I want to go to Lisbon.")
    shown_after_reply = app.transcript.split(reply, 1)[1]
    sentinel.replica.resume()
    app.say("What is my name?")
    status = app.exit()

    assert UNCONFIRMED in shown_after_reply and "not sent again" in shown_after_reply
    lines_about_it = [line for line in shown_after_reply.splitlines() if "replica" in line]
    assert len(lines_about_it) == 1
    with sentinel.primary.client() as client:
        stored = client.lrange(key, 0, -1)
    assert len(stored) == 6  # three turns, each once: the unconfirmed one was not sent again
    assert status == 0
    assert_clean(app.transcript)


def test_with_more_replicas_asked_than_the_primary_has_the_app_says_so_in_one_line_and_exits_2(
    lab11: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = lab11(LAB11_MIN_REPLICAS="2")

    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 2
    assert any("LAB11_MIN_REPLICAS=2" in line and "1 replica connected" in line for line in lines), lines
    assert_clean(result.stdout + result.stderr)


def test_a_command_with_more_replicas_asked_than_the_primary_has_exits_2(
    lab11: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = lab11("threads", LAB11_MIN_REPLICAS="2")

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "LAB11_MIN_REPLICAS=2" in result.stderr


def test_an_import_no_replica_confirmed_counts_the_threads_and_exits_non_zero(
    sentinel: SentinelDeployment, lab11: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    seed(sentinel, "thread_to_import_a", ["First."])
    seed(sentinel, "thread_to_import_b", ["Second."])
    exported = tmp_path / "threads.jsonl"
    assert lab11("export", "thread_to_import_a", "thread_to_import_b", "-o", str(exported)).returncode == 0
    sentinel.replica.pause()

    result = lab11("import", str(exported), "--replace", LAB11_MIN_REPLICAS="1", LAB11_REPLICA_TIMEOUT_MS="200")

    assert result.returncode == 1
    assert "2 threads written on the primary but not confirmed by 1 replica" in result.stderr
    assert_clean(result.stderr)


def test_a_rekey_no_replica_confirmed_counts_the_threads_and_exits_non_zero(
    sentinel: SentinelDeployment, lab11: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    seed(sentinel, "thread_to_rekey", ["Seal me."])
    sentinel.replica.pause()

    result = lab11(
        "rekey", "thread_to_rekey", LAB11_ENCRYPTION_KEYS=KEY, LAB11_MIN_REPLICAS="1", LAB11_REPLICA_TIMEOUT_MS="200"
    )

    assert result.returncode == 1, result.stderr
    assert "thread_to_rekey: rekeyed (1 entry); confirmed by 0 replicas only" in result.stdout
    assert "1 thread rekeyed on the primary but not confirmed by 1 replica" in result.stderr
    assert "would be back as they were" in result.stderr and "Keep the old key" in result.stderr
    with sentinel.primary.client() as client:
        sealed = client.lindex("lab11:thread_to_rekey", 0)
        client.delete("lab11:thread_to_rekey")  # sealed under a key the module's other tests do not hold
        client.zrem("lab11.recent-threads", "thread_to_rekey")
    assert is_sealed(sealed)  # rewritten on the primary all the same
    assert_clean(result.stdout + result.stderr)
    assert KEY.split(":", 1)[1] not in result.stdout + result.stderr


def test_a_delete_no_replica_confirmed_says_so_and_exits_non_zero(
    sentinel: SentinelDeployment, lab11: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    seed(sentinel, "thread_to_delete", ["Forget me."])
    sentinel.replica.pause()

    result = lab11("delete", "thread_to_delete", "--yes", LAB11_MIN_REPLICAS="1", LAB11_REPLICA_TIMEOUT_MS="200")

    assert result.returncode == 1, result.stderr
    assert "Deleted lab11:thread_to_delete (on the primary; not confirmed by its replicas)." in result.stdout
    assert "1 thread deleted on the primary but not confirmed by 1 replica" in result.stderr
    assert "they would come back" in result.stderr and result.stderr.count("\n") == 1
    with sentinel.primary.client() as client:
        assert client.exists("lab11:thread_to_delete") == 0


def test_a_prune_no_replica_confirmed_counts_the_threads_and_exits_non_zero(
    sentinel: SentinelDeployment, lab11: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    seed(sentinel, "thread_long_idle", ["Old news."])
    with sentinel.primary.client() as client:
        client.zadd("lab11.recent-threads", {"thread_long_idle": 1_000_000_000})  # 2001
    sentinel.replica.pause()

    result = lab11("prune", "--older-than", "365d", "--yes", LAB11_MIN_REPLICAS="1", LAB11_REPLICA_TIMEOUT_MS="200")

    assert result.returncode == 1, result.stderr
    assert "Deleted 1 thread (1 message)" in result.stdout
    assert "1 thread deleted on the primary but not confirmed by 1 replica" in result.stderr
    with sentinel.primary.client() as client:
        assert client.exists("lab11:thread_long_idle") == 0


def test_menu_option_5_says_a_deletion_no_replica_confirmed_in_one_line(
    sentinel: SentinelDeployment, start_app: Callable[..., LabApp]
) -> None:
    seed(sentinel, "thread_from_the_menu", ["Forget me too."])
    app = start_app(LAB11_MIN_REPLICAS="1", LAB11_REPLICA_TIMEOUT_MS="200")
    app.menu()
    sentinel.replica.pause()

    app.choose("5")
    app.expect_exact("Delete which thread?")
    app.send("1")
    app.expect_exact("(y/N): ")
    app.send("y")
    app.menu()
    status = app.exit()

    said = app.transcript.rsplit("(y/N): ", 1)[1]
    assert "The thread is deleted on the primary but confirmed by 0 of 1 replica in time" in said
    assert len([line for line in said.splitlines() if "replica" in line]) == 1
    assert status == 0
    assert_clean(app.transcript)


def test_a_bad_sentinel_url_is_one_line(lab11: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    result = lab11("threads", REDIS_URL="redis+sentinel://app:s3cret-pw@127.0.0.1:1")

    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "service name" in result.stderr
    assert "s3cret" not in result.stdout + result.stderr


def test_a_migration_no_replica_confirmed_counts_the_threads_keeps_their_sources_and_exits_non_zero(
    sentinel: SentinelDeployment, lab11: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    seed(sentinel, "thread_to_migrate", ["Move me."])
    sentinel.replica.pause()

    result = lab11(
        "migrate",
        "thread_to_migrate",
        "--application-id",
        "bench-app",
        "--delete-source",
        LAB11_MIN_REPLICAS="1",
        LAB11_REPLICA_TIMEOUT_MS="200",
    )

    assert result.returncode == 1, result.stderr
    assert "1 thread written on the primary but not confirmed by 1 replica" in result.stderr
    with sentinel.primary.client() as client:
        assert client.llen("lab11:thread_to_migrate") == 1  # the source is kept
    assert_clean(result.stdout + result.stderr)
