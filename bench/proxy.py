"""A loopback TCP proxy that adds a fixed one-way delay in each direction.

Azure Cache for Redis is a network hop away, and what a store costs there is
mostly round trips. This proxy makes that hop reproducible on one machine: every
chunk read from one side is written to the other side ``delay`` seconds after it
arrived. Chunks are timestamped, not serialized behind each other, so pipelined
requests stay pipelined and order is kept (the delay is the same for every chunk
of a direction, so a FIFO queue is enough).

It runs in its own process (``python -m bench.proxy``) so that the client's CPU
work never holds back the proxy's timers; it can also run in-process for tests.

    python -m bench.proxy --upstream-port 6379 --delays 0,1,5 [--max-seconds 1800]

prints one JSON line ``{"ports": {"0": 40001, "1": 40002, "5": 40003}}`` and serves
until its standard input closes or ``--max-seconds`` pass. Writing ``stats`` on
its standard input prints how late chunks were forwarded, per delay.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import select
import selectors
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
READ_SIZE = 65536
QUEUE_CHUNKS = 4096  # back-pressure: a direction holds at most this many chunks in flight
MAX_CHUNKS_PER_DIRECTION = 50_000_000  # bounds every pump loop by count as well as by time
DEFAULT_MAX_SECONDS = 1800.0
MAX_WAKE_COMPENSATION = 0.0015  # never aim more than 1.5 ms early
WAKE_LATENCY_WEIGHT = 0.1


@dataclass
class DelayStats:
    """How precisely the delay was applied.

    A chunk the proxy had to hold back shows the timer's error (how far from its due time it
    went out). A chunk already past due when its turn came sat behind earlier bytes that the
    receiver had not taken yet (a large reply being parsed): that is back-pressure, counted apart.
    """

    chunks: int = 0
    bytes: int = 0
    timed: int = 0
    total_error: float = 0.0
    total_abs_error: float = 0.0
    max_error: float = 0.0
    backlogged: int = 0

    def record(self, size: int, error: float | None) -> None:
        self.chunks += 1
        self.bytes += size
        if error is None:
            self.backlogged += 1
            return
        self.timed += 1
        self.total_error += error
        self.total_abs_error += abs(error)
        self.max_error = max(self.max_error, error)

    def as_dict(self) -> dict[str, float]:
        count = max(self.timed, 1)
        return {
            "chunks": self.chunks,
            "bytes": self.bytes,
            "timed_chunks": self.timed,
            "mean_error_ms": round(self.total_error / count * 1000, 4),
            "mean_abs_error_ms": round(self.total_abs_error / count * 1000, 4),
            "max_late_ms": round(self.max_error * 1000, 4),
            "backlogged_chunks": self.backlogged,
        }


@dataclass
class DelayProxy:
    """Listens on a free loopback port and forwards to ``upstream_port`` with ``delay`` seconds each way."""

    upstream_port: int
    delay: float
    upstream_host: str = HOST
    port: int = 0
    stats: DelayStats = field(default_factory=DelayStats)
    _server: asyncio.base_events.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _wake_latency: float = 0.0

    def _learn_wake_latency(self, late: float) -> None:
        """Track how late sleeps return (a VM may add a few hundred µs) and aim that much earlier."""
        late = min(max(late, 0.0), MAX_WAKE_COMPENSATION)
        self._wake_latency += WAKE_LATENCY_WEIGHT * (late - self._wake_latency)

    async def start(self) -> DelayProxy:
        self._server = await asyncio.start_server(self._handle, HOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Close the listener and every open connection (cancelling their pumps)."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(self.upstream_host, self.upstream_port), 5
            )
        except (OSError, asyncio.TimeoutError):
            client_writer.close()
            return
        for reader, writer in ((client_reader, upstream_writer), (upstream_reader, client_writer)):
            task = asyncio.ensure_future(self._direction(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _direction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One direction of one connection: a reader that stamps chunks and a writer that waits for them."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_CHUNKS)

        async def receive() -> None:
            try:
                for _ in range(MAX_CHUNKS_PER_DIRECTION):
                    data = await reader.read(READ_SIZE)
                    if not data:
                        break
                    await queue.put((loop.time() + self.delay, data))
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                await queue.put(None)

        async def send() -> None:
            try:
                for _ in range(MAX_CHUNKS_PER_DIRECTION + 1):
                    item = await queue.get()
                    if item is None:
                        break
                    due, data = item
                    aim = due - self._wake_latency
                    wait = aim - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                        self._learn_wake_latency(loop.time() - aim)
                        self.stats.record(len(data), loop.time() - due)
                    elif self.delay > 0 and due - loop.time() > 0:
                        self.stats.record(len(data), loop.time() - due)  # due within the compensation
                    else:
                        self.stats.record(len(data), None if self.delay > 0 else 0.0)
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                writer.close()

        receiver = asyncio.ensure_future(receive())
        try:
            await send()
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver


def _parse_delays(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


async def _serve(upstream_port: int, delays_ms: list[float], max_seconds: float) -> None:
    proxies = {delay: await DelayProxy(upstream_port, delay / 1000).start() for delay in delays_ms}
    print(json.dumps({"ports": {f"{delay:g}": proxy.port for delay, proxy in proxies.items()}}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    deadline = loop.time() + max_seconds
    try:
        for _ in range(1_000_000):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                line = await asyncio.wait_for(reader.readline(), remaining)
            except asyncio.TimeoutError:
                break
            if not line:
                break
            if line.strip() == b"stats":
                stats = {f"{delay:g}": proxy.stats.as_dict() for delay, proxy in proxies.items()}
                print(json.dumps({"stats": stats}), flush=True)
    finally:
        for proxy in proxies.values():
            await proxy.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--delays", default="0,1,5", help="one-way delays in milliseconds, comma-separated")
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS)
    args = parser.parse_args(argv)
    # select() takes a timeout in microseconds, epoll in whole milliseconds: with a handful of
    # sockets, the SelectSelector keeps the delay precise to a fraction of a millisecond.
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        loop.run_until_complete(_serve(args.upstream_port, _parse_delays(args.delays), args.max_seconds))
    finally:
        loop.close()
    return 0


class ProxyProcess:
    """The proxy in a child process, so the benchmark's own CPU work never delays its timers."""

    def __init__(self, upstream_port: int, delays_ms: list[float], max_seconds: float = DEFAULT_MAX_SECONDS) -> None:
        self.upstream_port = upstream_port
        self.delays_ms = delays_ms
        self.max_seconds = max_seconds
        self.ports: dict[float, int] = {}
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 15.0) -> ProxyProcess:
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.proxy",
                "--upstream-port",
                str(self.upstream_port),
                "--delays",
                ",".join(f"{delay:g}" for delay in self.delays_ms),
                "--max-seconds",
                str(self.max_seconds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        reply = self._read_json(timeout)
        self.ports = {float(delay): int(port) for delay, port in reply["ports"].items()}
        return self

    def _read_json(self, timeout: float) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        line = self._process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError("the delay proxy did not answer")
        return dict(json.loads(line))

    def url(self, delay_ms: float, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.ports[delay_ms]}/{database}"

    def stats(self) -> dict[str, dict[str, float]]:
        """How late the proxy forwarded chunks, per delay (a check on the delay's precision)."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write("stats\n")
        self._process.stdin.flush()
        return dict(self._read_json(10.0)["stats"])

    def stop(self) -> None:
        if self._process is None:
            return
        with contextlib.suppress(OSError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None

    def __enter__(self) -> ProxyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
