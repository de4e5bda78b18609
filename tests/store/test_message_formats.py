"""Every stored message format reads back on the lab's release (1.0.0b260130), through message_json.

The fixtures were written by running each release (tests/fixtures/messages/make_fixtures.py).
"""

from __future__ import annotations

import inspect
import json

import fakeredis
import pytest
from agent_framework import ChatMessage, Content
from hypothesis import HealthCheck, given, settings

from lab11_persistence.redis_history.message_json import (
    LAB_CONTENT_FIELDS,
    decode_entry,
    lab_message_dict,
    message_text,
    shown,
    v1_message_dict,
)
from redis_chat_message_store import RedisChatMessageStore
from tests.support import message_fixtures as fx
from tests.support.message_strategies import messages

pytestmark = pytest.mark.fast

EVERY_LINE = pytest.mark.parametrize(("release", "number", "line"), fx.all_fixture_lines())


def _on_the_lab_release(line: str) -> ChatMessage:
    return ChatMessage.from_dict(lab_message_dict(decode_entry(line)))


@pytest.mark.parametrize("release", fx.RELEASES)
def test_every_fixture_line_of_every_release_decodes(release: str) -> None:
    roles = [decode_entry(line)["role"] for line in fx.fixture_lines(release)]
    assert roles == ("system user assistant user " + "assistant " * 2 + "tool tool user " + "assistant " * 4).split()


@EVERY_LINE
def test_the_lab_release_reads_every_line_with_its_role_text_contents_and_ids(
    release: str, number: int, line: str
) -> None:
    message = _on_the_lab_release(line)
    assert fx.essentials(message.to_dict()) == fx.essentials(json.loads(line))
    original_texts = [content["text"] for content in json.loads(line)["contents"] if content["type"] == "text"]
    assert message.text == " ".join(original_texts)


@pytest.mark.parametrize("line", fx.fixture_lines("1.0.0b260130"))
def test_a_b260130_entry_comes_back_exactly(line: str) -> None:
    assert lab_message_dict(decode_entry(line)) == json.loads(line)


def test_messages_made_here_come_back_exactly() -> None:
    kit = fx.load_make_fixtures().OneContentClass()
    for message in fx.load_make_fixtures().conversation(kit):
        stored = fx.as_json(message)
        assert lab_message_dict(decode_entry(stored)) == message.to_dict()
        assert ChatMessage.from_dict(lab_message_dict(decode_entry(stored))).to_dict() == message.to_dict()


@pytest.mark.parametrize("number", range(13))
def test_every_release_reads_as_the_same_conversation(number: int) -> None:
    seen = {release: decode_entry(fx.fixture_lines(release)[number]) for release in fx.RELEASES}
    shown = {release: (message["role"], message_text(message)) for release, message in seen.items()}
    assert len(set(shown.values())) == 1, shown
    kinds = {release: [content["type"] for content in message["contents"]] for release, message in seen.items()}
    assert len({tuple(value) for value in kinds.values()}) == 1, kinds


def test_b251114_error_details_arrive_as_error_details() -> None:
    (error,) = _on_the_lab_release(fx.fixture_lines("1.0.0b251114")[fx.ERROR]).contents
    assert (error.message, error.error_code, error.error_details) == ("Model unavailable", "E503", "try again later")


def test_b251114_usage_details_arrive_as_usage_details() -> None:
    usage = _on_the_lab_release(fx.fixture_lines("1.0.0b251114")[fx.REASONING_AND_USAGE]).contents[2]
    assert usage.usage_details == {"input_token_count": 12, "output_token_count": 5, "total_token_count": 17}


def test_b251114_spread_out_content_properties_are_gathered_into_additional_properties() -> None:
    (text,) = _on_the_lab_release(fx.fixture_lines("1.0.0b251114")[fx.CONTENT_PROPERTIES]).contents
    assert text.additional_properties == {"citation": "met.no", "rank": 1}


def test_b251114_entries_read_exactly_as_b260130_wrote_the_same_messages() -> None:
    old, new = (fx.fixture_lines(release) for release in ("1.0.0b251114", "1.0.0b260130"))
    for number, (old_line, new_line) in enumerate(zip(old, new, strict=True)):
        if number != fx.APPROVAL:  # b260130 adds user_input_request=true to approval requests
            assert lab_message_dict(decode_entry(old_line)) == json.loads(new_line), number


def test_fields_only_1x_knows_are_kept_in_the_message_but_left_out_for_the_lab_release() -> None:
    line = fx.fixture_lines("1.23.0")[fx.CALL]
    assert decode_entry(line)["contents"][0]["hosted"] is False
    assert "hosted" not in lab_message_dict(decode_entry(line))["contents"][0]


def test_for_an_older_1x_the_content_fields_its_content_lacks_are_left_out() -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}", "hosted": False}
    message = {"role": "assistant", "contents": [call], "additional_properties": {}}
    older = frozenset({"type", "call_id", "name", "arguments", "additional_properties"})  # as 1.8.0's Content
    assert v1_message_dict(message, older)["contents"] == [{k: v for k, v in call.items() if k != "hosted"}]
    assert v1_message_dict(message)["contents"] == [call]


def test_the_lab_field_list_is_the_lab_release_content_constructor() -> None:
    keywords = set(inspect.signature(Content.__init__).parameters) - {"self", "type", "raw_representation"}
    assert keywords == LAB_CONTENT_FIELDS


@pytest.mark.parametrize(
    ("raw", "role", "text"),
    [
        ('{"role": "user", "content": "plain content"}', "user", "plain content"),
        ('{"role": "assistant", "text": "plain text"}', "assistant", "plain text"),
        ('{"role": {"type": "role", "value": "tool"}, "text": "role as an object"}', "tool", "role as an object"),
    ],
)
def test_a_role_with_a_text_string_reads_as_a_text_message(raw: str, role: str, text: str) -> None:
    message = _on_the_lab_release(raw)
    assert (message.role.value, message.text) == (role, text)


def test_other_keys_of_a_simple_entry_are_kept_as_additional_properties() -> None:
    message = decode_entry('{"role": "user", "content": "hi", "name": "ann", "author_name": "Ann", "message_id": "7"}')
    assert (message["author_name"], message["message_id"]) == ("Ann", "7")
    assert message["additional_properties"] == {"name": "ann"}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("not json {", id="not JSON"),
        pytest.param(b"\xff\xfe", id="not UTF-8"),
        pytest.param("[1, 2]", id="a list"),
        pytest.param('"user"', id="a string"),
        pytest.param('{"type": "thread_state", "messages": []}', id="no role"),
        pytest.param('{"role": 5, "content": "x"}', id="role a number"),
        pytest.param('{"role": "", "content": "x"}', id="role empty"),
        pytest.param('{"role": {"type": "role"}, "content": "x"}', id="role object without value"),
        pytest.param('{"role": "user"}', id="no contents or text"),
        pytest.param('{"role": "user", "content": ["x"]}', id="content a list"),
        pytest.param('{"role": "user", "contents": "hi"}', id="contents a string"),
        pytest.param('{"role": "user", "contents": [{"text": "untyped"}]}', id="content without type"),
        pytest.param('{"role": "user", "contents": ["hi"]}', id="content a string"),
        pytest.param('{"type": "agent_thread", "role": "user", "contents": []}', id="another type"),
        pytest.param('{"role": "user", "content": "x", "author_name": 5}', id="author_name a number"),
        pytest.param('{"role": "user", "contents": [], "additional_properties": [1]}', id="properties a list"),
    ],
)
def test_an_entry_that_is_not_a_message_raises_value_error_with_a_short_reason(raw: str | bytes) -> None:
    with pytest.raises(ValueError) as raised:
        decode_entry(raw)  # type: ignore[arg-type]
    reason = str(raised.value)
    assert reason and "\n" not in reason and len(reason) < 80


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        (fx.UNICODE, "Grüße aus Zürich — 東京は晴れ？ 🌦️👍🏽"),
        (fx.CALL, "[calls get_weather]"),
        (fx.RESULT, "[tool result: Sunny, 21 °C]"),
        (fx.STRUCTURED_RESULT, '[tool result: {"temp": 21, "unit": "C"}]'),
        (fx.MULTI_CONTENT, "What is on this map? [uri] [data]"),
        (fx.REASONING_AND_USAGE, "Sun all day."),
        (fx.ERROR, "[error]"),
        (fx.APPROVAL, "[function_approval_request]"),
    ],
)
def test_message_text_renders_each_kind(number: int, shown: str) -> None:
    for release in fx.RELEASES:
        assert message_text(decode_entry(fx.fixture_lines(release)[number])) == shown, release


@pytest.mark.parametrize("line", fx.fixture_lines("1.0.0b260130"))
def test_the_menu_shows_a_lab_message_as_message_json_renders_it(line: str) -> None:
    _role, shown_by_the_menu = shown(ChatMessage.from_json(line).to_dict())  # app.py's _message_text
    assert shown_by_the_menu == message_text(decode_entry(line))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_generated_messages_survive_json_decode_and_the_lab_shape(message: ChatMessage) -> None:
    back = ChatMessage.from_dict(lab_message_dict(decode_entry(fx.as_json(message))))
    assert back.to_dict() == message.to_dict()


@pytest.mark.parametrize("release", fx.RELEASES)
async def test_the_store_reads_every_releases_thread_as_the_tolerant_decoding_does(
    fake_redis: fakeredis.FakeAsyncRedis, release: str
) -> None:
    """Entries in the lab's own shape take the fast path (ChatMessage.from_dict as written); the rest
    are normalized first. Either way the store hands back the same messages."""
    lines = fx.fixture_lines(release)
    await fake_redis.rpush("lab11:old", *lines)
    store = RedisChatMessageStore(redis_client=fake_redis, thread_id="old", key_prefix="lab11")
    read = await store.list_messages()
    expected = [ChatMessage.from_dict(lab_message_dict(decode_entry(line))) for line in lines]
    assert [message.to_dict() for message in read] == [message.to_dict() for message in expected]
