"""Issue 9, point 4: the store and the app run under a Redis user that may do only what they do.

The user is made from ``tests/support/acl.py``'s ``ACL_LINE`` (the line the README quotes). After
each run the server's ACL LOG must be empty: nothing was refused, not even the commands redis-py
sends on its own when it connects. The cluster run is in tests/cluster/test_least_privilege_on_cluster.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from agent_framework import AgentThread, ChatMessage

from redis_chat_message_store import RedisChatMessageStore
from tests.support import acl
from tests.support.app_driver import LabApp, assert_clean
from tests.support.entra import EntraSignIn
from tests.support.lab_release import lab_store
from tests.support.valkey import ValkeyProcess

TURN = [
    ChatMessage(role="user", text="Hi, my name is Ada and I want to go to Lisbon."),
    ChatMessage(role="assistant", text="Lisbon it is, Ada."),
]


@pytest.fixture
def app_user(redis_server: ValkeyProcess) -> Iterator[acl.AclUser]:
    password = secrets.token_urlsafe(24)
    yield acl.make_user(redis_server, acl.acl_setuser_arguments(password), acl.USER, password)


@pytest.mark.server
def test_the_server_accepts_the_acl_line(app_user: acl.AclUser) -> None:
    with app_user.server.client() as admin:
        user = admin.acl_getuser(acl.USER)
    assert "on" in user["flags"]
    assert sorted(user["commands"]) == sorted(f"+{command}" for command in acl.COMMANDS)
    with app_user.client() as client:
        assert client.ping() is True
    assert app_user.refused() == []


@pytest.mark.server
async def test_the_stores_whole_surface_runs_under_the_app_user(app_user: acl.AclUser) -> None:
    store = lab_store("thread_a", redis_url=app_user.url, key_prefix=acl.KEY_PREFIX, max_messages=10, ttl_seconds=600)
    other = lab_store("thread_b", redis_url=app_user.url, key_prefix=acl.KEY_PREFIX)
    await store.add_messages(TURN)
    await other.add_messages(TURN)
    assert len(await store.list_messages()) == 2
    await store.ping()
    assert {thread.thread_id for thread in await store.list_saved_threads(limit=20)} == {"thread_a", "thread_b"}
    assert {thread.thread_id for thread in await store.list_saved_threads()} == {"thread_a", "thread_b"}
    snapshot = await AgentThread(message_store=store).serialize()
    resumed = await RedisChatMessageStore.deserialize(snapshot["chat_message_store_state"], redis_url=app_user.url)
    assert len(await resumed.list_messages()) == 2
    await other.clear()
    assert [thread.thread_id for thread in await store.list_saved_threads(limit=20)] == ["thread_a"]
    for opened in (store, other, resumed):
        await opened.aclose()
    assert app_user.refused() == []


@pytest.mark.server
async def test_the_window_and_its_summary_run_under_the_app_user(app_user: acl.AclUser) -> None:
    """Reading a turn's window, folding (WATCH ... EXEC, with a trim), a re-synchronized head, a fold that finds
    nothing left to do (UNWATCH), and clearing the summary with the thread."""
    from lab11_persistence.offline_model.reasoning import summarize_messages

    store = RedisChatMessageStore(
        redis_url=app_user.url,
        thread_id="thread_w",
        key_prefix="lab11",
        max_messages=4,
        ttl_seconds=600,
        context_messages=2,
        summarizer=summarize_messages,
    )
    for turn in range(4):
        await store.add_messages(TURN)
        assert len(await store.list_messages()) == (2 if turn == 0 else 3)  # then the summary and the window
    assert store.window is not None
    with app_user.server.client() as admin:
        admin.ltrim(store.redis_key, 1, -1)  # another writer trims the head
    await store.add_messages(TURN)
    await store.window.settle()
    await store.window.fold("thread_w")  # nothing left to fold
    assert (await store.summary()) is not None
    await store.clear()
    await store.aclose()
    assert app_user.refused() == []


@pytest.mark.server
async def test_listing_drops_a_vanished_thread_and_rebuilds_a_lost_index_under_the_app_user(
    app_user: acl.AclUser,
) -> None:
    """The rarer paths of menu 3: a thread whose key expired, and an index someone deleted."""
    store = lab_store("thread_a", redis_url=app_user.url, key_prefix=acl.KEY_PREFIX)
    gone = lab_store("thread_gone", redis_url=app_user.url, key_prefix=acl.KEY_PREFIX)
    await store.add_messages(TURN)
    await gone.add_messages(TURN)
    with app_user.server.client() as admin:
        admin.delete(gone.redis_key)
    assert [thread.thread_id for thread in await store.list_saved_threads(limit=20)] == ["thread_a"]
    with app_user.server.client() as admin:
        admin.delete(*(key for key in admin.keys("*") if "recent-threads" in key))
    assert [thread.thread_id for thread in await store.list_saved_threads(limit=20)] == ["thread_a"]
    for opened in (store, gone):
        await opened.aclose()
    assert app_user.refused() == []


@pytest.mark.server
async def test_the_write_token_is_readable_for_the_lost_reply_check(app_user: acl.AclUser) -> None:
    """After a lost reply the store reads its write token (GET) to learn whether the turn went in."""
    store = lab_store("thread_a", redis_url=app_user.url, key_prefix=acl.KEY_PREFIX)
    await store.add_messages(TURN)
    with app_user.client() as client:
        assert client.get(store.history.write_token_key(store.thread_id))
    await store.aclose()
    assert app_user.refused() == []


@pytest.mark.server
def test_the_app_user_reaches_nothing_else(app_user: acl.AclUser) -> None:
    with app_user.client() as client:
        for refused in (
            lambda: client.get("someone-else:key"),
            lambda: client.set("lab11x", "1"),
            lambda: client.keys("*"),
            lambda: client.flushall(),
            lambda: client.config_get("*"),
            lambda: client.execute_command("ACL", "LIST"),
            lambda: client.publish("lab11:channel", "hello"),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                refused()


@pytest.mark.server
async def test_microsofts_list_api_runs_under_the_app_user(app_user: acl.AclUser) -> None:
    store = lab_store("thread_ms", redis_url=app_user.url, key_prefix=acl.KEY_PREFIX, messages=TURN)
    assert await store.count() == 2
    assert await store.__len__() == 2
    first = await store.getitem(0)
    await store.setitem(1, first)
    await store.append(first)
    await store.extend(TURN)
    assert await store.index(first) == 0
    await store.remove(first)
    state = await store.serialize_state()
    other = lab_store("thread_other", redis_url=app_user.url, key_prefix=acl.KEY_PREFIX)
    await other.deserialize_state(state)
    assert await other.count() == 4
    for opened in (store, other):
        await opened.aclose()
    assert app_user.refused() == []


@pytest.mark.server
async def test_entra_id_sign_in_under_the_app_permissions_survives_a_rotation(
    redis_server: ValkeyProcess, tmp_path: Path
) -> None:
    from lab11_persistence.server.entra_id import redis_credential_provider

    entra = EntraSignIn(redis_server, tmp_path / "entra", rules=acl.rules())
    store = RedisChatMessageStore(
        credential_provider=redis_credential_provider(credential=entra),
        host="127.0.0.1",
        port=redis_server.port,
        ssl=False,
        thread_id="thread_a",
        key_prefix=acl.KEY_PREFIX,
    )
    await store.add_messages(TURN[:1])
    assert entra.rotate() >= 1
    await store.add_messages(TURN[1:])
    assert len(await store.list_messages()) == 2
    assert await store.list_saved_threads(limit=20)
    await store.aclose()
    assert entra.acl_log() == []


@pytest.mark.app
def test_an_app_session_runs_under_the_app_user(
    app_user: acl.AclUser,
    start_app: Callable[..., LabApp],
) -> None:
    """Chat, peek, load a saved thread, start a fresh one, chat again, exit: nothing refused."""
    app = start_app({"REDIS_URL": app_user.url})
    app.menu()
    app.say(TURN[0].text)
    app.say("Where do I want to go?")
    app.choose("2")
    app.expect_exact("4. assistant: ")
    app.menu()
    app.choose("3")
    app.expect(r"Load which thread\? \(1-\d+, Enter to go back\): ")
    app.choose("1")
    app.expect_exact("4. assistant: ")
    app.menu()
    app.choose("4")
    app.menu()
    app.say("My name is Grace.")
    assert app.exit() == 0
    assert_clean(app.transcript)
    assert app_user.password not in app.transcript
    assert app_user.refused() == []


@pytest.mark.server
def test_the_thread_commands_run_under_the_app_user(app_user: acl.AclUser, tmp_path: Path) -> None:
    """threads, show, export, import (a Lua script per thread) and delete, as the README's user."""
    import json
    import subprocess
    import sys

    from tests.support import app_driver

    with app_user.server.client() as admin:
        for number in range(3):
            admin.rpush(f"lab11:thread_{number}", *(json.dumps(dict(role="user", text=f"trip {number}")) for _ in "ab"))
    env = {**app_driver.app_env(tmp_path / "home", tmp_path / "data"), "REDIS_URL": app_user.url}

    def lab11(*args: str) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(
            [sys.executable, str(app_driver.APP), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        return run

    export = tmp_path / "threads.jsonl"
    assert "thread_2" in lab11("threads").stdout
    assert "trip 1" in lab11("show", "thread_1").stdout
    lab11("export", "--all", "-o", str(export))
    lab11("delete", "--yes", "thread_0", "thread_1", "thread_2")
    lab11("import", str(export))
    lab11("import", str(export))
    assert len(lab11("threads", "--json").stdout) > 2
    assert app_user.refused() == []
