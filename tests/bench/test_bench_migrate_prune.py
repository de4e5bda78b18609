"""``python -m bench.migrate_prune`` runs end to end (at a tiny size) and puts its section into the document.

No timing is asserted; docs/benchmarks.md holds the figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.migrate_prune import TITLE, section, write_section

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]
ROW = {"threads": 300, "migrate_s": 1.25, "migrate_rss": 40 * 2**20, "prune_s": 0.5, "prune_rss": 36 * 2**20}


def test_the_benchmark_migrates_and_prunes_every_thread() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.migrate_prune", "--sizes", "300"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "| threads (4 messages each) | migrate --all --delete-source |" in run.stdout
    assert "| 300 |" in run.stdout


def test_the_section_goes_in_once_and_is_replaced_in_place(tmp_path: Path) -> None:
    document = tmp_path / "benchmarks.md"
    document.write_text(
        "# Benchmarks\n\n## lab11 export and import\n\nrows\n\n## list_messages against history length\n\nplot\n"
    )
    write_section(document, section([ROW], "python -m bench.migrate_prune --write"))
    first = document.read_text()
    assert first.index("## lab11 export and import") < first.index(TITLE) < first.index("## list_messages against")
    assert "| 300 | 1.2 s | 40 MiB | 0.5 s | 36 MiB |" in first
    write_section(document, section([{**ROW, "prune_s": 0.75}], "python -m bench.migrate_prune --write"))
    second = document.read_text()
    assert second.count(TITLE) == 1 and "| 0.8 s | 36 MiB |" in second
    assert second.replace("0.8 s", "0.5 s") == first
