"""The terminal: what the app prints, how it asks, and where log lines go.

Text that came from Redis or a model goes through ``inert()`` before it is printed, so a stored
escape sequence is shown, never obeyed; the app's own colours are the only ones sent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from lab11_persistence.config import Settings

# How soon a Ctrl-C is noticed when it did not interrupt the read itself (see StdinLines).
CTRL_C_POLL_SECONDS = 0.2


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
    if saved is None:
        yield False
        return
    import termios

    keys = list(saved)
    keys[3] = saved[3] & ~(termios.ICANON | termios.ECHO)  # Ctrl-C, Ctrl-Z, Ctrl-\\ stay signals (ISIG)
    keys[6] = list(saved[6])
    keys[6][termios.VMIN] = 1
    keys[6][termios.VTIME] = 0

    def switch(*_: object) -> None:
        if os.tcgetpgrp(fd) != os.getpgrp():  # resumed in the background (`bg`): the terminal is not ours
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


def _echo(fd: int, data: bytes) -> None:
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


class StdinLines:
    """Lines typed (or piped) on standard input, waited for in short slices.

    Not ``input()``: on a terminal it stops at a NUL byte (Ctrl-@) and silently waits for another
    line, and GNU readline would treat typed control keys as editing commands. Not a plain blocking
    ``sys.stdin.readline()`` either: a SIGINT that reaches another thread (the app's background
    imports), lands just before the read starts, or is handled by asyncio's runner (which only
    cancels its task) never wakes a blocked read, and that Ctrl-C would be lost. Between slices the
    main thread runs its Ctrl-C handler, within CTRL_C_POLL_SECONDS. Bytes that are not valid text
    (a broken paste, a hostile pipe) arrive as U+FFFD. On a terminal the keys are read as typed and
    edited by LineEditor, so that a line of any length arrives whole.
    """

    def __init__(self) -> None:
        self._unread = b""  # bytes read past the end of the line last returned
        self._editor = LineEditor()
        self._keys = False  # inside keys_one_by_one: what is read are keys for the editor

    def read_line(self) -> str:
        """The next line without its newline; EOFError at end of input."""
        with self.reading():
            line = self._poll(CTRL_C_POLL_SECONDS)
            while line is None:
                line = self._poll(CTRL_C_POLL_SECONDS)
        return line

    async def read_line_async(self) -> str:
        """The same, inside a coroutine: the event loop (and its Ctrl-C handling) runs while it waits, and
        the line is read as soon as it is typed (the loop watches standard input)."""
        with self.reading():
            line = self._poll(0)
            while line is None:
                await self._readable()
                line = self._poll(0)
        return line

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """While inside, a terminal hands over keys as typed (see LineEditor). Entered before the
        prompt is printed, so that nothing typed after the prompt meets the terminal's line limit."""
        if self._keys:
            yield
            return
        with keys_one_by_one(_stdin_fd(), self._editor) as keys:
            self._keys = keys
            try:
                yield
            finally:
                self._keys = False

    async def _readable(self) -> None:
        """Until standard input has something to read (on Windows, or with no file descriptor: a short wait)."""
        import asyncio

        loop = asyncio.get_running_loop()
        try:
            fd = sys.stdin.fileno()
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        except (AttributeError, OSError, ValueError, NotImplementedError):  # stdin replaced or closed; Windows
            await asyncio.sleep(CTRL_C_POLL_SECONDS)
            return
        try:
            await ready
        finally:
            loop.remove_reader(fd)

    def _poll(self, timeout: float) -> str | None:
        """A complete line if one is (or within ``timeout`` becomes) available, else None."""
        fd = _stdin_fd()
        if fd < 0 or os.name == "nt":  # Windows cannot select() on a console
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            return line.rstrip("\n")
        while b"\n" not in self._unread:
            taken = self._take(fd, timeout)
            if taken is None:
                return None
            data, ended = taken
            self._unread += data
            if ended:  # end of input: the last line may lack its newline
                if not self._unread:
                    raise EOFError
                break
        line, _, self._unread = self._unread.partition(b"\n")
        return line.decode(sys.stdin.encoding or "utf-8", errors="replace")

    def _take(self, fd: int, timeout: float) -> tuple[bytes, bool] | None:
        """What arrived within ``timeout`` (None: nothing yet): bytes of lines, and whether the input ended.

        From a terminal the bytes are keys: only the lines they complete are returned, the rest is
        the line still being edited."""
        if self._keys and self._editor.pending:  # keys typed after a Ctrl-D come first
            keys = b""
        else:
            readable, _, _ = select.select([fd], [], [], timeout)
            if not readable:
                return None
            keys = os.read(fd, 65536)
        if not self._keys:
            return keys, not keys
        if not keys and not self._editor.pending:  # the terminal hung up
            return b"", True
        lines, echo, ended = self._editor.feed(keys)
        _echo(1 if os.isatty(1) else fd, echo)
        return lines, ended


def _stdin_fd() -> int:
    """Standard input's file descriptor, or -1 (replaced by an object without one, or closed)."""
    try:
        return sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return -1


class Terminal:
    """Where output goes, and whether it may use colour and a waiting indicator."""

    def __init__(self, settings: Settings) -> None:
        self.interactive = sys.stdout.isatty()
        self.colour = self.interactive and not settings.no_color
        self.transient_line = False  # the waiting indicator is on screen
        self.lines = StdinLines()

    def say_transient(self, text: str) -> None:
        """A line that the next output replaces (the waiting indicator)."""
        print(f"\r{text}", end="", flush=True)
        self.transient_line = True

    def clear_transient_line(self) -> None:
        """Erase the waiting indicator, so that whatever is printed next starts on a clean line."""
        if self.transient_line:
            self.transient_line = False
            print("\r\x1b[K", end="", flush=True)

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def say(self, text: str = "", *, end: str = "\n") -> None:
        print(text, end=end, flush=True)

    def error(self, text: str) -> None:
        print(self.paint(text, "1;31"), flush=True)

    def ask(self, prompt: str) -> str:
        """One line from the user, stripped; EOFError at end of input, KeyboardInterrupt on Ctrl-C."""
        with self.lines.reading():
            print(prompt, end="", flush=True)
            return self.lines.read_line().strip()

    async def ask_async(self, prompt: str) -> str:
        """The same, inside a coroutine: the event loop's other work goes on while the user types."""
        with self.lines.reading():
            print(prompt, end="", flush=True)
            return (await self.lines.read_line_async()).strip()

    def notice(self, text: str) -> None:
        """A line said while the waiting indicator may be on screen (it goes on below)."""
        self.clear_transient_line()
        print(self.paint(text, "2"), flush=True)


class WaitingIndicator:
    """A small spinner on the terminal until the first words of the reply arrive."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, terminal: Terminal) -> None:
        self.term = terminal
        self._task: Any = None

    def start(self) -> None:
        import asyncio

        self._task = asyncio.get_running_loop().create_task(self._spin())

    async def _spin(self) -> None:
        import asyncio

        frame = 0
        while True:
            self.term.say_transient(f"{self.FRAMES[frame % len(self.FRAMES)]} waiting for the model…")
            frame += 1
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        import asyncio

        if self._task is None:
            return
        task, self._task = self._task, None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self.term.clear_transient_line()


# -- start-up --------------------------------------------------------------------------------


class _OneLineFormatter(logging.Formatter):
    """Log records as one line, with secrets masked and no tracebacks."""

    def __init__(self, settings: Settings) -> None:
        super().__init__("%(levelname)s: %(message)s")
        self._settings = settings

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        record.levelname = record.levelname.lower()
        lines = super().format(record).splitlines() or [""]
        return self._settings.redact(lines[0])


class _TerminalLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Log lines on stderr that never run into the waiting indicator's line."""

    def __init__(self, terminal: Terminal) -> None:
        super().__init__(sys.stderr)
        self._terminal = terminal

    def emit(self, record: logging.LogRecord) -> None:
        self._terminal.clear_transient_line()
        super().emit(record)


def configure_logging(settings: Settings, terminal: Terminal) -> None:
    handler = _TerminalLogHandler(terminal)
    handler.setFormatter(_OneLineFormatter(settings))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # azure.identity logs each failed sign-in at length; the app already says it in one line.
    logging.getLogger("azure").setLevel(logging.ERROR)
    # Python warnings from libraries (some 1.x releases announce experimental features at import)
    # are notes to developers, not something the app's user can act on: logged, below the bar shown.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.ERROR)
