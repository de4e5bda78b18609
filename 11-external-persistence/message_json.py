"""Stored chat messages as plain dicts, whichever Agent Framework release wrote them (no framework import)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def decode_entry(raw: str) -> dict[str, Any]:
    """One stored entry as ``{"role": str, "contents": [...], ...}``; ValueError when it is not a message."""
    try:
        payload = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"not JSON ({error.__class__.__name__})") from None
    return normalize(payload)


def normalize(payload: Any) -> dict[str, Any]:
    """A message dict of any release as ``{"role": str, "contents": [...], ...}``; ValueError if it is none."""
    if not isinstance(payload, dict) or "role" not in payload:
        raise ValueError("JSON without a role is not a chat message")
    role = payload["role"]
    if isinstance(role, Mapping):
        role = role.get("value")
    if not isinstance(role, str):
        raise ValueError("the role is not a string")
    message = {key: value for key, value in payload.items() if key not in ("type", "role", "text", "content")}
    contents = payload.get("contents")
    if contents is None:
        text = payload.get("text", payload.get("content"))
        if not isinstance(text, str):
            raise ValueError("a message needs contents or a text")
        contents = [{"type": "text", "text": text}]
    if not isinstance(contents, list) or not all(isinstance(item, Mapping) for item in contents):
        raise ValueError("contents must be a list of objects")
    message["role"] = role
    message["contents"] = [dict(item) for item in contents]
    return message


def encode_entry(message: Mapping[str, Any]) -> str:
    """Compact JSON, as every store of this layout writes it."""
    return json.dumps(dict(message), separators=(",", ":"), ensure_ascii=False)


def lab_message_dict(message: Mapping[str, Any]) -> dict[str, Any]:
    """The shape ``ChatMessage.from_dict`` of agent-framework-core 1.0.0b260130 reads."""
    return {**message, "type": "chat_message", "role": {"type": "role", "value": message["role"]}}


def v1_message_dict(message: Mapping[str, Any]) -> dict[str, Any]:
    """The shape ``Message.from_dict`` of agent-framework-core 1.x reads."""
    return {**message, "type": "message", "role": message["role"]}


def message_text(message: Mapping[str, Any]) -> str:
    """The text a person would read: text contents, other kinds in brackets."""
    parts: list[str] = []
    for content in message.get("contents") or []:
        kind = content.get("type", "")
        if kind == "text" and content.get("text"):
            parts.append(str(content["text"]))
        elif kind == "function_call":
            parts.append(f"[calls {content.get('name', '?')}]")
        elif kind == "function_result":
            parts.append(f"[tool result: {content.get('result', '')}]")
        elif kind and kind not in ("usage", "text_reasoning"):
            parts.append(f"[{kind}]")
    return " ".join(part.strip() for part in parts if part.strip())
