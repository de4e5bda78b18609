"""Scenario 2: eight OS processes append 250 turns each to one thread on a real server.

Each turn is one ``add_messages([user, assistant])`` call, so 8 x 250 turns make 4,000
entries. A ninth process polls LLEN and LRANGE the whole time. The server's own AOF
is the witness of the order in which the pushes really happened.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability import aof
from tests.reliability.settings import record_figure
from tests.reliability.workers import DONE_KEY, GO_KEY, READY_KEY, turn_texts
from tests.support.messages import entry_texts
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.faults

WRITERS = 8
TURNS = 250
LIMIT = 200
KEY_PREFIX = "lab11"
THREAD_ID = "thread_concurrent"
KEY = f"{KEY_PREFIX}:{THREAD_ID}"
RUN_TIMEOUT_SECONDS = 180.0
WORKERS = Path(__file__).with_name("workers.py")


@dataclass
class Run:
    """What one concurrent run left behind."""

    entries: list[str]
    pushed_in_server_order: list[str]
    reader: dict[str, int]
    seconds: float


def _run(data_dir: Path, max_messages: int | None) -> Run:
    """Start the server, the writers and the reader; wait for all of them within a bounded time."""
    server = ValkeyProcess(data_dir).start()
    processes: list[subprocess.Popen[str]] = []
    try:
        control = server.client()
        command = [sys.executable, str(WORKERS)]
        for writer in range(WRITERS):
            arguments = ["writer", server.url, THREAD_ID, str(writer), str(TURNS), str(max_messages or 0)]
            processes.append(subprocess.Popen([*command, *arguments], text=True))
        reader = subprocess.Popen(
            [*command, "reader", server.url, KEY, str(RUN_TIMEOUT_SECONDS)], stdout=subprocess.PIPE, text=True
        )
        processes.append(reader)
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while int(control.get(READY_KEY) or 0) < WRITERS + 1:
            assert time.monotonic() < deadline, "the workers never became ready"
            assert all(process.poll() is None for process in processes), "a worker died while starting"
            time.sleep(0.02)
        started = time.monotonic()
        control.set(GO_KEY, "1")
        for writer_process in processes[:WRITERS]:
            assert writer_process.wait(timeout=max(1.0, deadline - time.monotonic())) == 0
        seconds = time.monotonic() - started
        control.set(DONE_KEY, "1")
        output, _ = reader.communicate(timeout=max(1.0, deadline - time.monotonic()))
        assert reader.returncode == 0
        entries = entry_texts(control.lrange(KEY, 0, -1))
        control.close()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        server.kill()
    pushed = entry_texts(aof.pushed_values(data_dir, KEY))
    run = Run(entries=entries, pushed_in_server_order=pushed, reader=json.loads(output), seconds=seconds)
    expected = WRITERS * TURNS * 2 if max_messages is None else max_messages
    record_figure(
        f"concurrent writers, max_messages={max_messages}",
        f"{WRITERS} processes x {TURNS} turns, {len(entries)} entries kept (expected {expected}), "
        f"{len(entries) - len(set(entries))} twice, newest-{expected} match with the AOF: "
        f"{entries == pushed[-expected:]}; reader: {run.reader['polls']} polls, largest list seen "
        f"{run.reader['max_lrange']}, torn turns {run.reader['torn_turns']}; {seconds:.1f}s",
    )
    return run


@pytest.fixture(scope="module")
def unlimited(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory.mktemp("unlimited"), max_messages=None)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory.mktemp("limited"), max_messages=LIMIT)


def _expected_entries() -> set[str]:
    return {text for writer in range(WRITERS) for turn in range(TURNS) for text in turn_texts(writer, turn)}


def test_without_a_limit_every_one_of_the_4000_entries_is_there(unlimited: Run) -> None:
    assert len(unlimited.entries) == WRITERS * TURNS * 2 == 4000
    assert set(unlimited.entries) == _expected_entries()


def test_without_a_limit_no_entry_is_there_twice(unlimited: Run) -> None:
    duplicates = [text for text, count in Counter(unlimited.entries).items() if count > 1]
    assert duplicates == []


def test_without_a_limit_each_writers_entries_keep_their_own_order(unlimited: Run) -> None:
    for writer in range(WRITERS):
        own = [text for text in unlimited.entries if text.startswith(f"w{writer}:")]
        assert own == [text for turn in range(TURNS) for text in turn_texts(writer, turn)]


def test_without_a_limit_each_turn_is_saved_in_one_piece(unlimited: Run) -> None:
    pairs = list(zip(unlimited.entries[::2], unlimited.entries[1::2], strict=True))
    assert all(user.endswith(":user") and assistant == user[: -len("user")] + "assistant" for user, assistant in pairs)


def test_without_a_limit_the_list_matches_the_servers_own_write_log(unlimited: Run) -> None:
    assert unlimited.entries == unlimited.pushed_in_server_order


def test_with_a_limit_exactly_the_limit_remains(limited: Run) -> None:
    assert len(limited.entries) == LIMIT


def test_with_a_limit_the_newest_entries_remain(limited: Run) -> None:
    assert len(limited.pushed_in_server_order) == WRITERS * TURNS * 2
    assert limited.entries == limited.pushed_in_server_order[-LIMIT:]


def test_with_a_limit_no_reader_ever_sees_more_than_the_limit(limited: Run) -> None:
    assert limited.reader["polls"] >= 10, f"the reader only looked {limited.reader['polls']} times"
    assert limited.reader["max_llen"] <= LIMIT
    assert limited.reader["max_lrange"] <= LIMIT


def test_no_reader_ever_sees_half_a_turn_or_a_writer_out_of_order(unlimited: Run, limited: Run) -> None:
    for run in (unlimited, limited):
        assert run.reader["torn_turns"] == 0
        assert run.reader["out_of_order"] == 0
