"""``bench.encryption``'s section of docs/benchmarks.md: its tables say what was measured, and it goes in once.

No timing is asserted and nothing is measured here (``python -m bench.encryption --calls 30 --sizes 2000``
runs it for real); docs/benchmarks.md holds the figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.encryption import TITLE, section, write_section

pytestmark = pytest.mark.bench

ADD = {"calls": 200, "plain_ms": 11.4, "sealed_ms": 11.6, "ratio": 1.0175}
ADD |= {"plain_cpu_us": 900.0, "sealed_cpu_us": 950.0}
REKEY = [{"threads": 100_000, "rekey_s": 120.0, "rekey_rss": 48 * 2**20, "again_s": 20.0, "again_rss": 47 * 2**20}]


def test_the_section_gives_the_ratio_against_the_goal_and_the_rekey_row() -> None:
    text = "\n".join(section(ADD, REKEY, "python -m bench.encryption"))

    assert "| sealed / plaintext | **1.018x** (within the 1.05x goal) | +50 µs |" in text
    assert "| 100,000 | 120.0 s | 48 MiB | 20.0 s | 47 MiB |" in text


def test_the_section_goes_in_once_before_the_plot_and_is_replaced_in_place(tmp_path: Path) -> None:
    document = tmp_path / "benchmarks.md"
    before = "# Benchmarks\n\n## lab11 migrate and prune\n\nrows\n\n"
    document.write_text(before + "## list_messages against history length\n")

    write_section(document, section(ADD, REKEY, "python -m bench.encryption --write"))
    write_section(document, section({**ADD, "ratio": 1.2}, REKEY, "python -m bench.encryption --write"))

    text = document.read_text()
    assert text.count(TITLE) == 1 and "(over the 1.05x goal)" in text
    assert text.index("## lab11 migrate and prune") < text.index(TITLE) < text.index("## list_messages against")
