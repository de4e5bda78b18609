"""Line editing at a terminal, done by the app: a line of any length arrives whole.

In canonical mode the terminal edits the line itself and keeps at most 4,095 characters of it,
dropping the rest without a word; a long paste was cut short. While the app waits for a line, the
terminal hands over keys as they are typed (``keys_one_by_one``) and ``LineEditor`` does what the
terminal did: the editing keys, the echo, the end of input. Ctrl-C and Ctrl-Z stay the terminal's.
termios is imported at the first prompt, never at start-up (Windows has none).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

# The editing keys a terminal in canonical mode honours, which the app honours itself (see LineEditor).
ERASE_KEYS = (b"\x7f", b"\x08")  # Backspace (DEL), Ctrl-H
KILL_LINE_KEY = b"\x15"  # Ctrl-U
ERASE_WORD_KEY = b"\x17"  # Ctrl-W
END_OF_INPUT_KEY = b"\x04"  # Ctrl-D


class LineEditor:
    """Keys typed (or pasted) at a terminal, turned into lines with the line discipline's editing.

    The terminal's own line editing (canonical mode) keeps at most 4,095 characters of a line and
    drops the rest without a word, so a long paste was cut short. The prompt reads keys one by one
    instead and does the editing here: Backspace, Ctrl-U and Ctrl-W edit the line, Enter ends it,
    Ctrl-D on an empty line is the end of input. Ctrl-C and Ctrl-Z stay the terminal's (signals).
    What is typed is echoed back with control characters shown as ``^X``, never obeyed.
    """

    def __init__(self) -> None:
        self.typed = bytearray()  # the line being edited
        self.pending = b""  # keys that came after a Ctrl-D, for the next read
        self.echoed = 0  # how many of the next keys the terminal has already echoed

    def feed(self, keys: bytes) -> tuple[bytes, bytes, bool]:
        """(complete lines, each ending in a newline; the echo to show; whether Ctrl-D ended the input).

        A Ctrl-D on an empty line ends this read; the keys after it wait in ``pending``."""
        keys, self.pending = self.pending + keys, b""
        quiet, self.echoed = min(self.echoed, len(keys)), max(0, self.echoed - len(keys))
        lines = bytearray()
        echo = bytearray()
        for position in range(len(keys)):
            key = keys[position : position + 1]
            if key == END_OF_INPUT_KEY and not self.typed:
                self.pending = keys[position + 1 :]
                return bytes(lines), bytes(echo), True
            if key == b"\n":
                lines += self.typed + b"\n"
                self.typed.clear()
            shown = self._edit(key)
            if position >= quiet:  # the terminal echoed the keys typed before the prompt's read began
                echo += shown
        return bytes(lines), bytes(echo), False

    def _edit(self, key: bytes) -> bytes:
        """Apply one key to the line (Enter: the line was taken already); the echo that shows it."""
        if key == b"\n":
            return b"\r\n"
        if key in ERASE_KEYS:
            return self._erase(self._last_character())
        if key == KILL_LINE_KEY:
            return self._erase(len(self.typed))
        if key == ERASE_WORD_KEY:
            return self._erase(self._last_word())
        if key == END_OF_INPUT_KEY:  # on a line with text, as in the terminal: nothing
            return b""
        self.typed += key
        return visible(key)

    def clear(self) -> None:
        """Forget the line being edited (Ctrl-C: the terminal discards it too)."""
        self.typed.clear()
        self.echoed = 0

    def _last_character(self) -> int:
        """How many bytes the last character of the line takes (UTF-8 continuation bytes included)."""
        size = 0
        for byte in reversed(self.typed):
            size += 1
            if byte & 0xC0 != 0x80 or size == 4:
                break
        return size

    def _last_word(self) -> int:
        """How many bytes Ctrl-W erases: the spaces before the cursor, then the word before them."""
        text = bytes(self.typed)
        kept = len(text.rstrip(b" \t"))
        while kept and text[kept - 1 : kept] not in (b" ", b"\t"):
            kept -= 1
        return len(text) - kept

    def _erase(self, size: int) -> bytes:
        """Drop the last ``size`` bytes of the line; the echo that wipes them off the screen."""
        if size <= 0:
            return b""
        erased = bytes(self.typed[-size:])
        del self.typed[-size:]
        columns = sum(_width(character) for character in erased.decode("utf-8", errors="replace"))
        return b"\b \b" * columns


def visible(key: bytes) -> bytes:
    """How a typed byte is echoed: a control character as ``^X`` (as the terminal's ECHOCTL does)."""
    code = key[0]
    if code < 0x20 and key != b"\t":
        return b"^" + bytes([code + 0x40])
    if code == 0x7F:
        return b"^?"
    return key


def _width(character: str) -> int:
    """Columns a character took when echoed (``^X`` for a control character)."""
    if character == "\t":
        return 1
    if ord(character) < 0x20 or ord(character) == 0x7F:
        return 2
    if unicodedata.combining(character):
        return 0
    return 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1


@contextlib.contextmanager
def keys_one_by_one(fd: int, editor: LineEditor) -> Iterator[bool]:
    """While inside: the terminal on ``fd`` hands over keys as typed, without echo (True), or it is
    not a terminal and nothing changes (False). Its settings are restored on the way out, and a
    Ctrl-C discards the line being edited, as the terminal would."""
    saved = _terminal_settings(fd)
    if saved is None or not _in_foreground(fd):  # in the background the terminal is not the app's to set
        yield False
        return
    import termios

    keys = list(saved)
    keys[3] = saved[3] & ~(termios.ICANON | termios.ECHO)  # Ctrl-C, Ctrl-Z, Ctrl-\\ stay signals (ISIG)
    keys[6] = list(saved[6])
    keys[6][termios.VMIN] = 1
    keys[6][termios.VTIME] = 0

    def switch(*_: object) -> None:
        if not _in_foreground(fd):  # resumed in the background (`bg`)
            return
        termios.tcsetattr(fd, termios.TCSANOW, keys)
        editor.echoed = _waiting_bytes(fd)  # typed before the switch: the terminal has echoed them already

    switch()
    # After Ctrl-Z and `fg` the shell may have put the terminal back to whole lines: switch again.
    resumed = _on_signal(getattr(signal, "SIGCONT", None), switch)
    try:
        yield True
    except KeyboardInterrupt:
        editor.clear()
        raise
    finally:
        resumed()
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)


def _on_signal(number: int | None, handler: Callable[..., None]) -> Callable[[], None]:
    """Handle signal ``number`` (in the main thread only; elsewhere, and without it, nothing changes);
    returns what puts the previous handler back."""
    if number is None or threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(number, handler)
    return lambda: signal.signal(number, signal.SIG_DFL if previous is None else previous)


def _in_foreground(fd: int) -> bool:
    """Whether this process is in the terminal's foreground process group (it may read and set it)."""
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


def _waiting_bytes(fd: int) -> int:
    """How many bytes the terminal holds for the next read."""
    try:
        import fcntl
        import termios

        answer = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except (ImportError, OSError, AttributeError):
        return 0
    return int.from_bytes(answer, sys.byteorder)


def _terminal_settings(fd: int) -> list[Any] | None:
    """The settings of the terminal on ``fd``, or None: not a terminal (a pipe, a file), or Windows.

    termios is imported here, at the first prompt, not at start-up (Windows has none)."""
    if fd < 0 or not os.isatty(fd):
        return None
    try:
        import termios
    except ImportError:
        return None
    try:
        return termios.tcgetattr(fd)
    except (OSError, ValueError, termios.error):
        return None


def show_typed(fd: int, data: bytes) -> None:
    """Show typed keys on the terminal they came from (written in full, however long the paste)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        except OSError:  # the terminal is gone: nothing to show it on
            return
        view = view[written:]
