"""Beyond the lab, point 5: every kind of message comes back exactly as it went in."""

from __future__ import annotations

import fakeredis
import pytest
from agent_framework import ChatMessage, Content
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redis_chat_message_store import RedisChatMessageStore
from tests.support.message_strategies import messages

pytestmark = pytest.mark.fast


async def _round_trip(message_list: list[ChatMessage]) -> list[ChatMessage]:
    store = RedisChatMessageStore(redis_client=fakeredis.FakeAsyncRedis(decode_responses=True))
    await store.add_messages(message_list)
    return await store.list_messages()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, min_size=1, max_size=5))
async def test_generated_messages_round_trip_by_to_dict(message_list: list[ChatMessage]) -> None:
    back = await _round_trip(message_list)
    assert [message.to_dict() for message in back] == [message.to_dict() for message in message_list]


async def test_unicode_and_emoji_round_trip() -> None:
    text = "Olá, 東京 → Zürich 🧳✈️🇵🇹 \u200d\U0001f469\u200d\U0001f4bb"
    message = ChatMessage(role="user", text=text, author_name="Zoë")
    (back,) = await _round_trip([message])
    assert back.to_dict() == message.to_dict()


async def test_a_one_megabyte_text_round_trips() -> None:
    message = ChatMessage(role="assistant", text="itinerary " * 104_858)
    (back,) = await _round_trip([message])
    assert len(back.text) >= 1_000_000
    assert back.to_dict() == message.to_dict()


async def test_function_call_and_result_round_trip() -> None:
    call = ChatMessage(
        role="assistant",
        contents=[Content.from_function_call(call_id="c1", name="get_weather", arguments={"city": "Porto"})],
        message_id="msg-1",
    )
    result = ChatMessage(role="tool", contents=[Content.from_function_result(call_id="c1", result="21°C, sunny")])
    back = await _round_trip([call, result])
    assert [message.to_dict() for message in back] == [call.to_dict(), result.to_dict()]
