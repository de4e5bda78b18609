"""Stored chat messages, read and written without Agent Framework.

A Redis list may hold messages written by three generations of Agent Framework, and the
store has to read all of them whichever release it runs on. Measured by running each release:

- 1.0.0b251114 and 1.0.0b260130 write ``{"type": "chat_message", "role": {"type": "role",
  "value": "user"}, ...}``; 1.x (1.23.0) writes ``{"type": "message", "role": "user", ...}`` and
  its ``Message.from_dict`` refuses the older type.
- b251114 (one class per content kind) spreads a content's ``additional_properties`` over the
  content dict itself, names error details ``details`` and usage ``details`` (with a nested
  ``"type": "usage_details"``). b260130 and 1.x keep them under ``additional_properties``,
  ``error_details`` and ``usage_details``; b260130's ``Content.from_dict`` raises on the old names.
- 1.x adds fields b260130 does not know (``hosted`` on function calls, ``items`` on results, ...);
  b260130 raises ``TypeError`` on any of them.

So one neutral dict sits in the middle: role a plain string, contents in the field names b260130
and 1.x share, anything unknown kept under ``additional_properties``. Each framework gets its own
shape from it, and nothing here imports the framework, so both adapters share this one reader.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

# The field lists are split strings (hence noqa SIM905): as list literals they would take 44 lines.
#: ``Content.__init__`` keywords of 1.0.0b260130 (the lab's release), minus raw_representation.
LAB_CONTENT_FIELDS = frozenset(
    "text protected_data uri media_type message error_code error_details usage_details call_id name arguments"  # noqa: SIM905
    " exception result file_id vector_store_id inputs outputs image_id tool_name server_name output id"
    " function_call user_input_request approved annotations additional_properties".split()
)
#: Keywords only 1.x (1.23.0) ``Content.__init__`` has: kept for 1.x, dropped for the lab's release.
V1_ONLY_CONTENT_FIELDS = frozenset(
    "informational_only items commands timeout_ms max_output_length status actions screenshot"  # noqa: SIM905
    " pending_safety_checks acknowledged_safety_checks stdout stderr exit_code timed_out hosted consent_link"
    " merge_mode".split()
)
_KNOWN_CONTENT_FIELDS = LAB_CONTENT_FIELDS | V1_ONLY_CONTENT_FIELDS
#: b251114's names for what later releases call error_details and usage_details.
_RENAMED = {("error", "details"): "error_details", ("usage", "details"): "usage_details"}
#: Fields that hold nested contents (a dict) or lists of them; the frameworks rebuild these as Content too.
_NESTED_ONE = ("function_call", "screenshot")
_NESTED_MANY = ("inputs", "outputs", "items")
_NESTED_KEYS = frozenset(_NESTED_ONE + _NESTED_MANY)
_MESSAGE_FIELDS = ("type", "role", "contents", "author_name", "message_id", "additional_properties")
#: What message_text leaves out: bookkeeping, not something said.
_UNSHOWN_KINDS = ("usage", "text_reasoning")


def decode_entry(raw: str | bytes) -> dict[str, Any]:
    """One stored entry as a neutral message dict; ValueError (a short reason) if it is not a message."""
    try:
        payload = json.loads(raw)
    except (TypeError, ValueError) as error:
        raise ValueError(f"not JSON ({error.__class__.__name__})") from None
    return normalize(payload)


def normalize(payload: Any) -> dict[str, Any]:
    """A message dict of any release (``to_dict()`` of either framework) as a neutral message dict."""
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    if "role" not in payload:
        raise ValueError("no role")
    kind = payload.get("type")
    if kind not in (None, "chat_message", "message"):
        raise ValueError(f"type {kind!r} is not a message")
    role = payload["role"]
    if isinstance(role, Mapping):  # the lab's releases: {"type": "role", "value": "user"}
        role = role.get("value")
    if not isinstance(role, str) or not role:
        raise ValueError("role is not a non-empty string")
    extra = {key: value for key, value in payload.items() if key not in _MESSAGE_FIELDS}
    if "contents" in payload:
        contents = payload["contents"]
        if not isinstance(contents, list):
            raise ValueError("contents is not a list")
        contents = [_neutral_content(content) for content in contents]
    else:  # shapes seen in the wild: {"role": "user", "content"|"text": "..."}
        text = extra.pop("content") if "content" in extra else extra.pop("text", None)
        if not isinstance(text, str):
            raise ValueError("neither contents nor a text string")
        contents = [{"type": "text", "text": text, "additional_properties": {}}]
    message: dict[str, Any] = {"role": role, "contents": contents}
    for field in ("author_name", "message_id"):
        if payload.get(field) is not None:
            if not isinstance(payload[field], str):
                raise ValueError(f"{field} is not a string")
            message[field] = payload[field]
    message["additional_properties"] = _properties(payload.get("additional_properties"), extra)
    return message


def _properties(stored: Any, extra: Mapping[str, Any]) -> dict[str, Any]:
    """additional_properties plus unknown keys (what b260130's constructors do with **kwargs)."""
    if stored is not None and not isinstance(stored, dict):
        raise ValueError("additional_properties is not an object")
    return {**(stored or {}), **extra}


def _neutral_content(content: Mapping[str, Any]) -> dict[str, Any]:
    """A content dict in the shared field names, b251114's spread-out properties gathered back."""
    if not isinstance(content, dict) or not isinstance(content.get("type"), str):
        raise ValueError("a content is not an object with a type")
    kind = content["type"]
    fields: dict[str, Any] = {"type": kind}
    extra: dict[str, Any] = {}
    for key, value in content.items():
        if key == "type":
            continue
        name = _RENAMED.get((kind, key), key)
        if name == "usage_details" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "type"}  # b251114 tags it "usage_details"
        if name in _KNOWN_CONTENT_FIELDS:
            fields[name] = value
        else:
            extra[key] = value
    fields["additional_properties"] = _properties(fields.get("additional_properties"), extra)
    return _map_nested(fields, _neutral_content)


def _map_nested(content: dict[str, Any], convert: Callable[[Mapping[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Apply convert to the contents nested inside one (approval requests, tool calls, results)."""
    for key in content.keys() & _NESTED_KEYS:  # usually none: a plain text content is read at full speed
        value = content[key]
        if key in _NESTED_ONE and isinstance(value, dict):
            content[key] = convert(value)
        elif key in _NESTED_MANY and isinstance(value, list):
            content[key] = [convert(item) if isinstance(item, dict) else item for item in value]
    return content


def _content_within(content: Mapping[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """Only the fields a release's Content accepts (it raises TypeError on any other), nested ones too."""
    kept = {key: value for key, value in content.items() if key == "type" or key in fields}
    return _map_nested(kept, lambda nested: _content_within(nested, fields))


def _optional_fields(message: Mapping[str, Any]) -> dict[str, Any]:
    return {field: message[field] for field in ("author_name", "message_id") if message.get(field) is not None}


def encode_entry(message: Mapping[str, Any]) -> str:
    """Compact JSON, as every store of this layout writes an entry."""
    return json.dumps(dict(message), separators=(",", ":"), ensure_ascii=False)


def lab_message_dict(message: Mapping[str, Any]) -> dict[str, Any]:
    """The shape ``ChatMessage.from_dict`` of 1.0.0b260130 accepts (and its ``to_dict`` writes)."""
    return {
        "type": "chat_message",
        "role": {"type": "role", "value": message["role"]},
        "contents": [_content_within(content, LAB_CONTENT_FIELDS) for content in message["contents"]],
        **_optional_fields(message),
        "additional_properties": dict(message.get("additional_properties") or {}),
    }


def v1_message_dict(message: Mapping[str, Any], content_fields: frozenset[str] | None = None) -> dict[str, Any]:
    """The shape ``Message.from_dict`` of 1.x (1.23.0) accepts (and its ``to_dict`` writes).

    The neutral fields are all 1.23.0 fields, so the contents pass as they are; for an older 1.x,
    whose ``Content`` lacks some of them, ``content_fields`` names the ones it accepts.
    """
    if content_fields is None or content_fields >= _KNOWN_CONTENT_FIELDS:
        contents = [dict(content) for content in message["contents"]]
    else:
        contents = [_content_within(content, content_fields) for content in message["contents"]]
    return {
        "type": "message",
        "role": message["role"],
        "contents": contents,
        **_optional_fields(message),
        "additional_properties": dict(message.get("additional_properties") or {}),
    }


def shown(message: Mapping[str, Any]) -> tuple[str, str]:
    """(role, text) as a person reads it, from ``to_dict()`` of any release's message."""
    neutral = normalize(dict(message))
    return neutral["role"], message_text(neutral)


def message_text(message: Mapping[str, Any]) -> str:
    """What a user reads: text contents joined, other kinds as short bracketed notes."""
    parts: list[str] = []
    for content in message.get("contents") or []:
        kind = content.get("type") or ""
        if kind == "text":
            parts.append(content.get("text") or "")
        elif kind == "function_call":
            parts.append(f"[calls {content.get('name') or '?'}]")
        elif kind == "function_result":
            parts.append(f"[tool result: {_shown(content.get('result'))}]")
        elif kind and kind not in _UNSHOWN_KINDS:
            parts.append(f"[{kind}]")
    return " ".join(part.strip() for part in parts if part.strip())


def _shown(result: Any) -> str:
    """A tool result as text; structured results as JSON, which is also how 1.x stores them."""
    if result is None or isinstance(result, str):
        return result or ""
    return json.dumps(result, ensure_ascii=False, default=str)
