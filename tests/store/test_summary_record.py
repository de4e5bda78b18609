"""The summary record and what a turn sends the model from a window read (``summary.Summary``, ``window.Window``).

Pure values: no Redis at all.
"""

from __future__ import annotations

import json

import pytest

from lab11_persistence.redis_history.summary import Summary, fingerprint
from lab11_persistence.redis_history.window import Window
from tests.support.messages import turn_entries

pytestmark = pytest.mark.fast

ENTRIES = [entry for number in range(5) for entry in turn_entries(number)]  # 10 entries


def test_a_record_reads_back_as_the_same_summary() -> None:
    summary = Summary(text="Ana wants Lisbon.", covers=12, in_list=4, last="abc", updated_at=1764590000.5)
    assert Summary.parse(summary.record()) == summary


def test_a_record_keeps_text_beyond_ascii_as_it_is() -> None:
    record = Summary(text="São Paulo ☀", covers=1, in_list=1).record()
    assert "São Paulo ☀" in record
    assert json.loads(record)["text"] == "São Paulo ☀"


def test_a_record_without_the_optional_fields_reads_with_their_defaults() -> None:
    assert Summary.parse('{"text": "t", "covers": 2, "in_list": 1}') == Summary("t", 2, 1, "", 0.0)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        42,
        b'{"text": "t", "covers": 1, "in_list": 1}',
        "not json",
        "[1, 2]",
        '{"covers": 1, "in_list": 1}',
        '{"text": "t", "in_list": 1}',
        '{"text": 7, "covers": 1, "in_list": 1}',
        '{"text": "t", "covers": "1", "in_list": 1}',
        '{"text": "t", "covers": 1, "in_list": 2}',
        '{"text": "t", "covers": 1, "in_list": -1}',
    ],
    ids=[
        "none",
        "a number",
        "bytes",
        "not json",
        "a json list",
        "no text",
        "no covers",
        "text not a string",
        "covers not a number",
        "covers fewer than listed",
        "negative in_list",
    ],
)
def test_anything_but_a_summary_record_reads_as_no_summary(raw: object) -> None:
    assert Summary.parse(raw) is None


def test_a_fingerprint_tells_entries_apart_and_is_stable() -> None:
    assert fingerprint(ENTRIES[0]) == fingerprint(str(ENTRIES[0]))
    assert fingerprint(ENTRIES[0]) != fingerprint(ENTRIES[1])
    assert len(fingerprint("\ud800 a lone surrogate")) == 16


# -- what the model is sent -----------------------------------------------------------------------------


def test_without_a_summary_the_model_gets_the_window_as_read() -> None:
    read = Window(None, ENTRIES[-4:], 10)
    assert read.for_model() == (None, ENTRIES[-4:], 6)
    assert read.backlog == 6


def test_a_summary_that_ends_where_the_window_starts_is_sent_with_the_whole_window() -> None:
    summary = Summary("s", covers=6, in_list=6)
    read = Window(summary, ENTRIES[-4:], 10)
    assert read.for_model() == (summary, ENTRIES[-4:], 6)
    assert read.backlog == 0


def test_a_window_grown_over_summarized_messages_leaves_them_to_the_summary() -> None:
    summary = Summary("s", covers=6, in_list=6)
    read = Window(summary, ENTRIES[-8:], 10)  # starts at index 2: four of its entries are in the summary
    assert read.for_model() == (summary, ENTRIES[-4:], 6)


def test_a_window_holding_everything_the_summary_stands_for_sends_no_summary() -> None:
    read = Window(Summary("s", covers=6, in_list=6), ENTRIES, 10)
    assert read.for_model() == (None, ENTRIES, 0)


def test_a_summary_of_messages_trimmed_away_is_still_sent_with_the_window() -> None:
    summary = Summary("s", covers=9, in_list=3)  # six of what it covers are no longer in the list
    read = Window(summary, ENTRIES, 10)
    assert read.for_model() == (summary, ENTRIES[3:], 3)


def test_a_backlog_never_counts_below_zero() -> None:
    assert Window(Summary("s", covers=10, in_list=10), ENTRIES[-4:], 10).backlog == 0
