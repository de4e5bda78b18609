"""Issue 24's commands as a user runs them (``app.py new-key | rekey | export | import | migrate | show``), each
against a Valkey server of its own, judged by reading the server and the files directly."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from lab11_persistence.redis_history.sealing import Keyring, is_sealed, key_id_of
from tests.support.app_driver import APP, assert_clean, run_app, wait_for
from tests.support.app_driver import app_env as clean_env
from tests.support.messages import lab_entry
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.app

INDEX = "lab11.recent-threads"
FACT = "my passport number is X1234567"


def lab11(env: dict[str, str], cwd: Path, *args: str, keys: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**env, **({"LAB11_ENCRYPTION_KEYS": keys} if keys is not None else {})}
    return run_app(env, cwd, *args)


def new_key(env: dict[str, str], cwd: Path, key_id: str) -> str:
    printed = lab11(env, cwd, "new-key", key_id)
    assert printed.returncode == 0, printed.stderr
    return printed.stdout.strip()


@pytest.fixture
def env(tmp_path: Path, redis_server: ValkeyProcess) -> dict[str, str]:
    return clean_env(tmp_path / "home", tmp_path / "data", REDIS_URL=redis_server.url)


@pytest.fixture
def client(redis_server: ValkeyProcess) -> redis.Redis:
    return redis_server.client()


def export_line(thread_id: str, entries: list[str]) -> str:
    """One thread of a lab11 export, as ``lab11 export`` writes it from the lab's keys."""
    record = {"key": f"lab11:{thread_id}", "thread_id": thread_id, "entries": entries, "last_used": None}
    return json.dumps({**record, "summary": None}) + "\n"


def seal(keys: str, thread_id: str, *entries: str) -> list[str]:
    return [Keyring.parse(keys).seal(item, f"lab11:{thread_id}") for item in entries]


def test_new_key_prints_an_entry_the_setting_takes(env: dict[str, str], tmp_path: Path) -> None:
    printed = new_key(env, tmp_path, "2026-12")

    assert printed.startswith("2026-12:") and Keyring.parse(printed).key_ids == ("2026-12",)
    assert new_key(env, tmp_path, "2026-12") != printed  # fresh random bytes each time


def test_a_malformed_setting_is_one_line_naming_it_with_exit_status_2(env: dict[str, str], tmp_path: Path) -> None:
    secret = "k1:" + "s3cr3tK3yMaterial" * 3
    for value in (secret, "no-colon-here", f"{secret},{secret}"):
        result = lab11(env, tmp_path, "threads", keys=value)

        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "LAB11_ENCRYPTION_KEYS" in result.stderr, result.stderr
        assert "s3cr3tK3yMaterial" not in result.stderr + result.stdout


def test_a_mixed_thread_then_rekey_all_seals_everything_under_the_first_key(
    env: dict[str, str], tmp_path: Path, client: redis.Redis
) -> None:
    old, new = new_key(env, tmp_path, "old"), new_key(env, tmp_path, "new")
    client.rpush("lab11:thread_m", lab_entry("user", FACT), *seal(old, "thread_m", lab_entry("assistant", "noted")))
    client.zadd(INDEX, {"thread_m": 1_700_000_000.0})
    both = f"{new},{old}"

    dry = lab11(env, tmp_path, "rekey", "--all", "--dry-run", keys=both)
    assert dry.returncode == 0 and "1 thread (2 entries) would be rekeyed" in dry.stdout, dry.stdout + dry.stderr
    assert not is_sealed(client.lindex("lab11:thread_m", 0))

    done = lab11(env, tmp_path, "rekey", "--all", keys=both)
    assert done.returncode == 0 and "1 thread (2 entries) rekeyed under key 'new'" in done.stdout, done.stdout
    assert {key_id_of(stored) for stored in client.lrange("lab11:thread_m", 0, -1)} == {"new"}

    again = lab11(env, tmp_path, "rekey", "--all", keys=both)
    assert "0 threads (0 entries) rekeyed under key 'new', 1 already under it" in again.stdout, again.stdout
    shown = lab11(env, tmp_path, "show", "thread_m", keys=new)  # the old key dropped
    assert shown.returncode == 0 and FACT in shown.stdout and "2. assistant: noted" in shown.stdout, shown.stdout


def test_a_missing_key_is_one_line_naming_it_and_nothing_changes(
    env: dict[str, str], tmp_path: Path, client: redis.Redis
) -> None:
    old, new = new_key(env, tmp_path, "old"), new_key(env, tmp_path, "new")
    client.rpush("lab11:thread_k", *seal(old, "thread_k", lab_entry("user", FACT)))
    client.zadd(INDEX, {"thread_k": 1_700_000_000.0})
    before = client.lrange("lab11:thread_k", 0, -1)

    for command in (["show", "thread_k"], ["rekey", "thread_k"], ["export", "--decrypt", "thread_k"], ["threads"]):
        result = lab11(env, tmp_path, *command, keys=new)

        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1 and "'old'" in result.stderr, result.stderr
        assert_clean(result.stderr)
        assert client.lrange("lab11:thread_k", 0, -1) == before


def test_export_writes_sealed_entries_and_decrypt_writes_plaintext_both_imported(
    env: dict[str, str], tmp_path: Path, client: redis.Redis
) -> None:
    key = new_key(env, tmp_path, "k1")
    client.rpush("lab11:thread_e", *seal(key, "thread_e", lab_entry("user", FACT), lab_entry("assistant", "noted")))
    client.zadd(INDEX, {"thread_e": 1_700_000_000.0})
    sealed_file, plain_file = tmp_path / "sealed.jsonl", tmp_path / "plain.jsonl"

    assert lab11(env, tmp_path, "export", "--all", "-o", str(sealed_file), keys=key).returncode == 0
    assert lab11(env, tmp_path, "export", "--all", "--decrypt", "-o", str(plain_file), keys=key).returncode == 0

    assert "X1234567" not in sealed_file.read_text() and "lab11-sealed:v1:k1:" in sealed_file.read_text()
    assert "X1234567" in plain_file.read_text() and "lab11-sealed" not in plain_file.read_text()
    assert stat.S_IMODE(plain_file.stat().st_mode) == 0o600
    for export in (sealed_file, plain_file):
        client.delete("lab11:thread_e")
        imported = lab11(env, tmp_path, "import", str(export), keys=key)
        assert imported.returncode == 0, imported.stderr
        assert all(map(is_sealed, client.lrange("lab11:thread_e", 0, -1)))  # a plaintext export is sealed again
        shown = lab11(env, tmp_path, "show", "thread_e", keys=key)
        assert FACT in shown.stdout, shown.stdout + shown.stderr


def test_migrate_needs_decrypt_for_a_sealed_thread(env: dict[str, str], tmp_path: Path, client: redis.Redis) -> None:
    key = new_key(env, tmp_path, "k1")
    client.rpush("lab11:thread_g", *seal(key, "thread_g", lab_entry("user", FACT)))
    client.rpush("lab11:thread_p", lab_entry("user", "plaintext thread"))
    scoped = ["--application-id", "travel-app"]

    refused = lab11(env, tmp_path, "migrate", "--all", *scoped, keys=key)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "--decrypt" in refused.stderr and "thread_g" in refused.stderr
    assert not list(client.scan_iter(match="lab11|*"))  # nothing written, not even the plaintext thread

    done = lab11(env, tmp_path, "migrate", "--all", "--decrypt", *scoped, keys=key)
    assert done.returncode == 0, done.stdout + done.stderr
    [target] = [name for name in client.scan_iter(match="lab11|*thread_g", _type="list")]
    assert FACT in client.lindex(target, 0)  # plaintext: Microsoft's provider reads it


def test_an_export_imported_into_another_scope_is_sealed_again_for_its_new_key(
    env: dict[str, str], tmp_path: Path, client: redis.Redis
) -> None:
    key, other = new_key(env, tmp_path, "k1"), new_key(env, tmp_path, "k2")
    export = tmp_path / "lab.jsonl"
    lines = [export_line(f"thread_{number:03d}", [lab_entry("user", "plaintext")]) for number in range(250)]
    lines.append(export_line("thread_x", seal(key, "thread_x", lab_entry("user", FACT))))  # after the first batch
    export.write_text("".join(lines))
    scoped = ["--application-id", "travel-app"]

    refused = lab11(env, tmp_path, "import", str(export), *scoped, keys=other)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "'k1'" in refused.stderr, refused.stderr
    assert not list(client.scan_iter(match="lab11|*"))  # checked before anything was written

    imported = lab11(env, tmp_path, "import", str(export), *scoped, keys=f"{other},{key}")
    assert imported.returncode == 0, imported.stderr
    [target] = list(client.scan_iter(match="lab11|*thread_x", _type="list"))
    assert key_id_of(client.lindex(target, 0)) == "k2"
    shown = lab11(env, tmp_path, "show", "thread_x", *scoped, keys=other)
    assert FACT in shown.stdout, shown.stdout + shown.stderr


def test_rekey_stopped_by_ctrl_c_leaves_every_thread_whole_and_the_next_run_finishes(
    env: dict[str, str], tmp_path: Path, client: redis.Redis
) -> None:
    count = 20_000
    for start in range(0, count, 2000):
        pipe = client.pipeline(transaction=False)
        for number in range(start, start + 2000):
            pipe.rpush(
                f"lab11:thread_{number:05d}", lab_entry("user", f"q{number}"), lab_entry("assistant", f"a{number}")
            )
            pipe.zadd(INDEX, {f"thread_{number:05d}": 1_700_000_000 + number})
        pipe.execute()
    key = new_key(env, tmp_path, "k1")
    command = [sys.executable, str(APP), "rekey", "--all"]
    run = subprocess.Popen(
        command, env={**env, "LAB11_ENCRYPTION_KEYS": key}, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert wait_for(lambda: is_sealed(client.lindex("lab11:thread_00000", 0)) or run.poll() is not None, timeout=60)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130, out + err
    assert b"interrupted after" in err and b"run the same command again" in err

    pipe = client.pipeline(transaction=False)
    for number in range(count):
        pipe.lrange(f"lab11:thread_{number:05d}", 0, -1)
    threads = pipe.execute()
    sealed = [all(map(is_sealed, stored)) for stored in threads]
    assert all(sealed[number] or not any(map(is_sealed, stored)) for number, stored in enumerate(threads))  # whole
    assert 0 < sum(sealed) < count, "the run was not stopped midway"

    finish = lab11(env, tmp_path, "rekey", "--all", keys=key)
    assert finish.returncode == 0 and f"{sum(sealed):,} already under it" in finish.stdout, finish.stdout
    assert all(is_sealed(client.lindex(f"lab11:thread_{number:05d}", 1)) for number in range(0, count, 997))
