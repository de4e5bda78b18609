"""How the menu reads a line: every Ctrl-C is seen, every byte typed arrives, end of input ends.

The first test runs a small program in a child process, because a lost Ctrl-C would hang the
process that waits for it; the test only waits a bounded time for the child.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Iterator

import pytest

from lab11_persistence.config import load_settings
from lab11_persistence.console.line_editing import LineEditor
from lab11_persistence.console.terminal import Terminal
from tests.support.app_driver import run_with_app_modules

# SIGINT raised on a helper thread: Python's handler is flagged, but the main thread's read is
# not interrupted (as when the kernel hands Ctrl-C to the app's background-import thread).
CTRL_C_ON_ANOTHER_THREAD = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from lab11_persistence.config import load_settings
    from lab11_persistence.console.terminal import Terminal

    read_end, _write_end = os.pipe()  # nothing is ever typed
    sys.stdin = os.fdopen(read_end)
    try:  # the signal can only land inside the try, however slow the machine
        threading.Thread(target=lambda: (time.sleep(0.3), signal.raise_signal(signal.SIGINT)), daemon=True).start()
        Terminal(load_settings()).ask("Choose an option: ")
    except KeyboardInterrupt:
        print("interrupted")
    """
)


@pytest.mark.app
def test_ctrl_c_received_by_another_thread_still_interrupts_the_prompt() -> None:
    result = run_with_app_modules(CTRL_C_ON_ANOTHER_THREAD)
    assert result.stdout.endswith("interrupted\n"), result.stderr


@pytest.fixture
def typed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[bytes], Terminal]]:
    """Replace stdin with a pipe holding exactly these bytes, then end of input."""
    opened: list[object] = []

    def feed(data: bytes) -> Terminal:
        read_end, write_end = os.pipe()
        os.write(write_end, data)
        os.close(write_end)
        stdin = os.fdopen(read_end, encoding="utf-8")
        opened.append(stdin)
        monkeypatch.setattr(sys, "stdin", stdin)
        return Terminal(load_settings())

    yield feed
    for stdin in opened:
        stdin.close()  # type: ignore[attr-defined]


@pytest.mark.fast
def test_lines_typed_ahead_are_answered_one_per_question(typed: Callable[[bytes], Terminal]) -> None:
    term = typed(b"1\nMy name is Ana\n0\n")
    assert [term.ask("> ") for _ in range(3)] == ["1", "My name is Ana", "0"]


@pytest.mark.fast
def test_bytes_that_are_not_text_arrive_as_replacement_characters(typed: Callable[[bytes], Terminal]) -> None:
    term = typed(b"caf\xc3\xa9 \xff\xfe ok\n")
    assert term.ask("You: ") == "café \ufffd\ufffd ok"


@pytest.mark.fast
def test_the_last_line_without_a_newline_is_read_then_end_of_input(typed: Callable[[bytes], Terminal]) -> None:
    term = typed(b"0")
    assert term.ask("> ") == "0"
    with pytest.raises(EOFError):
        term.ask("> ")


@pytest.mark.fast
def test_end_of_input_at_the_prompt_raises_eof(typed: Callable[[bytes], Terminal]) -> None:
    with pytest.raises(EOFError):
        typed(b"").ask("> ")


# -- the line editing the prompt does itself on a terminal (LineEditor) ---------------------------


@pytest.mark.fast
def test_the_editor_keeps_a_line_of_any_length_whole() -> None:
    editor = LineEditor()
    lines, _, ended = editor.feed(b"x" * 100_000 + b"\n")
    assert (len(lines), ended) == (100_001, False)


@pytest.mark.fast
def test_backspace_erases_a_whole_character_and_wipes_it_off_the_screen() -> None:
    editor = LineEditor()
    lines, echo, _ = editor.feed("café\x7f\x7fe\n".encode())
    assert lines == b"cae\n"
    assert echo == "café".encode() + b"\b \b\b \be\r\n"


@pytest.mark.fast
def test_ctrl_u_erases_the_line_and_ctrl_w_the_last_word() -> None:
    editor = LineEditor()
    lines, _, _ = editor.feed(b"gone\x15keep this  word  \x17\n")
    assert lines == b"keep this  \n"


@pytest.mark.fast
def test_ctrl_d_ends_the_input_only_on_an_empty_line_and_the_keys_after_it_wait() -> None:
    editor = LineEditor()
    assert editor.feed(b"half\x04") == (b"", b"half", False)
    assert editor.feed(b"\n\x04after\n") == (b"half\n", b"\r\n", True)
    assert editor.feed(b"") == (b"after\n", b"after\r\n", False)


@pytest.mark.fast
def test_control_characters_are_echoed_as_caret_letters_never_obeyed() -> None:
    _, echo, _ = LineEditor().feed(b"\x1b[2J\x07")
    assert echo == b"^[[2J^G"


@pytest.mark.fast
def test_keys_the_terminal_echoed_before_the_switch_are_not_echoed_twice() -> None:
    editor = LineEditor()
    editor.echoed = 3
    assert editor.feed(b"abcd") == (b"", b"d", False)
