"""The app on Microsoft's scoped keys: LAB11_APPLICATION_ID, LAB11_TENANT_ID, LAB11_AGENT_ID.

The menu shows the real key; a turn lands there in the 1.x JSON Microsoft's 1.x provider reads; the
saved threads are those of the scope only, and a loaded thread's store state names the scope. A
scope without its application is one line at start-up. (On 1.x the same run is in tests/v1.)
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from lab11_persistence.redis_history.keys import KeyLayout
from tests.support.app_driver import LabApp, assert_clean
from tests.support.valkey import ValkeyProcess

SCOPE_ENV = {"LAB11_APPLICATION_ID": "travel-app", "LAB11_TENANT_ID": "Acme Corp", "LAB11_AGENT_ID": "planner"}
LAYOUT = KeyLayout.resolve("lab11", tenant_id="Acme Corp", application_id="travel-app", agent_id="planner")


@pytest.mark.app
def test_a_session_on_a_scope_keeps_to_its_keys(start_app: Callable[..., LabApp], redis_server: ValkeyProcess) -> None:
    with redis_server.client() as admin:
        admin.rpush("lab11:thread_lab", json.dumps({"role": "user", "text": "in the lab's layout"}))
        admin.rpush(
            LAYOUT.key("thread_saved"),
            json.dumps({"type": "message", "role": "user", "contents": [{"type": "text", "text": "saved before"}]}),
        )
        admin.zadd(LAYOUT.index_key, {"thread_saved": 1_700_000_000})
    app = start_app({"REDIS_URL": redis_server.url, **SCOPE_ENV})
    key = app.menu()
    assert key.startswith("lab11|v2|~redis-tenant-ifrw2zjainxxe4a|travel-app|planner|redis_memory|thread_"), key
    assert LAYOUT.thread_id_of(key)
    app.say("My name is Ana and I'm planning a trip to Lisbon.")
    with redis_server.client() as admin:
        assert [json.loads(entry)["type"] for entry in admin.lrange(key, 0, -1)] == ["message", "message"]
    app.choose("3")
    app.expect(r"Load which thread\? \(1-2, Enter to go back\): ")
    listing = app.transcript
    assert f"Saved threads under '{LAYOUT.thread_key_prefix}' (most recent first):" in listing
    assert "thread_lab" not in listing and f"{LAYOUT.key('thread_saved')}  1 message" in listing
    app.choose("2")
    app.expect_exact(f"Loaded thread {LAYOUT.key('thread_saved')} (1 message).")
    app.expect_exact("Store state: thread_id=thread_saved, key_prefix=lab11, max_messages=200")
    app.expect_exact("tenant_id=Acme Corp, application_id=travel-app, agent_id=planner, source_id=redis_memory")
    assert app.menu() == LAYOUT.key("thread_saved")
    reply = app.say("Where do I want to go?")
    assert "I received 1 earlier message " in reply, reply
    assert app.exit() == 0
    assert_clean(app.transcript)


@pytest.mark.app
def test_a_tenant_without_its_application_is_one_line(start_app: Callable[..., LabApp]) -> None:
    app = start_app({"LAB11_TENANT_ID": "acme"})
    assert app.finish() == 2
    lines = [line for line in app.transcript.splitlines() if line.strip()]
    assert lines[-1].endswith(
        "LAB11_TENANT_ID is set but LAB11_APPLICATION_ID is not: Microsoft's scoped keys need an application id "
        "(or unset both for the lab's lab11:{thread} keys)."
    ), app.transcript
    assert_clean(app.transcript)


@pytest.mark.fast
def test_the_settings_are_read_from_the_environment() -> None:
    from lab11_persistence.config import load_settings

    settings = load_settings({"LAB11_APPLICATION_ID": " app ", "LAB11_AGENT_ID": "a"}, read_dotenv=False)
    assert settings.key_scope == {"application_id": "app", "agent_id": "a"}
    assert settings.problems == ()
    assert load_settings({}, read_dotenv=False).key_scope == {}
    (problem,) = load_settings({"LAB11_AGENT_ID": "a"}, read_dotenv=False).problems
    assert "LAB11_AGENT_ID" in problem
