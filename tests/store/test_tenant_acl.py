"""One Redis user per tenant on Microsoft's scoped keys: the line docs/many-users.md quotes, tested.

The user comes from ``tests/support/acl.py``'s ``tenant_acl_line``: the commands of the app's ACL on
one tenant's keys only. Under it, the lab's store, an app session and every thread command run with
an empty ACL LOG; another tenant's keys and the lab's ``lab11:`` keys are refused (NOPERM). The 1.x
providers (ours and Microsoft's) run under it in tests/v1; the cluster in tests/cluster.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from agent_framework import AgentThread, ChatMessage

from lab11_persistence.redis_history.keys import KeyLayout
from redis_chat_message_store import RedisChatMessageStore
from tests.support import acl, app_driver
from tests.support.app_driver import LabApp, assert_clean
from tests.support.valkey import ValkeyProcess

ROOT = Path(__file__).resolve().parents[2]
TENANT = "acme"
SCOPE = {"tenant_id": TENANT, "application_id": "travel-app"}
SCOPE_ENV = {"LAB11_TENANT_ID": TENANT, "LAB11_APPLICATION_ID": "travel-app"}
LAYOUT = KeyLayout.resolve("lab11", **SCOPE)
TURN = [ChatMessage(role="user", text="Hi, I'm Ada, off to Lisbon."), ChatMessage(role="assistant", text="Noted.")]


@pytest.fixture
def tenant(redis_server: ValkeyProcess) -> Iterator[acl.AclUser]:
    password = secrets.token_urlsafe(24)
    arguments = acl.tenant_acl_setuser_arguments(TENANT, password)
    yield acl.make_user(redis_server, arguments, acl.tenant_user(TENANT), password)


@pytest.mark.fast
def test_the_docs_quote_the_tested_lines() -> None:
    assert f"```\n{acl.tenant_acl_line(TENANT)}\n```" in (ROOT / "docs" / "many-users.md").read_text(encoding="utf-8")
    assert f"```\n{acl.ACL_LINE}\n```" in (ROOT / "docs" / "least-privilege.md").read_text(encoding="utf-8")


@pytest.mark.server
async def test_the_stores_whole_surface_runs_under_the_tenants_user(tenant: acl.AclUser) -> None:
    store = RedisChatMessageStore(
        redis_url=tenant.url, thread_id="thread_a", key_prefix="lab11", max_messages=10, ttl_seconds=600, **SCOPE
    )
    other = store.for_thread("thread_b")
    await store.add_messages(TURN)
    await other.add_messages(TURN)
    assert len(await store.list_messages()) == 2
    assert {thread.thread_id for thread in await store.list_saved_threads(limit=20)} == {"thread_a", "thread_b"}
    assert {thread.thread_id for thread in await store.list_saved_threads()} == {"thread_a", "thread_b"}
    snapshot = await AgentThread(message_store=store).serialize()
    resumed = await RedisChatMessageStore.deserialize(snapshot["chat_message_store_state"], redis_url=tenant.url)
    assert len(await resumed.list_messages()) == 2
    first = await store.getitem(0)
    await store.setitem(1, first)
    assert await store.index(first) == 0
    await other.clear()
    with tenant.server.client() as admin:
        admin.delete(LAYOUT.index_key)  # an index lost: the next listing rebuilds it by SCAN of the scope
    assert [thread.thread_id for thread in await store.list_saved_threads(limit=20)] == ["thread_a"]
    for opened in (store, other, resumed):
        await opened.aclose()
    assert tenant.refused() == []


@pytest.mark.server
def test_the_tenants_user_reaches_no_other_tenant_and_no_lab11_key(tenant: acl.AclUser) -> None:
    globex = KeyLayout.resolve("lab11", tenant_id="globex", application_id="travel-app")
    with tenant.server.client() as admin:
        admin.rpush(globex.key("thread_g"), "{}")
        admin.rpush("lab11:thread_l", "{}")
    with redis.Redis(port=tenant.server.port, username=tenant.user, password=tenant.password) as client:
        for key in (globex.key("thread_g"), globex.index_key, "lab11:thread_l", "lab11.recent-threads", "{lab11:t}:x"):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.lrange(key, 0, -1)
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set(f"{{{globex.key('thread_g')}}}:last-write", "1")
        client.rpush(LAYOUT.key("thread_mine"), "{}")  # its own keys, under any application and agent
        client.rpush(KeyLayout.resolve("lab11", tenant_id=TENANT, application_id="x", agent_id="y").key("t"), "{}")


@pytest.mark.app
def test_an_app_session_runs_under_the_tenants_user(
    tenant: acl.AclUser,
    start_app: Callable[..., LabApp],
) -> None:
    app = start_app({"REDIS_URL": tenant.url, **SCOPE_ENV})
    key = app.menu()
    assert key.startswith(LAYOUT.thread_key_prefix), key
    app.say(TURN[0].text)
    app.choose("2")
    app.expect_exact("2. assistant: ")
    app.menu()
    app.choose("3")
    app.expect(r"Load which thread\? \(1-\d+, Enter to go back\): ")
    app.choose("1")
    app.expect_exact("2. assistant: ")
    app.menu()
    app.choose("4")
    app.menu()
    app.say("My name is Grace.")
    app.choose("5")
    app.expect(r"Delete which thread\? \(1-\d+, Enter to go back\): ")
    app.choose("1")
    app.expect_exact("(y/N): ")
    app.send("y")
    app.menu()
    assert app.exit() == 0
    assert_clean(app.transcript)
    assert tenant.password not in app.transcript
    assert tenant.refused() == []


@pytest.mark.server
def test_the_thread_commands_run_under_the_tenants_user(tenant: acl.AclUser, tmp_path: Path) -> None:
    with tenant.server.client() as admin:
        for number in range(3):
            admin.rpush(LAYOUT.key(f"thread_{number}"), json.dumps({"role": "user", "text": f"trip {number}"}))
            admin.zadd(LAYOUT.index_key, {f"thread_{number}": time.time() - (90 if number else 1) * 86400})
    env = {**app_driver.app_env(tmp_path / "home", tmp_path / "data"), "REDIS_URL": tenant.url, **SCOPE_ENV}

    def lab11(*args: str) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(
            [sys.executable, str(app_driver.APP), *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stdout + run.stderr
        return run

    export = tmp_path / "threads.jsonl"
    assert "thread_2" in lab11("threads").stdout
    assert "trip 1" in lab11("show", "thread_1").stdout
    lab11("export", "--all", "-o", str(export))
    lab11("delete", "--yes", "thread_0")
    lab11("import", str(export))
    assert "would delete 2 threads" in lab11("prune", "--older-than", "30d", "--dry-run").stdout
    assert "Deleted 2 threads" in lab11("prune", "--older-than", "30d", "--yes", "--rebuild-index").stdout
    assert len(json.loads(lab11("threads", "--json", "--agent-id", "planner").stdout)) == 0
    assert tenant.refused() == []


@pytest.mark.server
def test_migrate_runs_under_a_user_with_the_labs_and_the_tenants_patterns(
    redis_server: ValkeyProcess, tmp_path: Path
) -> None:
    password = secrets.token_urlsafe(24)
    arguments = acl.acl_setuser_arguments(password, user="lab11-migrate")
    arguments[5:5] = list(acl.tenant_key_patterns(TENANT))  # after "reset on >password": both sets of keys
    with redis_server.client() as admin:
        admin.execute_command(*arguments)
        admin.rpush("lab11:thread_l", json.dumps({"role": "user", "text": "to move"}))
        admin.zadd("lab11.recent-threads", {"thread_l": 1_700_000_000})
        admin.execute_command("ACL", "LOG", "RESET")
    url = f"redis://lab11-migrate:{password}@127.0.0.1:{redis_server.port}/0"
    env = {**app_driver.app_env(tmp_path / "home", tmp_path / "data"), "REDIS_URL": url, **SCOPE_ENV}
    for extra in (["--dry-run"], [], ["--delete-source"]):
        run = subprocess.run(
            [sys.executable, str(app_driver.APP), "migrate", "--all", *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stdout + run.stderr
    with redis_server.client() as admin:
        assert admin.llen(LAYOUT.key("thread_l")) == 1 and admin.exists("lab11:thread_l") == 0
        assert admin.execute_command("ACL", "LOG") == []
