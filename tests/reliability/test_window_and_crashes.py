"""The summary under concurrency and crashes, on a real Valkey: two processes writing one thread while it
is summarized lose nothing and fold every message once; a process killed during the summary call
leaves the previous summary and every message as they were."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab11_persistence.redis_history.summary import Summary
from tests.support.app_driver import wait_for
from tests.support.messages import entry_texts
from tests.support.valkey import ValkeyProcess
from tests.support.window_workers import SEPARATOR, turn_texts

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]
TURNS = 30
WINDOW = 6
THREAD = "thread_shared"
KEY = f"lab11:{THREAD}"
SUMMARY_KEY = f"{{{KEY}}}:summary"


def _writer(
    url: str, writer: int, *, turns: int = TURNS, limit: int = 0, delay: float = 0.05, stop: str = ""
) -> subprocess.Popen[str]:
    arguments = [url, THREAD, str(writer), str(turns), str(WINDOW), str(limit), str(delay), *([stop] if stop else [])]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / '11-external-persistence'}{os.pathsep}{ROOT}"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.window_workers", *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@dataclass
class Outcome:
    summarized: list[str]  # the texts the summary folded, in the order it folded them
    in_list: int
    listed: list[str]  # the texts still in the list, in order

    @property
    def every_message(self) -> list[str]:
        """Each message once: the summarized ones, then those after them in the list."""
        return [*self.summarized, *self.listed[self.in_list :]]


def _outcome(server: ValkeyProcess) -> Outcome:
    client = server.client()
    summary = Summary.parse(client.get(SUMMARY_KEY))
    assert summary is not None
    listed = [entry["contents"][0]["text"] for entry in map(json.loads, client.lrange(KEY, 0, -1))]
    return Outcome(summary.text.split(SEPARATOR), summary.in_list, listed)


def _run_two_writers(server: ValkeyProcess, limit: int) -> Outcome:
    writers = [_writer(server.url, number, limit=limit) for number in (1, 2)]
    for process in writers:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
    return _outcome(server)


def _in_writer_order(texts: list[str], writer: int) -> bool:
    mine = [text for text in texts if text.startswith(f"w{writer}:")]
    return mine == [text for turn in range(TURNS) for text in turn_texts(writer, turn)]


@pytest.mark.parametrize("limit", [0, 20], ids=["no limit", "max_messages=20"])
def test_two_processes_write_one_thread_while_it_is_summarized(redis_server: ValkeyProcess, limit: int) -> None:
    outcome = _run_two_writers(redis_server, limit)
    every = outcome.every_message
    assert sorted(every) == sorted(text for w in (1, 2) for t in range(TURNS) for text in turn_texts(w, t))
    assert len(every) == len(set(every)) == 2 * 2 * TURNS  # kept, and covered once
    assert _in_writer_order(every, 1) and _in_writer_order(every, 2)
    if limit:
        assert len(outcome.listed) <= max(limit, len(outcome.listed) - outcome.in_list)
    else:
        assert outcome.summarized == outcome.listed[: outcome.in_list]  # in the list's own order


def test_a_process_killed_during_the_summary_call_loses_nothing(redis_server: ValkeyProcess, tmp_path: Path) -> None:
    first = _writer(redis_server.url, 1, turns=5)
    assert first.wait(timeout=60) == 0
    client = redis_server.client()
    before_summary, before_list = client.get(SUMMARY_KEY), entry_texts(client.lrange(KEY, 0, -1))
    assert Summary.parse(before_summary) is not None

    in_summary = tmp_path / "in-summary"
    doomed = _writer(redis_server.url, 2, turns=1, stop=str(in_summary))
    assert wait_for(in_summary.exists, timeout=60)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)

    assert client.get(SUMMARY_KEY) == before_summary  # the previous summary, as it was
    assert entry_texts(client.lrange(KEY, 0, -1)) == [*before_list, *turn_texts(2, 0)]  # and every message

    survivor = _writer(redis_server.url, 3, turns=1)  # the next turn folds what the killed one could not
    assert survivor.wait(timeout=60) == 0
    every = _outcome(redis_server).every_message
    expected = [
        text for writer, turns in ((1, 5), (2, 1), (3, 1)) for t in range(turns) for text in turn_texts(writer, t)
    ]
    assert sorted(every) == sorted(expected)
    assert len(every) == len(set(every))
