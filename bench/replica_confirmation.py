"""``python -m bench.replica_confirmation``: what ``min_replicas=1`` costs a turn (issue 23's bench row).

One primary with one replica, both on loopback (the replica a LAN hop from its primary, as in a data
centre); the store reaches the primary through the delay proxy at 5 ms one way (a client a network hop
away, as the other rows' "@ 5 ms"). Each iteration sends one turn (user + assistant, thread full at
``max_messages=200``) through a store with ``min_replicas=0`` and then through one with ``min_replicas=1``,
alternately, so that drift in the machine's load falls on both alike. The goal is at most 1.1×: the WAIT
rides in the turn's own round trip (MULTI ... EXEC WAIT in one socket write), so what it adds is only the
replica's acknowledgement, not a round trip of the client's.

Run alone it prints the row; ``python -m bench`` runs it with the rest and puts it in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from agent_framework import ChatMessage

from bench.proxy import ProxyProcess
from redis_chat_message_store import RedisChatMessageStore
from tests.support.sentinel import DataNode

DELAY_MS = 5.0
MAX_MESSAGES = 200
GOAL = 1.1
REPLICA_READY_SECONDS = 15.0


def wait_for_replication(primary: DataNode, replica: DataNode) -> None:
    deadline = time.monotonic() + REPLICA_READY_SECONDS
    while time.monotonic() < deadline:
        if replica.role().get("master_link_status") == "up" and primary.role().get("connected_slaves") == "1":
            return
        time.sleep(0.05)
    raise SystemExit("the replica did not connect to the primary in time")


async def measure_turns(port: int, turns: int, warmup: int) -> dict[int, list[float]]:
    """Seconds per ``add_messages`` for min_replicas 0 and 1, alternating call by call."""
    url = f"redis://127.0.0.1:{port}/0"
    stores = {
        required: RedisChatMessageStore(
            redis_url=url,
            thread_id=f"bench-confirmation-{required}",
            key_prefix="bench",
            max_messages=MAX_MESSAGES,
            min_replicas=required,
            replica_timeout_ms=1000,
        )
        for required in (0, 1)
    }
    turn = [
        ChatMessage(role="user", text="Where should I eat in Lisbon?"),
        ChatMessage(role="assistant", text="x" * 400),
    ]
    times: dict[int, list[float]] = {0: [], 1: []}
    try:
        for store in stores.values():  # a full thread, as the other add_messages rows measure
            await store.clear()
            for _ in range(MAX_MESSAGES // 2):
                await store.add_messages(turn)
        for iteration in range(warmup + turns):
            for required, store in stores.items():
                started = time.perf_counter()
                await store.add_messages(turn)
                if iteration >= warmup:
                    times[required].append(time.perf_counter() - started)
    finally:
        for store in stores.values():
            await store.clear()
            await store.aclose()
    return times


def row(times: dict[int, list[float]]) -> str:
    plain, confirmed = statistics.median(times[0]), statistics.median(times[1])
    ratio = confirmed / plain
    return (
        f"| add_messages, min_replicas=1 ÷ min_replicas=0, median per call @ {DELAY_MS:g} ms "
        f"(one replica, on loopback from its primary) | {len(times[1])} | {confirmed * 1000:.1f} ms ÷ "
        f"{plain * 1000:.1f} ms = {ratio:.2f}× | ≤ {GOAL}× | {'yes' if ratio <= GOAL else 'no'} |"
    )


def measure(turns: int, warmup: int = 10) -> dict[int, list[float]]:
    """Seconds per call for min_replicas 0 and 1, on a primary with one replica started for the purpose."""
    with tempfile.TemporaryDirectory(prefix="lab11-bench-replica-") as directory:
        primary = DataNode(Path(directory) / "primary")
        primary.start()
        replica = DataNode(Path(directory) / "replica", replica_of=primary.port)
        proxy: ProxyProcess | None = None
        try:
            replica.start()
            wait_for_replication(primary, replica)
            proxy = ProxyProcess(primary.port, [DELAY_MS]).start()
            return asyncio.run(measure_turns(proxy.ports[DELAY_MS], turns, warmup))
        finally:
            if proxy is not None:
                proxy.stop()
            replica.kill()
            primary.kill()


def table(times: dict[int, list[float]]) -> str:
    return "| Measure | n | min_replicas=1 ÷ 0 | goal | met |\n|---|---|---|---|---|\n" + row(times)


def section(times: dict[int, list[float]], command: str) -> list[str]:
    """Its part of docs/benchmarks.md."""
    return [
        "## Turns confirmed by a replica (LAB11_MIN_REPLICAS)",
        "",
        "`add_messages` on a primary with one replica, the client at 5 ms one way through the delay proxy, with",
        "`min_replicas=1` (the turn's MULTI/EXEC and a WAIT in one round trip) against `min_replicas=0`, call",
        f"by call alternately. `python -m bench.replica_confirmation` runs this part alone; this run: `{command}`.",
        "",
        table(times),
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replica_confirmation", description=__doc__)
    parser.add_argument("--turns", type=int, default=200, help="measured turns per setting")
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    times = measure(args.turns, args.warmup)
    print(table(times))
    print(
        f"(p95: {sorted(times[1])[int(len(times[1]) * 0.95) - 1] * 1000:.1f} ms with the replica, "
        f"{sorted(times[0])[int(len(times[0]) * 0.95) - 1] * 1000:.1f} ms without)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
