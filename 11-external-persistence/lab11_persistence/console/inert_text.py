"""Text from Redis or from a model, made safe to print on a terminal.

Anything in a stored message may have been written by another process, or by a model that was
told to: printed raw, ``"\\x1b]0;TITLE\\x07"`` retitles the window, ``"\\x1b[2J"`` clears the
screen, ``"\\r"`` overwrites the line, OSC 52 sets the clipboard and OSC 8 hides a link behind
innocent text. Every escape sequence (CSI, OSC, DCS, APC, ...) starts with a control character,
either ESC or its 8-bit C1 form (U+009B is a one-character CSI), so showing each control character
as a visible escape, instead of sending it, leaves nothing for the terminal to act on.

The mapping is one character at a time, so a reply streamed in chunks is made just as safe chunk
by chunk as whole: a sequence split across two chunks is still escaped.

What is shown visibly, and why:

- C0 controls U+0000-U+001F except newline and tab (which text needs and which move the cursor in
  only the expected way), DEL U+007F, and the C1 range U+0080-U+009F. They appear the way Python
  writes them (``\\x1b``, ``\\r``, ``\\x9b``), which is how the issue and the tests spell them.
- Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069). A terminal or
  a viewer the text is copied into that applies the Unicode bidi algorithm reorders the line with
  them, so ``"x = 1 \\u202e// yes"`` can display differently from what it says ("Trojan Source").
  Right-to-left text does not need them: Arabic and Hebrew letters carry their own direction. The
  invisible marks U+200E, U+200F and U+061C are kept: they only nudge neutral characters and are
  used in genuine right-to-left writing.

Backslashes are left as they are, so a message that literally contains the four characters
``\\x1b`` prints the same as an escaped ESC: ambiguous to read, harmless to the terminal, and
ordinary text with backslashes (a Windows path) is not disturbed.
"""

from __future__ import annotations

_KEPT = frozenset("\n\t")
_NAMED = {"\r": "\\r"}
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]


def _visible(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_CONTROLS = [code for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if chr(code) not in _KEPT]
_TABLE: dict[int, str] = {code: _visible(code) for code in [*_CONTROLS, *_BIDI]}
# On one line, newline and tab (and the Unicode line and paragraph separators) fold to a space.
_LINE_TABLE: dict[int, str] = {**_TABLE, **{ord(char): " " for char in "\n\t\u2028\u2029"}}


def inert(text: str) -> str:
    """``text`` with every control character other than newline and tab shown instead of sent."""
    return text.translate(_TABLE)


def inert_line(text: str) -> str:
    """``text`` made inert and kept on one line (thread previews, lists): newlines and tabs become spaces."""
    return text.translate(_LINE_TABLE)
