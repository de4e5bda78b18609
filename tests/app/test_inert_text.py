"""Stored and model text is shown, never obeyed: no escape sequence reaches the terminal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab11_persistence.console.inert_text import inert, inert_line

pytestmark = pytest.mark.fast

MEASURED = "\x1b]0;TITLE\x07\x1b[2J\rOVERWRITE"  # retitles the window, clears the screen, overwrites the line
CONTROLS = {chr(code) for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]} - {"\n", "\t"}
BIDI = {chr(code) for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


def test_the_measured_payload_cannot_retitle_clear_or_overwrite() -> None:
    shown = inert(MEASURED)
    assert not {"\x1b", "\x07", "\r"} & set(shown)
    assert shown == "\\x1b]0;TITLE\\x07\\x1b[2J\\rOVERWRITE"


def test_an_osc_52_clipboard_write_is_shown_not_sent() -> None:
    assert inert("\x1b]52;c;aGVsbG8=\x07") == "\\x1b]52;c;aGVsbG8=\\x07"
    assert inert("\x1b]52;c;aGVsbG8=\x1b\\") == "\\x1b]52;c;aGVsbG8=\\x1b\\"


def test_an_osc_8_hidden_link_is_shown_not_sent() -> None:
    link = "\x1b]8;;https://example.invalid\x1b\\click\x1b]8;;\x1b\\"
    assert "\x1b" not in inert(link)
    assert "https://example.invalid" in inert(link)


def test_the_8_bit_csi_and_the_rest_of_c1_are_shown() -> None:
    assert inert("\x9b2J") == "\\x9b2J"
    assert inert("\x90q\x9c") == "\\x90q\\x9c"  # DCS ... ST in their 8-bit forms
    assert inert("\x85") == "\\x85"


def test_backspace_delete_and_nul_are_shown() -> None:
    assert inert("ab\x08\x08cd\x7f\x00") == "ab\\x08\\x08cd\\x7f\\x00"


def test_bidi_overrides_and_isolates_are_shown() -> None:
    assert inert("access = 'user' \u202e// admin") == "access = 'user' \\u202e// admin"
    assert inert("\u2067abc\u2069") == "\\u2067abc\\u2069"


def test_ordinary_text_newlines_and_tabs_are_untouched() -> None:
    text = "Olá, São Paulo! Ça va? 東京 🍣👩‍👩‍👧 שלום مرحبا\n\tline two\\path"
    assert inert(text) == text


def test_a_line_stays_on_one_line() -> None:
    assert inert_line("first\nsecond\tthird\u2028fourth") == "first second third fourth"
    assert inert_line("a\r\nb") == "a\\r b"
    assert inert_line(MEASURED) == inert(MEASURED)


@given(st.text())
def test_no_control_character_survives_except_newline_and_tab(text: str) -> None:
    assert not (CONTROLS | BIDI) & set(inert(text))


@given(st.text())
def test_a_line_holds_no_control_character_and_no_line_break(text: str) -> None:
    assert not (CONTROLS | BIDI | {"\n", "\t", "\u2028", "\u2029"}) & set(inert_line(text))


@given(st.lists(st.text(), max_size=8))
def test_streamed_chunks_are_as_safe_as_the_whole(chunks: list[str]) -> None:
    assert "".join(inert(chunk) for chunk in chunks) == inert("".join(chunks))


@given(st.text(alphabet=st.characters(blacklist_categories=["Cc"], blacklist_characters=sorted(BIDI))))
def test_text_without_controls_is_printed_as_it_is(text: str) -> None:
    assert inert(text) == text
