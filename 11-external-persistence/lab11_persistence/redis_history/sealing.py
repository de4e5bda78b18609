"""Sealing stored entries: the keyring (``LAB11_ENCRYPTION_KEYS``) and the envelope an entry is stored in.

An entry (a message's JSON string, or a thread's summary record) is sealed with AES-256-GCM into one
line of ASCII text, version 1 of the envelope (docs/encryption.md)::

    lab11-sealed:v1:<key id>:<base64url, unpadded: 12-byte nonce | ciphertext | 16-byte tag>

- The nonce is fresh for every entry (``os.urandom``), so the same message sealed twice differs.
- The key id is in the clear: anyone can tell which key an entry needs (``key_id_of``), no key needed.
- The associated data is the envelope's header (``lab11-sealed:v1:<key id>:``) followed by the Redis
  key of the thread the entry belongs to: an entry copied into another thread, or relabelled with
  another key id or version, fails authentication (``BrokenSealError``).
- A stored JSON entry starts with ``{``; an envelope starts with ``l``, which no JSON text does, so the
  two cannot be mistaken for each other, and a thread may hold both (``open`` passes plaintext through).

Nothing here imports redis-py or the Agent Framework: the core applies ``Keyring.seal`` and
``Keyring.open`` to entries on their way into and out of Redis.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lab11_persistence.encryption_setting import (
    KEY_BYTES,
    KEY_ID,
    KEY_ID_RULE,
    SETTING,
    KeyringError,
    from_base64url,
    parse_key_entries,
)

__all__ = [
    "ENVELOPE_PREFIX",
    "SETTING",
    "BrokenSealError",
    "Keyring",
    "KeyringError",
    "MissingKeyError",
    "is_sealed",
    "key_id_of",
    "new_key_entry",
]

ENVELOPE_PREFIX = "lab11-sealed:"
VERSION = "v1"
NONCE_BYTES = 12  # 96 bits, GCM's own size
TAG_BYTES = 16
_VERSION_WORD = re.compile(r"v[0-9]{1,4}")


class MissingKeyError(LookupError):
    """An entry is sealed under a key id the keyring lacks: a configuration error, not a corrupt entry."""

    def __init__(self, key_id: str, thread_key: str, known_ids: Sequence[str]) -> None:
        self.key_id = key_id
        self.thread_key = thread_key
        held = f"it holds {', '.join(repr(known) for known in known_ids)}" if known_ids else "it is not set"
        super().__init__(
            f"{thread_key} holds an entry sealed with key id {key_id!r}, which {SETTING} lacks ({held}); "
            "add that key back to read it."
        )


class BrokenSealError(ValueError):
    """A sealed entry that cannot be opened with its key: altered, moved from another thread, or cut short.

    The core treats it as it treats any corrupt entry: skipped with one warning, never deleted.
    """


@dataclass(frozen=True)
class _Envelope:
    key_id: str
    header: str  # what the associated data starts with: "lab11-sealed:v1:<key id>:"
    payload: str

    @classmethod
    def parse(cls, entry: object) -> _Envelope | None:
        """The envelope of a sealed entry; None for anything else (plaintext); BrokenSealError if malformed."""
        if not isinstance(entry, str) or not entry.startswith(ENVELOPE_PREFIX):
            return None
        version, _, rest = entry[len(ENVELOPE_PREFIX) :].partition(":")
        if version != VERSION:
            named = repr(version) if _VERSION_WORD.fullmatch(version) else "an unknown version"
            raise BrokenSealError(f"sealed entry in envelope {named}, which this release cannot open")
        key_id, separator, payload = rest.partition(":")
        if not separator or not KEY_ID.fullmatch(key_id):
            raise BrokenSealError("sealed entry with a malformed envelope (no valid key id)")
        return cls(key_id=key_id, header=f"{ENVELOPE_PREFIX}{VERSION}:{key_id}:", payload=payload)

    def sealed_bytes(self) -> bytes:
        """Nonce, ciphertext and tag, decoded from the payload."""
        sealed = from_base64url(self.payload)
        if sealed is None:
            raise BrokenSealError(f"sealed entry under key {self.key_id!r} whose payload is not base64url")
        if len(sealed) < NONCE_BYTES + TAG_BYTES:
            raise BrokenSealError(f"sealed entry under key {self.key_id!r} is cut short")
        return sealed


def _associated_data(header: str, thread_key: str) -> bytes:
    # The header ends with ":" and a key id holds none, so header and thread key cannot run into each other.
    return (header + thread_key).encode("utf-8", "surrogatepass")


def is_sealed(entry: object) -> bool:
    """Whether a stored entry is in an envelope (it may still be malformed); plaintext otherwise."""
    return isinstance(entry, str) and entry.startswith(ENVELOPE_PREFIX)


def key_id_of(entry: object) -> str | None:
    """The id of the key an entry is sealed with, read without any key; None for plaintext.

    BrokenSealError for an envelope too malformed to name one.
    """
    envelope = _Envelope.parse(entry)
    return envelope.key_id if envelope else None


def new_key_entry(key_id: str | None = None) -> str:
    """A fresh ``ID:KEY`` entry for the setting (``lab11 new-key [ID]``): 32 random bytes, URL-safe base64.

    Without an id, today's UTC date and four random hex digits (``20261205-3fa9``): rotating twice a
    day still gives two ids.
    """
    if key_id is None:
        key_id = f"{time.strftime('%Y%m%d', time.gmtime())}-{secrets.token_hex(2)}"
    elif not KEY_ID.fullmatch(key_id):
        raise KeyringError(f"A key id in {SETTING} is {KEY_ID_RULE}.")
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode('ascii')}"


class Keyring:
    """The keys entries are sealed and opened with: the first seals, every one opens.

    An empty keyring (the setting unset) seals nothing, passes plaintext through, and raises
    MissingKeyError for a sealed entry. The keys themselves are held only inside the AESGCM objects,
    built once per key (sealing an entry costs no key setup), and never shown: ``repr`` lists the ids.
    """

    __slots__ = ("_openers", "_sealer")

    def __init__(self, keys: Iterable[tuple[str, bytes]] = ()) -> None:
        self._openers: dict[str, AESGCM] = {}
        for key_id, key in keys:
            if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
                raise KeyringError(f"A key id in {SETTING} is {KEY_ID_RULE}.")
            if key_id in self._openers:
                raise KeyringError(f"{SETTING} has the key id {key_id!r} twice.")
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise KeyringError(f"The key {key_id!r} in {SETTING} is not {KEY_BYTES} bytes.")
            self._openers[key_id] = AESGCM(key)
        first = next(iter(self._openers.items()), None)
        self._sealer: tuple[str, AESGCM] | None = first

    @classmethod
    def parse(cls, value: str | Sequence[str] | Keyring | None) -> Keyring:
        """The keyring a setting describes: ``"ID:KEY[,ID:KEY...]"`` or a sequence of ``ID:KEY`` entries.

        None, a blank string or an empty sequence is the empty keyring (plaintext, as before). Anything
        malformed is one KeyringError naming the setting and the entry's position, never its key.
        """
        if isinstance(value, Keyring):
            return value
        return cls(parse_key_entries(value))

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every id, the sealing one first."""
        return tuple(self._openers)

    @property
    def sealing_key_id(self) -> str | None:
        """The id new entries are sealed under; None for the empty keyring."""
        return self._sealer[0] if self._sealer else None

    def __bool__(self) -> bool:
        return self._sealer is not None

    def __repr__(self) -> str:
        return f"Keyring(key_ids={self.key_ids!r})"

    def seal(self, entry: str, thread_key: str) -> str:
        """The entry in an envelope under the first key, bound to its thread's Redis key; as it is if empty."""
        if self._sealer is None:
            return entry
        if is_sealed(entry):
            raise ValueError("the entry is sealed already: open it first")
        key_id, aead = self._sealer
        header = f"{ENVELOPE_PREFIX}{VERSION}:{key_id}:"
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = aead.encrypt(nonce, entry.encode("utf-8", "surrogatepass"), _associated_data(header, thread_key))
        return header + base64.urlsafe_b64encode(nonce + ciphertext).rstrip(b"=").decode("ascii")

    def open(self, entry: str, thread_key: str) -> str:
        """The entry as it was sealed; plaintext passes through unchanged.

        MissingKeyError if the keyring lacks its key id; BrokenSealError if it does not authenticate
        under ``thread_key`` (moved from another thread, altered) or is malformed.
        """
        envelope = _Envelope.parse(entry)
        if envelope is None:
            return entry
        aead = self._openers.get(envelope.key_id)
        if aead is None:
            raise MissingKeyError(envelope.key_id, thread_key, self.key_ids)
        sealed = envelope.sealed_bytes()
        try:
            plain = aead.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _associated_data(envelope.header, thread_key)
            )
        except InvalidTag:
            raise BrokenSealError(
                f"sealed entry fails authentication under key {envelope.key_id!r} "
                "(altered, or moved from another thread)"
            ) from None
        try:
            return plain.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:  # authentic, so sealed by a key holder, but not by this module
            raise BrokenSealError(f"sealed entry under key {envelope.key_id!r} does not hold text") from None

    def needs_rekey(self, entry: str) -> bool:
        """Whether ``lab11 rekey`` should rewrite the entry: plaintext, or sealed under another key than the first.

        False for the empty keyring (nothing to seal with) and for an envelope too malformed to open.
        """
        if self._sealer is None:
            return False
        try:
            key_id = key_id_of(entry)
        except BrokenSealError:
            return False
        return key_id != self._sealer[0]
