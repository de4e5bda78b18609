"""Throwaway LAB11_ENCRYPTION_KEYS entries for tests: ``ID:`` and 32 random bytes in URL-safe base64."""

from __future__ import annotations

import base64
import secrets


def key_entry(key_id: str) -> str:
    """One key of the setting, as ``lab11 new-key ID`` prints it."""
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode('ascii')}"
