"""Placeholder: replaced by the terminal helper's module."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def inert(text: str) -> str:
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def inert_line(text: str) -> str:
    return inert(" ".join(text.split()))
