"""Every stored message format reads back on Agent Framework 1.x (1.23.0), through message_json.

Runs in the 1.x environment (.venv-v1). The lab's release cannot be imported here, so what 1.x
hands over is compared with the b260130 fixture lines: the entries that release wrote itself.
"""

from __future__ import annotations

import inspect
import json

import agent_framework
import pytest

if hasattr(agent_framework, "ChatMessage"):  # the lab's release: these tests run in the 1.x environment
    pytest.skip("needs Agent Framework 1.x (.venv-v1)", allow_module_level=True)

from agent_framework import Content, Message

from lab11_persistence.redis_history.message_json import (
    LAB_CONTENT_FIELDS,
    V1_ONLY_CONTENT_FIELDS,
    decode_entry,
    lab_message_dict,
    v1_message_dict,
)
from tests.support import message_fixtures as fx

pytestmark = pytest.mark.v1


def _on_1x(line: str) -> Message:
    return Message.from_dict(v1_message_dict(decode_entry(line)))


def _made_on_1x() -> list[Message]:
    """The fixture conversation, built here and now by 1.x."""
    make_fixtures = fx.load_make_fixtures()
    return make_fixtures.conversation(make_fixtures.OneContentClass())


@pytest.mark.parametrize(("release", "number", "line"), fx.all_fixture_lines())
def test_1x_reads_every_line_with_its_role_text_contents_and_ids(release: str, number: int, line: str) -> None:
    message = _on_1x(line)
    assert fx.essentials(message.to_dict()) == fx.essentials(json.loads(line))
    original_texts = [content["text"] for content in json.loads(line)["contents"] if content["type"] == "text"]
    assert message.text == " ".join(original_texts)


@pytest.mark.parametrize("line", fx.fixture_lines("1.23.0"))
def test_a_1x_entry_comes_back_exactly(line: str) -> None:
    assert v1_message_dict(decode_entry(line)) == json.loads(line)
    assert _on_1x(line).to_dict() == json.loads(line)


def test_messages_made_on_1x_come_back_exactly() -> None:
    for message in _made_on_1x():
        assert Message.from_dict(v1_message_dict(decode_entry(fx.as_json(message)))).to_dict() == message.to_dict()


def test_1x_messages_reach_the_lab_shape_that_b260130_writes() -> None:
    lab_lines = fx.fixture_lines("1.0.0b260130")
    for number, message in enumerate(_made_on_1x()):
        expected = json.loads(lab_lines[number])
        if number == fx.STRUCTURED_RESULT:  # 1.x stores a structured tool result as JSON text
            expected["contents"][0]["result"] = json.dumps(expected["contents"][0]["result"])
        assert lab_message_dict(decode_entry(fx.as_json(message))) == expected, number


def test_1x_stores_a_structured_tool_result_as_json_text() -> None:
    (result,) = decode_entry(fx.fixture_lines("1.23.0")[fx.STRUCTURED_RESULT])["contents"]
    assert result["result"] == '{"temp": 21, "unit": "C"}'


def test_1x_fills_in_hosted_on_a_function_call_from_the_lab() -> None:
    (call,) = _on_1x(fx.fixture_lines("1.0.0b260130")[fx.CALL]).to_dict()["contents"]
    assert call["hosted"] is False


def test_the_1x_field_lists_are_the_1x_content_constructor() -> None:
    keywords = set(inspect.signature(Content.__init__).parameters) - {"self", "type", "raw_representation"}
    assert keywords == LAB_CONTENT_FIELDS | V1_ONLY_CONTENT_FIELDS


def test_1x_refuses_a_lab_entry_as_stored_and_reads_it_through_message_json() -> None:
    line = fx.fixture_lines("1.0.0b260130")[fx.USER]
    with pytest.raises(ValueError, match="Type mismatch"):
        Message.from_dict(json.loads(line))
    assert _on_1x(line).text == "What's the weather in Oslo?"
