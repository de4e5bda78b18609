"""The real app (pexpect) with REDIS_URL on the cluster and REDIS_CLUSTER=1: chat, exit, restart, resume."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from redis_chat_message_store import RedisChatMessageStore
from tests.support.app_driver import LabApp, assert_clean
from tests.support.cluster import FIGURES, ClusterNode, ValkeyCluster

pytestmark = pytest.mark.cluster

FIRST = "Hi, my name is Ada and I want to go to Lisbon."
SECOND = "I love seafood and my budget is 1500 euros."
QUESTION = "What is my name and where do I want to go?"


async def test_restart_and_resume_on_the_cluster(
    redis_cluster: ValkeyCluster, start_app: Callable[..., LabApp]
) -> None:
    env = {"REDIS_URL": redis_cluster.url, "REDIS_CLUSTER": "1"}
    first = start_app(env)
    first.menu()
    found = re.search(r"Current Redis key: (lab11:thread_[0-9a-f-]+)", first.transcript)
    assert found, first.transcript
    key = found.group(1)
    first.say(FIRST)
    first.say(SECOND)
    assert first.exit() == 0
    assert_clean(first.transcript)

    thread_id = key.split(":", 1)[1]
    on_cluster = RedisChatMessageStore(
        redis_url=redis_cluster.url, thread_id=thread_id, key_prefix="lab11", cluster=True
    )
    assert [message.text for message in await on_cluster.list_messages()][0::2] == [FIRST, SECOND]
    await on_cluster.aclose()

    second = start_app(env)
    second.menu()
    second.choose("3")
    second.expect(r"Load which thread\? \(1-\d+, Enter to go back\): ")
    assert f"1) {key}  4 messages" in second.transcript, second.transcript
    second.choose("1")
    second.expect_exact(f"Loaded thread {key} (4 messages).")
    second.menu()
    reply = second.say(QUESTION)
    assert "I received 4 earlier messages" in reply, reply
    assert "Your name is Ada." in reply and "You want to go to Lisbon." in reply, reply
    assert second.exit() == 0
    assert_clean(second.transcript)


async def test_the_app_keeps_its_thread_when_the_threads_primary_dies(
    redis_cluster: ValkeyCluster, start_app: Callable[..., LabApp], whole_cluster_afterwards: list[ClusterNode]
) -> None:
    app = start_app({"REDIS_URL": redis_cluster.url, "REDIS_CLUSTER": "1"})
    app.menu()
    found = re.search(r"Current Redis key: (lab11:thread_[0-9a-f-]+)", app.transcript)
    assert found, app.transcript
    key = found.group(1)
    app.say(FIRST)
    app.say(SECOND)
    owner = redis_cluster.primary_for_key(key)

    owner.wait_until_replicated()
    owner.kill()
    whole_cluster_afterwards.append(owner)
    killed_at = time.monotonic()
    reply = app.say(QUESTION)
    turn_seconds = time.monotonic() - killed_at
    FIGURES.append(f"app (pexpect): the turn after SIGKILL of the thread's primary answered in {turn_seconds:.2f}s")

    assert "I received 4 earlier messages" in reply, reply
    app.choose("2")
    app.expect_exact("6. assistant: ")
    app.menu()
    assert f"5. user: {QUESTION}" in app.transcript
    assert app.exit() == 0
    assert_clean(app.transcript)
