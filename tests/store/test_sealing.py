"""Issue 24, the framework-free part: the keyring from LAB11_ENCRYPTION_KEYS and the sealed envelope.

No server: ``redis_history.sealing`` turns an entry into an envelope and back, whoever stores it.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lab11_persistence.redis_history.sealing import (
    ENVELOPE_PREFIX,
    BrokenSealError,
    Keyring,
    KeyringError,
    MissingKeyError,
    is_sealed,
    key_id_of,
    new_key_entry,
)

pytestmark = pytest.mark.fast

THREAD = "lab11:thread_6f1c2a9e-0c8b-4d7e-9a51-3b2f7c1d0e42"
OTHER_THREAD = "lab11:thread_0a3d5e7f-1b2c-4d6e-8f90-a1b2c3d4e5f6"
MESSAGE = '{"type":"chat_message","role":{"type":"role","value":"user"},"contents":[{"type":"text","text":"I am Ana"}]}'
SUMMARY = '{"text":"Ana plans Lisbon in May","covers":180,"in_list":40,"last":"0123456789abcdef","updated_at":1.0}'


def key_text(size: int = 32) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).decode("ascii")


def keyring(*ids: str) -> tuple[Keyring, list[str]]:
    """A keyring of fresh keys under ``ids`` (the first seals), and the key texts, to look for in output."""
    keys = [key_text() for _ in ids]
    return Keyring.parse(",".join(f"{key_id}:{key}" for key_id, key in zip(ids, keys, strict=True))), keys


def nonce_of(envelope: str) -> bytes:
    payload = envelope.rsplit(":", 1)[1]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))[:12]


# -- sealing and opening ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry", [MESSAGE, SUMMARY], ids=["message", "summary"])
def test_an_entry_opens_to_exactly_what_was_sealed_and_is_unreadable_in_between(entry: str) -> None:
    ring, _ = keyring("k1")
    sealed = ring.seal(entry, THREAD)
    assert "Ana" not in sealed
    assert ring.open(sealed, THREAD) == entry


def test_the_same_entry_sealed_twice_gets_two_nonces() -> None:
    ring, _ = keyring("k1")
    first, second = ring.seal(MESSAGE, THREAD), ring.seal(MESSAGE, THREAD)
    assert first != second
    assert nonce_of(first) != nonce_of(second)


def test_the_key_id_of_a_sealed_entry_is_read_without_any_key() -> None:
    ring, _ = keyring("2026-12", "old")
    sealed = ring.seal(MESSAGE, THREAD)
    assert key_id_of(sealed) == "2026-12"
    assert key_id_of(MESSAGE) is None


def test_an_envelope_is_versioned_and_never_taken_for_a_json_entry() -> None:
    ring, _ = keyring("k1")
    sealed = ring.seal(MESSAGE, THREAD)
    assert sealed.startswith(f"{ENVELOPE_PREFIX}v1:k1:")
    assert sealed.isascii() and "\n" not in sealed
    assert is_sealed(sealed) and not is_sealed(MESSAGE) and not is_sealed(SUMMARY)
    with pytest.raises(ValueError):
        json.loads(sealed)


def test_plaintext_entries_pass_through_so_a_thread_may_mix_both() -> None:
    ring, _ = keyring("k1")
    thread = [MESSAGE, ring.seal(MESSAGE, THREAD), "not even json", ring.seal(SUMMARY, THREAD)]
    assert [ring.open(entry, THREAD) for entry in thread] == [MESSAGE, MESSAGE, "not even json", SUMMARY]


def test_an_entry_moved_to_another_thread_fails_authentication() -> None:
    ring, _ = keyring("k1")
    sealed = ring.seal(MESSAGE, THREAD)
    with pytest.raises(BrokenSealError, match="moved from another thread"):
        ring.open(sealed, OTHER_THREAD)


def test_an_entry_relabelled_with_another_key_id_fails_authentication() -> None:
    """The key id is authenticated too: the same key under two ids does not make a relabelled entry pass."""
    key = key_text()
    ring = Keyring.parse(f"a:{key},b:{key}")
    relabelled = ring.seal(MESSAGE, THREAD).replace(":v1:a:", ":v1:b:", 1)
    with pytest.raises(BrokenSealError):
        ring.open(relabelled, THREAD)


def _with_payload(envelope: str, change: Callable[[str], str]) -> str:
    header, payload = envelope.rsplit(":", 1)
    return f"{header}:{change(payload)}"


def _flip_one_character(envelope: str) -> str:
    index = len(envelope) - 10
    return envelope[:index] + ("A" if envelope[index] != "A" else "B") + envelope[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        _flip_one_character,
        lambda envelope: envelope[:-4],  # cut short
        lambda envelope: envelope[: envelope.rindex(":") + 20],  # cut shorter than nonce and tag
        lambda envelope: envelope + "!",  # not base64url
        lambda envelope: envelope + "===",  # too much padding
        lambda envelope: _with_payload(envelope, lambda payload: payload + "+/"),  # the other base64 alphabet
        lambda envelope: envelope.replace(":v1:", ":v2:", 1),  # a version this release does not read
        lambda envelope: envelope.replace(":k1:", ":k 1:", 1),  # no valid key id
        lambda envelope: envelope.rsplit(":", 1)[0],  # no payload at all
    ],
    ids=["flipped", "truncated", "short", "bad-char", "padding", "std-alphabet", "version", "key-id", "no-payload"],
)
def test_a_tampered_envelope_fails_as_a_broken_seal(tamper: Callable[[str], str]) -> None:
    ring, _ = keyring("k1")
    with pytest.raises(BrokenSealError):
        ring.open(tamper(ring.seal(MESSAGE, THREAD)), THREAD)


def test_a_broken_seal_is_a_value_error_as_the_cores_corrupt_entries_are() -> None:
    """The core skips an entry whose decoding raises ValueError (one warning, never deleted)."""
    assert issubclass(BrokenSealError, ValueError)


def test_an_entry_is_never_sealed_twice() -> None:
    ring, _ = keyring("k1")
    with pytest.raises(ValueError, match="sealed already"):
        ring.seal(ring.seal(MESSAGE, THREAD), THREAD)


# -- a missing key -----------------------------------------------------------------------------------


def test_an_entry_under_a_key_the_keyring_lacks_raises_missing_key_naming_the_id() -> None:
    old, _ = keyring("old")
    new, _ = keyring("new")
    with pytest.raises(MissingKeyError) as raised:
        new.open(old.seal(MESSAGE, THREAD), THREAD)
    assert raised.value.key_id == "old"
    assert "'old'" in str(raised.value) and THREAD in str(raised.value) and "LAB11_ENCRYPTION_KEYS" in str(raised.value)


def test_a_missing_key_is_a_configuration_error_not_a_corrupt_entry() -> None:
    """Not a ValueError: the core's skip-and-warn path for corrupt entries must not swallow it."""
    assert not issubclass(MissingKeyError, ValueError)


def test_a_sealed_entry_without_any_keys_set_raises_missing_key() -> None:
    sealer, _ = keyring("k1")
    with pytest.raises(MissingKeyError, match="is not set"):
        Keyring.parse(None).open(sealer.seal(MESSAGE, THREAD), THREAD)


# -- rotation ---------------------------------------------------------------------------------------


def test_rotation_new_first_key_seals_and_the_old_key_still_opens() -> None:
    old_entry, new_entry = f"old:{key_text()}", f"new:{key_text()}"
    before = Keyring.parse(old_entry)
    written_before = before.seal(MESSAGE, THREAD)

    rotated = Keyring.parse(f"{new_entry},{old_entry}")
    written_after = rotated.seal(SUMMARY, THREAD)

    assert key_id_of(written_after) == "new"
    assert rotated.open(written_before, THREAD) == MESSAGE
    assert rotated.open(written_after, THREAD) == SUMMARY


def test_after_a_rekey_the_old_key_can_be_dropped() -> None:
    old_entry, new_entry = f"old:{key_text()}", f"new:{key_text()}"
    stored = [MESSAGE, Keyring.parse(old_entry).seal(SUMMARY, THREAD)]
    rotated = Keyring.parse([new_entry, old_entry])

    rekeyed = [
        rotated.seal(rotated.open(entry, THREAD), THREAD) if rotated.needs_rekey(entry) else entry for entry in stored
    ]

    only_new = Keyring.parse(new_entry)
    assert [only_new.open(entry, THREAD) for entry in rekeyed] == [MESSAGE, SUMMARY]


def test_needs_rekey_is_plaintext_or_a_key_other_than_the_first() -> None:
    old_entry, new_entry = f"old:{key_text()}", f"new:{key_text()}"
    rotated = Keyring.parse([new_entry, old_entry])
    assert rotated.needs_rekey(MESSAGE)
    assert rotated.needs_rekey(Keyring.parse(old_entry).seal(MESSAGE, THREAD))
    assert not rotated.needs_rekey(rotated.seal(MESSAGE, THREAD))


def test_needs_rekey_leaves_alone_what_it_cannot_help() -> None:
    """Nothing to seal with (no keys), an envelope too malformed to open, or one of a later version."""
    ring, _ = keyring("k1")
    assert not Keyring.parse("").needs_rekey(MESSAGE)
    assert not ring.needs_rekey(f"{ENVELOPE_PREFIX}v1:not a key id:AAAA")
    assert not ring.needs_rekey(ring.seal(MESSAGE, THREAD).replace(":v1:", ":v2:", 1))


# -- the setting --------------------------------------------------------------------------------------


@pytest.mark.parametrize("unset", [None, "", "   ", []])
def test_an_unset_setting_is_an_empty_keyring_that_leaves_entries_in_plaintext(unset: str | list[str] | None) -> None:
    ring = Keyring.parse(unset)
    assert not ring and ring.key_ids == () and ring.sealing_key_id is None
    assert ring.seal(MESSAGE, THREAD) == MESSAGE
    assert ring.open(MESSAGE, THREAD) == MESSAGE


def test_a_string_and_a_sequence_of_entries_give_the_same_keyring() -> None:
    entries = [f"a:{key_text()}", f" b : {key_text()} "]
    from_text, from_list = Keyring.parse(",".join(entries)), Keyring.parse(entries)
    assert from_text.key_ids == from_list.key_ids == ("a", "b")
    assert from_list.open(from_text.seal(MESSAGE, THREAD), THREAD) == MESSAGE


def test_a_key_is_taken_padded_or_unpadded() -> None:
    key = key_text()
    padded, unpadded = Keyring.parse(f"k:{key}"), Keyring.parse(f"k:{key.rstrip('=')}")
    assert unpadded.open(padded.seal(MESSAGE, THREAD), THREAD) == MESSAGE


_KEY = key_text()
MALFORMED = {
    "no-colon": _KEY,
    "empty-entry": f"a:{_KEY},",
    "no-id": f":{_KEY}",
    "short-key": f"a:{key_text(31)}",
    "long-key": f"a:{key_text(33)}",
    "not-base64": f"a:{_KEY[:-2]}!!",
    "standard-alphabet": "a:" + base64.b64encode(b"\xfb" * 32).decode("ascii"),
    "no-key": "a:",
    "repeated-id": f"a:{_KEY},b:{key_text()},a:{key_text()}",
    "id-with-space": f"my key:{_KEY}",
    "id-not-ascii": f"clé:{_KEY}",
    "id-too-long": f"{'k' * 33}:{_KEY}",
    "key-and-id-swapped": f"{_KEY}:a",
}


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_setting_is_one_line_naming_it_and_never_the_key(value: str) -> None:
    with pytest.raises(KeyringError) as raised:
        Keyring.parse(value)
    message = str(raised.value)
    assert "LAB11_ENCRYPTION_KEYS" in message
    assert "\n" not in message
    assert _KEY not in message and _KEY.rstrip("=")[:12] not in message
    assert raised.value.__cause__ is None


def test_a_repeated_id_is_named_with_both_positions() -> None:
    with pytest.raises(KeyringError, match=r"entries 1 and 3 have the same id 'a'"):
        Keyring.parse(MALFORMED["repeated-id"])


@pytest.mark.parametrize("entries", [[42], [b"a:" + _KEY.encode()], [("a", _KEY)]], ids=["int", "bytes", "tuple"])
def test_a_sequence_entry_that_is_not_text_is_malformed(entries: list[object]) -> None:
    with pytest.raises(KeyringError, match="LAB11_ENCRYPTION_KEYS: entry 1 is not ID:KEY"):
        Keyring.parse(entries)  # type: ignore[arg-type]


def test_a_malformed_setting_is_a_value_error() -> None:
    """The settings layer turns it into its one-line setup error (exit 2); callers of the store get a ValueError."""
    assert issubclass(KeyringError, ValueError)


def test_no_key_material_in_the_keyrings_repr_or_in_any_error() -> None:
    ring, keys = keyring("new", "old")
    other, other_keys = keyring("elsewhere")
    sealed = ring.seal(MESSAGE, THREAD)
    shown = [repr(ring), str(ring)]
    for action in (lambda: other.open(sealed, THREAD), lambda: ring.open(sealed, OTHER_THREAD)):
        with pytest.raises((MissingKeyError, BrokenSealError)) as raised:
            action()
        shown.append(str(raised.value))
    assert repr(ring) == "Keyring(key_ids=('new', 'old'))"
    for text in shown:
        for key in keys + other_keys:
            assert key.rstrip("=")[:12] not in text


# -- new keys -----------------------------------------------------------------------------------------


def test_a_new_key_entry_is_a_valid_setting_with_its_own_key() -> None:
    first, second = new_key_entry("k1"), new_key_entry("k1")
    assert first.startswith("k1:") and first != second
    assert len(base64.urlsafe_b64decode(first.split(":", 1)[1])) == 32
    assert Keyring.parse(first).key_ids == ("k1",)


def test_a_new_key_entry_without_an_id_gets_a_dated_one() -> None:
    entry = new_key_entry()
    key_id = Keyring.parse(entry).sealing_key_id
    assert key_id is not None and entry.startswith(f"{key_id}:")
    assert len(key_id) == len("20261205-3fa9") and key_id[:8].isdigit() and key_id[8] == "-"


@pytest.mark.parametrize("bad_id", ["", "my key", "a:b", "a,b", "k" * 33, "clé"])
def test_a_new_key_with_an_unusable_id_is_refused(bad_id: str) -> None:
    with pytest.raises(KeyringError, match="LAB11_ENCRYPTION_KEYS"):
        new_key_entry(bad_id)


# -- properties -------------------------------------------------------------------------------------

PROPERTY_RING = Keyring.parse(new_key_entry("p"))
any_text = st.text(alphabet=st.characters(codec=None, categories=None))  # lone surrogates too


@given(entry=any_text, thread_key=any_text)
def test_any_text_entry_round_trips_in_any_thread(entry: str, thread_key: str) -> None:
    assume(not is_sealed(entry))  # text that already looks like an envelope is refused, not sealed twice
    sealed = PROPERTY_RING.seal(entry, thread_key)
    assert sealed.isascii() and key_id_of(sealed) == "p"
    assert PROPERTY_RING.open(sealed, thread_key) == entry


@given(entry=any_text, thread_key=any_text, other_key=any_text)
def test_any_entry_fails_in_any_other_thread(entry: str, thread_key: str, other_key: str) -> None:
    assume(not is_sealed(entry) and other_key != thread_key)
    with pytest.raises(BrokenSealError):
        PROPERTY_RING.open(PROPERTY_RING.seal(entry, thread_key), other_key)
