"""The stored-message fixtures of each Agent Framework release, for the tests of either framework.

Standard library only: the lab's tests (1.0.0b260130) and the 1.x tests (1.23.0) both import it.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "messages"
RELEASES = ("1.0.0b251114", "1.0.0b260130", "1.23.0")
#: Lines of the fixture conversation (see make_fixtures.conversation), by what they hold.
SYSTEM, USER, ASSISTANT, UNICODE, WITH_IDS, CALL, RESULT, STRUCTURED_RESULT = range(8)
MULTI_CONTENT, REASONING_AND_USAGE, CONTENT_PROPERTIES, ERROR, APPROVAL = range(8, 13)
#: Content fields whose values every release writes the same way (renamed or added fields are tested apart).
_SHARED_CONTENT_FIELDS = ("type", "text", "call_id", "name", "arguments", "result", "uri", "media_type")
_SHARED_CONTENT_FIELDS += ("message", "error_code", "file_id", "id")


def fixture_lines(release: str) -> list[str]:
    """One stored entry per line, exactly as that release wrote it."""
    return (FIXTURE_DIR / f"{release}.jsonl").read_text(encoding="utf-8").splitlines()


def all_fixture_lines() -> list[tuple[str, int, str]]:
    """(release, line number, entry) for every line of every release, for parametrizing."""
    return [(release, number, line) for release in RELEASES for number, line in enumerate(fixture_lines(release))]


def essentials(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Role, ids, properties and content values of a message dict of any release, to compare releases."""
    role = entry["role"]
    return {
        "role": role.get("value") if isinstance(role, Mapping) else role,
        "author_name": entry.get("author_name"),
        "message_id": entry.get("message_id"),
        "additional_properties": entry.get("additional_properties") or {},
        "contents": [_content_essentials(content) for content in entry["contents"]],
    }


def _content_essentials(content: Mapping[str, Any]) -> dict[str, Any]:
    shared = {field: content[field] for field in _SHARED_CONTENT_FIELDS if field in content}
    if isinstance(content.get("function_call"), Mapping):
        shared["function_call"] = _content_essentials(content["function_call"])
    return shared


def load_make_fixtures() -> ModuleType:
    """The fixture script as a module (it imports whichever agent_framework is installed)."""
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURE_DIR / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_json(message: Any) -> str:
    """What a store writes for a framework message object."""
    return json.dumps(message.to_dict(), ensure_ascii=False)
