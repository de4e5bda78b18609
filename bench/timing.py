"""Timing and server counters shared by every measurement, free of any Agent Framework import.

The 1.x comparison (``bench.save_messages_v1``) runs in another environment, where the lab's
framework cannot be imported; it times and counts with this same code.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis


@dataclass
class Series:
    """Repeated timings of one thing, in seconds."""

    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # this process's CPU seconds per call, immune to other load

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.cpu else float("nan")

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def p95(self) -> float:
        if len(self.samples) < 2:
            return self.median
        return statistics.quantiles(self.samples, n=20, method="inclusive")[18]

    def to_json(self) -> dict[str, list[float]]:
        return {"samples": self.samples, "cpu": self.cpu}

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> Series:
        return cls(samples=[float(v) for v in data["samples"]], cpu=[float(v) for v in data["cpu"]])


@dataclass
class ServerCounts:
    """What the server saw per call: read events (one per request flight) and commands by name."""

    calls: int = 0
    reads: int = 0
    commands: Counter[str] = field(default_factory=Counter)

    def add(self, reads: int, commands: Counter[str]) -> None:
        self.calls += 1
        self.reads += reads
        self.commands.update(commands)

    def to_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "reads": self.reads, "commands": dict(self.commands)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerCounts:
        return cls(
            int(data["calls"]), int(data["reads"]), Counter({str(k): int(v) for k, v in data["commands"].items()})
        )

    @property
    def reads_per_call(self) -> float:
        return self.reads / self.calls if self.calls else float("nan")

    def commands_per_call(self) -> str:
        if not self.calls:
            return ""
        parts = []
        order = {"multi": (0, ""), "exec": (2, "")}
        for name, count in sorted(self.commands.items(), key=lambda item: order.get(item[0], (1, item[0]))):
            per_call = count / self.calls
            shown = f"{per_call:g}" if per_call == int(per_call) else f"{per_call:.2f}"
            parts.append(name.upper() if shown == "1" else f"{shown}×{name.upper()}")
        return " ".join(parts)


class Counters:
    """Server-side counters read on a direct (unproxied) connection around each measured call."""

    def __init__(self, admin: redis.Redis) -> None:
        self.admin = admin

    async def snapshot(self) -> tuple[int, Counter[str]]:
        info = await self.admin.info("stats", "commandstats")
        commands: Counter[str] = Counter()
        for key, value in info.items():
            if key.startswith("cmdstat_") and isinstance(value, dict):
                commands[key[len("cmdstat_") :]] = int(value.get("calls", 0))
        return int(info["total_reads_processed"]), commands

    @staticmethod
    def delta(before: tuple[int, Counter[str]], after: tuple[int, Counter[str]]) -> tuple[int, Counter[str]]:
        """Reads and commands of what ran between two snapshots, without the snapshots themselves.

        INFO counts its own read (so ``after`` includes one read of its own) but not its
        own command (so the ``before`` INFO shows up once among the commands).
        """
        commands = after[1] - before[1]
        commands.pop("info", None)
        return after[0] - before[0] - 1, commands


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call."""
    cpu = time.process_time()
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start, time.process_time() - cpu


async def measure_round(
    calls: dict[Any, Callable[[], Awaitable[Any]]],
    reps: int,
    series: dict[Any, Series],
    counts: dict[Any, ServerCounts] | None,
    counters: Counters,
    collect_each: bool = False,
    rotate: int = 0,
) -> None:
    """Time every call ``reps`` times, interleaved so drift hits them all alike.

    ``rotate`` shifts which call goes first, so no store always gets the same slot (the
    first call after other work tends to pay for cold caches). With ``collect_each`` the
    garbage collector runs before every call, so that no call pays for another's garbage.
    """
    items = list(calls.items())
    for rep in range(reps):
        shift = (rotate + rep) % len(items)
        for name, call in items[shift:] + items[:shift]:
            if collect_each:
                gc.collect()
            before = await counters.snapshot() if counts is not None else None
            wall, cpu = await timed(call)
            series[name].samples.append(wall)
            series[name].cpu.append(cpu)
            if counts is not None and before is not None:
                counts[name].add(*Counters.delta(before, await counters.snapshot()))
