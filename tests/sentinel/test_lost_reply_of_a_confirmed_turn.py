"""A confirmed turn whose reply is lost after the server ran it (MULTI ... EXEC WAIT answered, the answer dropped):
the store finds its write token, does not send the turn again, and has the replicas confirm it with one more write
(the token again) instead of reporting a turn the replica holds as unconfirmed."""

from __future__ import annotations

import pytest
from agent_framework import ChatMessage

from redis_chat_message_store import RedisChatMessageStore
from tests.reliability.faults import ReplyLosingProxy
from tests.support.sentinel import SentinelDeployment

pytestmark = pytest.mark.sentinel


async def test_a_lost_reply_of_a_confirmed_turn_is_confirmed_after_the_check_and_saved_once(
    sentinel: SentinelDeployment,
) -> None:
    proxy = await ReplyLosingProxy(sentinel.primary.port).start()
    store = RedisChatMessageStore(
        f"redis://127.0.0.1:{proxy.port}/0", thread_id="lost-reply", key_prefix="lab11-sentinel", min_replicas=1
    )
    try:
        await store.clear()
        await store.add_messages([ChatMessage(role="user", text="turn 1")])
        proxy.lose_next_exec_reply()
        await store.add_messages([ChatMessage(role="user", text="turn 2")])  # confirmed, not reported
        replies_lost = proxy.replies_lost
        texts = [message.text for message in await store.list_messages()]
    finally:
        await store.aclose()
        await proxy.aclose()

    assert replies_lost == 1
    assert texts == ["turn 1", "turn 2"]
    with sentinel.replica.client() as replica:
        assert len(replica.lrange("lab11-sentinel:lost-reply", 0, -1)) == 2
