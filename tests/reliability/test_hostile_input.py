"""Scenario 5, the user's part: 1,000 generated lines through the real app's menu.

The lines come from a seeded generator (change ``SEED`` to explore; LAB11_SOAK=1
sends 5,000): random text, control characters, escape sequences, invalid UTF-8,
huge lines, numbers out of range and unicode digits, valid choices followed by
hostile answers, and EOF at the end. Through a pipe (every byte arrives as sent)
and through a pseudo-terminal (with Ctrl-C and Ctrl-D as a user types them).
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.reliability.settings import record_figure, scaled
from tests.support.app_driver import APP, TIMEOUT_SECONDS, LabApp, app_env, has_traceback, stop_embedded_server

pytestmark = pytest.mark.faults

SEED = 20261125
LINES = scaled(1000, 5000)
PTY_LINES = scaled(150, 600)
RUN_TIMEOUT_SECONDS = 240
MESSAGE_SHARE = 0.03  # option 1 costs a (streamed) reply: keep those to a few dozen

CONTROL = [chr(code) for code in range(0, 32) if chr(code) not in "\n"] + ["\x7f"]
ESCAPES = ["\x1b[A", "\x1b[2J", "\x1b]0;title\x07", "\x1b[31mred", "\x9b6n"]
NUMBERS = ["-1", "6", "9", "00", "01", "-0", "+1", " 3 ", "1.0", "1e3", "0x1", "99999999999999999999999", "²", "١", "Ⅷ"]
UNICODE = ["héllo", "日本語", "👩‍👩‍👧‍👦", "\u202eevil", "\u200b", "ﷺ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"]


def _text(rng: random.Random, length: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!?*[]{}%$\\'\";:"
    return "".join(rng.choice(alphabet) for _ in range(length))


def _hostile(rng: random.Random) -> bytes:
    """One line (without its newline) of something a user, a paste or a cat could send."""
    kind = rng.randrange(9)
    if kind == 0:
        return _text(rng, rng.randrange(0, 80)).encode()
    if kind == 1:
        return "".join(rng.choice(CONTROL) for _ in range(rng.randrange(1, 12))).encode()
    if kind == 2:
        return rng.choice(ESCAPES).encode()
    if kind == 3:
        return bytes(rng.randrange(128, 256) for _ in range(rng.randrange(1, 16)))  # not UTF-8
    if kind == 4:
        return rng.choice(NUMBERS).encode()
    if kind == 5:
        return rng.choice(UNICODE).encode()
    if kind == 6:
        return _text(rng, rng.choice([4_096, 65_536, 262_144])).encode()
    if kind == 7:
        return b"   \t  "
    return b""


def generate_lines(seed: int, count: int) -> list[bytes]:
    """The script: menu choices, each valid one followed by what its own prompt gets."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    while len(lines) < count:
        roll = rng.random()
        if roll < MESSAGE_SHARE:
            lines += [b"1", _hostile(rng)]
        elif roll < 0.10:
            lines += [b"3", rng.choice([_hostile(rng), b"1", b"", b"0", b"999"])]
        elif roll < 0.14:
            lines.append(rng.choice([b"2", b"4"]))
        else:
            lines.append(_hostile(rng))
    lines = lines[:count]
    for position in (count // 3, 2 * count // 3):  # two 1 MB lines: one at the menu, one as a message
        lines[position] = _text(rng, 1_000_000).encode()
    lines[count // 2 : count // 2 + 2] = [b"1", _text(rng, 1_000_000).encode()]
    return lines[:count]


def test_a_thousand_generated_lines_through_a_pipe_end_cleanly_with_no_traceback(tmp_path: Path) -> None:
    lines = generate_lines(SEED, LINES)
    data_dir = tmp_path / "data"
    try:
        finished = subprocess.run(
            [sys.executable, str(APP)],
            input=b"\n".join(lines) + b"\n",  # then EOF
            capture_output=True,
            env=app_env(tmp_path / "home", data_dir),
            cwd=tmp_path,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
    finally:
        stop_embedded_server(data_dir)
    output = finished.stdout.decode(errors="replace") + finished.stderr.decode(errors="replace")
    record_figure(
        "hostile input: pipe",
        f"{len(lines)} lines (seed {SEED}, {sum(len(line) for line in lines) / 1e6:.1f} MB), "
        f"exit status {finished.returncode}, tracebacks {output.count('Traceback')}",
    )
    assert not has_traceback(output), output[-3000:]
    assert finished.returncode == 0, output[-3000:]


# Keys the terminal itself turns into signals or flow control (^C ^D are sent on purpose below;
# ^Z stops and ^\\ kills any program, ^S/^Q pause output, ^V quotes the Enter): not input the app
# can see.
TTY_SPECIAL = str.maketrans("", "", "\x03\x04\x1a\x1c\x13\x11\x16\r\n")
PTY_PROMPTS = ["Choose an option: ", r"\(1-\d+, Enter to go back\): ", "You: ", pexpect.EOF]


def test_typed_garbage_ctrl_c_and_ctrl_d_in_a_terminal_never_show_a_traceback(tmp_path: Path) -> None:
    """Typed through a pty; Ctrl-C or Ctrl-D at the menu ends the app (status 0), so it is restarted."""
    rng = random.Random(SEED + 1)
    lines = [line for line in generate_lines(SEED + 1, PTY_LINES) if len(line) < 1000]  # a tty caps a line at 4 KB
    data_dir, env = tmp_path / "data", app_env(tmp_path / "home", tmp_path / "data")
    transcripts: list[str] = []
    statuses: list[int] = []
    app = LabApp(env, tmp_path)
    try:
        app.menu()
        for line in lines:
            roll = rng.random()
            if roll < 0.04:
                app.child.sendintr()  # Ctrl-C
            elif roll < 0.07:
                app.child.sendeof()  # Ctrl-D
            else:
                app.child.send(line.decode(errors="replace").translate(TTY_SPECIAL) + "\r")
            if app.expect(PTY_PROMPTS, timeout=60) == len(PTY_PROMPTS) - 1:  # the app ended
                statuses.append(app.finish())
                transcripts.append(app.transcript)
                app = LabApp(env, tmp_path)
                app.menu()
        for _ in range(3):  # Ctrl-D until it ends: at a sub-prompt it goes back to the menu first
            app.child.sendeof()
            if app.expect(PTY_PROMPTS, timeout=30) == len(PTY_PROMPTS) - 1:
                break
        statuses.append(app.finish(timeout=30))
        transcripts.append(app.transcript)
    finally:
        app.kill()
        stop_embedded_server(data_dir)
    record_figure(
        "hostile input: pty",
        f"{len(lines)} typed lines with Ctrl-C/Ctrl-D (seed {SEED + 1}), {len(statuses)} app runs, "
        f"exit statuses {sorted(set(statuses))}, tracebacks {sum('Traceback' in text for text in transcripts)}",
    )
    assert [text[-3000:] for text in transcripts if has_traceback(text)] == []
    assert set(statuses) == {0}


def test_a_typed_line_with_a_nul_character_gets_an_answer(tmp_path: Path) -> None:
    """Ctrl-@ / Ctrl-Space types a NUL; without readline, input() would wait for another line."""
    data_dir = tmp_path / "data"
    app = LabApp(app_env(tmp_path / "home", data_dir), tmp_path)
    try:
        app.menu()
        app.child.send("\x1d\x00\x19\x06\r")
        app.expect(["Choose an option: "], timeout=TIMEOUT_SECONDS)
    finally:
        app.kill()
        stop_embedded_server(data_dir)
