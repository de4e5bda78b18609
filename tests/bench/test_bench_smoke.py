"""The benchmark still runs end to end (at tiny sizes) and its proxy keeps pipelined bytes in order.

No timing is asserted: CI machines are too noisy for that; docs/benchmarks.md holds the figures.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bench.proxy import DelayProxy
from bench.save_messages_v1 import V1_PYTHON

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_prints_the_table_and_writes_the_docs(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--delays", "0,1", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for expected in (
        "add_messages, time per call @ 1 ms",
        "list_messages ÷ bare LRANGE + json.loads",
        "20 most recent threads with counts, 1,000 threads",
        "import agent_framework",
        "Redis MEMORY USAGE per message",
        "save_messages (1.x)",
        "Targets:",
    ):
        assert expected in run.stdout
    if V1_PYTHON.exists():  # dev.py sets .venv-v1 up for the bench; without it the 1.x rows say "not run"
        assert "save_messages (1.x), server read events per call @ 1 ms" in run.stdout
    check = next(line for line in run.stdout.splitlines() if line.startswith("check: cleared and expired"))
    assert check.split()[-1] == "yes", check
    document = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    assert "## Machine" in document and "| Measure |" in document
    assert (tmp_path / "benchmarks-list-messages.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for _ in range(10_000):
        data = await reader.read(4096)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


async def test_proxy_keeps_pipelined_chunks_in_order() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    upstream_port = server.sockets[0].getsockname()[1]
    proxy = await DelayProxy(upstream_port, delay=0.002).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        payload = b"".join(f"message {number:05d}\n".encode() for number in range(2_000))
        for start in range(0, len(payload), 997):  # many writes without waiting: pipelined
            writer.write(payload[start : start + 997])
        await writer.drain()
        received = await asyncio.wait_for(reader.readexactly(len(payload)), 30)
        assert received == payload
        writer.close()
        assert proxy.stats.chunks >= 2
    finally:
        await proxy.stop()
        server.close()
        await server.wait_closed()
