"""The grammar of ``LAB11_ENCRYPTION_KEYS``: ``ID:KEY[,ID:KEY...]`` read into key ids and 32-byte keys.

A settings-level module (it imports nothing of the package, and no cryptography), so that ``config`` can
name a malformed value among the settings' problems and ``redis_history.sealing`` can build its keyring
from the same parse. No message here ever holds a key: a key id is at most 32 characters and a key 43
or 44, so a key pasted where an id belongs is never echoed as one.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

__all__ = ["KEY_BYTES", "KEY_ID", "KEY_ID_RULE", "SETTING", "KeyringError", "from_base64url", "parse_key_entries"]

SETTING = "LAB11_ENCRYPTION_KEYS"
KEY_BYTES = 32  # AES-256
#: A key id: at most 32 characters, so that a key (43 or 44 characters of base64) can never pass for
#: an id and be repeated in an error message; no ``:`` or ``,``, which separate the setting and the envelope.
KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
KEY_ID_RULE = "1 to 32 letters, digits, '.', '_' or '-'"


class KeyringError(ValueError):
    """``LAB11_ENCRYPTION_KEYS`` (or ``encryption_keys=``) is malformed; one line naming the setting, no key in it."""


def from_base64url(text: str) -> bytes | None:
    """The bytes of URL-safe base64, padded or not; None for anything else (never a lenient guess)."""
    unpadded = text.rstrip("=")
    if len(text) - len(unpadded) > 2 or "+" in unpadded or "/" in unpadded:  # b64decode would take "+/" too
        return None
    try:
        return base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):  # ValueError: not ASCII
        return None


def parse_key_entries(value: str | Sequence[str] | None) -> tuple[tuple[str, bytes], ...]:
    """The ``(id, key)`` pairs a setting names, the sealing one first: ``"ID:KEY[,ID:KEY...]"`` or a sequence
    of ``ID:KEY`` entries. None, a blank string or an empty sequence is no key (plaintext, as before).

    Anything malformed is one KeyringError naming the setting and the entry's position, never its key.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        if not value.strip():
            return ()
        entries: list[object] = value.split(",")
    elif isinstance(value, Sequence):
        entries = list(value)
    else:
        raise KeyringError(f"{SETTING} is text (ID:KEY[,ID:KEY...]) or a sequence of ID:KEY entries.")
    keys: list[tuple[str, bytes]] = []
    first_position: dict[str, int] = {}
    for position, entry in enumerate(entries, start=1):
        key_id, key = _parse_entry(position, entry)
        if key_id in first_position:
            raise KeyringError(
                f"{SETTING}: entries {first_position[key_id]} and {position} have the same id {key_id!r}."
            )
        first_position[key_id] = position
        keys.append((key_id, key))
    return tuple(keys)


def _parse_entry(position: int, entry: object) -> tuple[str, bytes]:
    if not isinstance(entry, str) or ":" not in entry:
        raise KeyringError(f"{SETTING}: entry {position} is not ID:KEY (`lab11 new-key` prints one).")
    key_id, _, key_text = (part.strip() for part in entry.partition(":"))
    if not KEY_ID.fullmatch(key_id):
        raise KeyringError(f"{SETTING}: the id of entry {position} is not {KEY_ID_RULE}.")
    key = from_base64url(key_text)
    if key is None or len(key) != KEY_BYTES:
        raise KeyringError(
            f"{SETTING}: the key of entry {position} ({key_id!r}) is not {KEY_BYTES} bytes in URL-safe base64 "
            "(`lab11 new-key` prints one)."
        )
    return key_id, key
