"""Without Agent Framework 1.x the benchmark's save_messages rows say why they were not run, in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import report, save_messages_v1
from bench.measure import Plan, Results

pytestmark = pytest.mark.bench


def test_a_missing_1x_environment_is_one_line_and_the_rows_say_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = Plan.quick([0.0, 5.0])
    results = Results(delays_ms=plan.delays_ms)
    missing = tmp_path / "no-venv-v1" / "python"
    no_proxy: Any = None  # never reached: nothing is started without the 1.x Python
    save_messages_v1.measure_in_v1(missing, "redis://unused", no_proxy, plan, results)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"  1.x save_messages not run: {missing} is missing; python3 dev.py bench sets it up"]
    targets: list[report.Target] = []
    _, rows = report._save_v1_section(results, targets)
    assert [row.values["ours"] for row in rows] == ["not run"]
    assert targets[0].met is None and targets[0].figure.startswith("not run")


def test_the_worker_in_the_labs_environment_says_it_needs_1x(capsys: pytest.CaptureFixture[str]) -> None:
    assert save_messages_v1.main(["--admin-url", "redis://unused", "--url", "0=redis://unused"]) == 0
    assert capsys.readouterr().out.strip() == '{"not_run": "this Python has the lab\'s Agent Framework, not 1.x"}'
