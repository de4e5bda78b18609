"""The entry codec: the keyring (``sealing``) applied wherever a thread's entry crosses the wire.

Every stored entry of a thread, each message and its summary record, goes into Redis through ``seal``
and comes out through ``open``, both bound to the Redis key of the thread's list (``RedisHistory.key``),
so an entry moved to another thread fails to open. With no keys (``LAB11_ENCRYPTION_KEYS`` unset) both
pass entries through unchanged, as the lab stores them.

How a failure to open reads to its callers: a missing key id is a configuration error
(``MissingKeyError``, raised to the caller, who says so in one line and changes nothing); an entry that
does not authenticate (altered, moved, an unknown envelope version) is a corrupt entry
(``BrokenSealError``, a ``ValueError``): skipped with one warning, never deleted, never shown as text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from lab11_persistence.redis_history.sealing import BrokenSealError, Keyring, MissingKeyError, is_sealed, key_id_of
from lab11_persistence.redis_history.summary import Summary

__all__ = ["BrokenSealError", "EntryCodec", "MissingKeyError"]


def _key_id_or_none(entry: str) -> str | None:
    """The key id an entry is sealed under; None for plaintext or an envelope too broken to name one."""
    try:
        return key_id_of(entry)
    except BrokenSealError:
        return None


logger = logging.getLogger(__name__)


class EntryCodec:
    """Seal and open one history's entries with one keyring (the empty keyring: plaintext, unchanged)."""

    __slots__ = ("_reported", "keyring")

    def __init__(self, keyring: Keyring | None = None) -> None:
        self.keyring = keyring if keyring is not None else Keyring()
        self._reported: set[int] = set()  # summaries already reported as unreadable: one warning each

    def __repr__(self) -> str:
        return f"EntryCodec({self.keyring!r})"

    @property
    def seals(self) -> bool:
        """Whether new writes are sealed (a key is set)."""
        return bool(self.keyring)

    def seal(self, entries: Sequence[str], thread_key: str) -> list[str]:
        """Each entry in an envelope under the first key, bound to ``thread_key``; as they are without keys."""
        if not self.keyring:
            return list(entries)
        return [self.keyring.seal(entry, thread_key) for entry in entries]

    def seal_one(self, entry: str, thread_key: str) -> str:
        return self.keyring.seal(entry, thread_key) if self.keyring else entry

    def open(self, entry: str, thread_key: str) -> str:
        """The entry as written; plaintext as it is. MissingKeyError or BrokenSealError (see the module)."""
        return self.keyring.open(entry, thread_key)

    def open_or_none(self, entry: str, thread_key: str) -> str | None:
        """The entry as written; None for one that does not open (corrupt). MissingKeyError propagates."""
        try:
            return self.keyring.open(entry, thread_key)
        except BrokenSealError:
            return None

    def reseal(self, entry: str, from_key: str, to_key: str) -> str:
        """An entry stored under ``from_key`` (an import's source), as ``to_key`` stores it: for the same key a
        sealed entry is kept byte for byte and a plaintext one sealed (when a key is set); for another key
        it is opened and sealed again for it (MissingKeyError without its key). One that does not open
        stays as it is: a corrupt entry stays corrupt, never deleted."""
        if from_key == to_key:
            return entry if is_sealed(entry) else self.seal_one(entry, to_key)
        opened = self.open_or_none(entry, from_key)
        return entry if opened is None else self.seal_one(opened, to_key)

    def check_reseal(self, entries: Sequence[str], from_key: str, to_key: str) -> None:
        """MissingKeyError if ``reseal`` would need a key id the keyring lacks (nothing is opened)."""
        if from_key == to_key:
            return
        for entry in entries:
            key_id = _key_id_or_none(entry)
            if key_id is not None and key_id not in self.keyring.key_ids:
                raise MissingKeyError(key_id, from_key, self.keyring.key_ids)

    def open_summary(self, raw: object, thread_key: str) -> Summary | None:
        """The thread's summary record, opened and parsed; None for none, or for one that does not open (one
        warning: it is left in place, and the next fold writes a new one). MissingKeyError propagates."""
        if not isinstance(raw, str):
            return None
        try:
            return Summary.parse(self.keyring.open(raw, thread_key))
        except BrokenSealError as error:
            if hash(raw) not in self._reported:
                self._reported.add(hash(raw))
                logger.warning("Skipping the summary of %s: %s", thread_key, error)
            return None

    def seal_summary(self, summary: Summary, thread_key: str) -> str:
        """The summary's record as stored: sealed, bound to the thread's list key, when a key is set."""
        return self.seal_one(summary.record(), thread_key)
