"""The 1.x provider on a ``redis+sentinel://`` URL with ``min_replicas=1``: a run's messages saved on the primary
the sentinels name and confirmed by its replica; with the replica paused, ReplicaConfirmationError and the messages
saved once, never resent.

Runs in the 1.x environment (.venv-v1); skipped on the lab's release.
"""

from __future__ import annotations

import agent_framework
import pytest

if hasattr(agent_framework, "ChatMessage"):  # the lab's release: these tests run in the 1.x environment
    pytest.skip("needs Agent Framework 1.x (.venv-v1)", allow_module_level=True)

from agent_framework import Message

from lab11_persistence.redis_history.confirmation import ReplicaConfirmationError
from lab11_persistence.v1.history_provider import RedisHistoryProvider
from tests.sentinel.conftest import sentinel, sentinel_deployment  # noqa: F401 (the Sentinel fixtures, reused)
from tests.support.sentinel import SentinelDeployment

pytestmark = pytest.mark.v1


def provider_on(deployment: SentinelDeployment) -> RedisHistoryProvider:
    return RedisHistoryProvider(
        redis_url=deployment.url(), key_prefix="lab11-v1-sentinel", min_replicas=1, replica_timeout_ms=200
    )


async def test_a_confirmed_run_is_saved_on_the_primary_the_sentinels_name(sentinel: SentinelDeployment) -> None:  # noqa: F811
    provider = provider_on(sentinel)
    await provider.clear("session-1")

    await provider.save_messages("session-1", [Message("user", ["Hi, I am Ada."]), Message("assistant", ["Hi Ada."])])
    saved = [message.text for message in await provider.get_messages("session-1")]
    await provider.aclose()

    assert saved == ["Hi, I am Ada.", "Hi Ada."]
    with sentinel.primary.client() as client:
        assert client.llen("lab11-v1-sentinel:session-1") == 2


async def test_a_run_no_replica_confirmed_raises_and_is_saved_once(sentinel: SentinelDeployment) -> None:  # noqa: F811
    provider = provider_on(sentinel)
    await provider.clear("session-2")
    await provider.get_messages("session-2")  # connected before the replica stops
    sentinel.replica.pause()

    with pytest.raises(ReplicaConfirmationError, match="confirmed by 0 of 1 replica"):
        await provider.save_messages("session-2", [Message("user", ["Lisbon in May."])])
    saved = [message.text for message in await provider.get_messages("session-2")]
    await provider.aclose()

    assert saved == ["Lisbon in May."]
