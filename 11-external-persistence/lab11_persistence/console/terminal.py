"""The terminal: what the app prints, how it asks, and where log lines go.

Text that came from Redis or a model goes through ``inert()`` before it is printed, so a stored
escape sequence is shown, never obeyed; the app's own colours are the only ones sent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
from collections.abc import Iterator
from typing import Any

from lab11_persistence.config import Settings
from lab11_persistence.console.line_editing import LineEditor, keys_one_by_one, show_typed

# How soon a Ctrl-C is noticed when it did not interrupt the read itself (see StdinLines).
CTRL_C_POLL_SECONDS = 0.2


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
        show_typed(1 if os.isatty(1) else fd, echo)
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
