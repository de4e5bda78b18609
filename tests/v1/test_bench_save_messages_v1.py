"""The benchmark's 1.x worker (bench/save_messages_v1.py) measures both providers and reports in one JSON line.

Runs in .venv-v1, where ``python -m bench`` starts it. No timing is asserted, only what was measured and
what the server counted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.v1

ROOT = Path(__file__).resolve().parents[2]


def _run_worker(server: ValkeyProcess) -> dict:  # type: ignore[type-arg]
    command = [sys.executable, "-m", "bench.save_messages_v1", "--admin-url", server.url]
    command += ["--url", f"0={server.url}", "--calls", "3", "--warmup", "1"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def test_the_worker_times_both_providers_and_names_the_1x_releases(redis_server: ValkeyProcess) -> None:
    reply = _run_worker(redis_server)
    assert set(reply["delays"]["0"]) == {"ours", "microsoft"}
    for figures in reply["delays"]["0"].values():
        assert len(figures["series"]["samples"]) == 3 and figures["server"]["calls"] == 3
    assert reply["versions"]["agent-framework-core"] == "1.23.0"
    assert reply["versions"]["agent-framework-redis"] != "not installed"


def test_our_provider_saves_a_turn_in_one_server_read_of_one_transaction(redis_server: ValkeyProcess) -> None:
    ours = _run_worker(redis_server)["delays"]["0"]["ours"]["server"]
    assert ours["reads"] == ours["calls"]
    assert ours["commands"]["multi"] == ours["commands"]["exec"] == ours["calls"]
