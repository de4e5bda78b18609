"""The suite's layers, as a contributor meets them: a core test needs no framework, every test has a layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_loading_the_top_conftest_imports_no_agent_framework() -> None:
    loaded = _python("-c", "import sys; import tests.conftest; print('agent_framework' in sys.modules)")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "False"


def test_a_test_without_a_layer_fails_the_collection_naming_itself(tmp_path: Path) -> None:
    stray = ROOT / "tests" / "store" / f"test_unlayered_{tmp_path.name}.py"
    stray.write_text("def test_with_no_marker():\n    pass\n")
    try:
        run = _python("-m", "pytest", "-m", "fast", "--collect-only", "-q", "-p", "no:cacheprovider", str(stray))
    finally:
        stray.unlink()
    assert run.returncode != 0
    assert f"{stray.name}::test_with_no_marker: no layer marker" in run.stdout + run.stderr


FAST_TESTS_THAT_REACH_OUT = """
import socket
import subprocess

import pytest

pytestmark = pytest.mark.fast


def test_starts_a_process():
    subprocess.run(["true"], check=False)


def test_connects_to_loopback():
    socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_hides_the_refusal():
    try:
        subprocess.run(["true"], check=False)
    except Exception:
        pass
"""


def test_a_fast_test_that_starts_a_process_or_connects_fails_even_when_it_hides_the_refusal(tmp_path: Path) -> None:
    stray = ROOT / "tests" / "store" / f"test_reaching_out_{tmp_path.name}.py"
    stray.write_text(FAST_TESTS_THAT_REACH_OUT)
    try:
        run = _python("-m", "pytest", "-q", "-p", "no:cacheprovider", str(stray))
    finally:
        stray.unlink()
    output = run.stdout + run.stderr
    assert "a fast test tried to start a process" in output
    assert "a fast test tried to connect to the network" in output
    assert "2 failed, 1 passed, 3 errors" in output  # each refusal also fails the test's teardown
