"""``python -m bench.encryption``: what ``LAB11_ENCRYPTION_KEYS`` costs (issue 24).

Two measurements, each against a throw-away Valkey server:

- **add_messages with and without encryption, at 5 ms one way** (through ``bench.proxy``, as the main
  table measures the stores): the lab's store on the same thread sizes and texts (``bench.workload``), one
  turn (a user and an assistant message) per call, the plaintext and the sealed store interleaved call by
  call so drift hits both alike. The goal is a sealed turn within 1.05x of a plaintext one: sealing is
  client CPU (AES-256-GCM of each entry, base64), a few microseconds per entry, while the turn is one
  round trip. **Client CPU per turn** is the process's CPU time per call, for both, and their difference.
- **``lab11 rekey --all`` over N threads** (the issue asks for 100,000) of four plaintext messages each,
  run as the real command (a child process): wall-clock time and peak resident memory (``VmHWM``), then a
  second run, which finds every thread already under the first key. Memory must not grow with N: rekey
  pages the recency index.

``python -m bench`` runs it and puts the section into docs/benchmarks.md; run alone, it prints the tables,
and with ``--write`` puts the section into docs/benchmarks.md in place of its earlier version.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.document import replace_section
from bench.export_import import run_command, seed
from bench.proxy import ProxyProcess
from bench.server import valkey_server
from bench.workload import turns
from tests.support.app_driver import app_env

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TITLE = "## Encryption at rest (LAB11_ENCRYPTION_KEYS)"
DELAY_MS = 5.0
GOAL = 1.05


async def measure_add_messages(calls: int, warmup: int = 5) -> dict[str, float]:
    """Median wall-clock ms and mean client CPU µs per ``add_messages`` turn, plaintext and sealed, at 5 ms one way."""
    from lab11_persistence.redis_history.sealing import new_key_entry
    from redis_chat_message_store import RedisChatMessageStore

    with valkey_server() as server, ProxyProcess(server.port, [0.0, DELAY_MS]) as proxy:
        url = proxy.url(DELAY_MS)
        stores = {
            "plain": RedisChatMessageStore(url, thread_id="plain", key_prefix="bench-enc", max_messages=200),
            "sealed": RedisChatMessageStore(
                url, thread_id="sealed", key_prefix="bench-enc", max_messages=200, encryption_keys=new_key_entry("b")
            ),
        }
        work = turns(calls + warmup)
        wall: dict[str, list[float]] = {name: [] for name in stores}
        cpu: dict[str, list[float]] = {name: [] for name in stores}
        for number, turn in enumerate(work):
            order = list(stores.items()) if number % 2 == 0 else list(reversed(stores.items()))
            for name, store in order:
                gc.collect()
                cpu_started, started = time.process_time(), time.perf_counter()
                await store.add_messages(turn)
                elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu_started
                if number >= warmup:
                    wall[name].append(elapsed)
                    cpu[name].append(cpu_used)
        sealed_entries = await stores["sealed"].history.entries("sealed")
        for store in stores.values():
            await store.aclose()
    if not all(entry.startswith("lab11-sealed:v1:b:") for entry in sealed_entries):
        raise SystemExit("the sealed store wrote an entry that is not sealed")
    plain_ms, sealed_ms = (statistics.median(wall[name]) * 1000 for name in ("plain", "sealed"))
    plain_cpu, sealed_cpu = (statistics.fmean(cpu[name]) * 1e6 for name in ("plain", "sealed"))
    return {
        "calls": calls,
        "plain_ms": plain_ms,
        "sealed_ms": sealed_ms,
        "ratio": sealed_ms / plain_ms,
        "plain_cpu_us": plain_cpu,
        "sealed_cpu_us": sealed_cpu,
    }


def measure_rekey(threads: int, workdir: Path) -> dict[str, float]:
    """Seconds and peak RSS of ``lab11 rekey --all`` over ``threads`` plaintext threads, then of a second run."""
    from lab11_persistence.redis_history.sealing import is_sealed, new_key_entry

    with valkey_server() as server:
        client = server.client()
        seed(client, threads)
        env = app_env(workdir / "home", workdir / "data", REDIS_URL=server.url)
        env["LAB11_ENCRYPTION_KEYS"] = new_key_entry("bench")
        first_s, first_rss = run_command(env, "rekey", "--all")
        sample = [
            client.lindex(f"lab11:thread_{number:06d}", -1) for number in range(0, threads, max(1, threads // 50))
        ]
        again_s, again_rss = run_command(env, "rekey", "--all")
        client.close()
    if not all(is_sealed(entry) for entry in sample):
        raise SystemExit("rekey --all left a plaintext entry")
    return {"threads": threads, "rekey_s": first_s, "rekey_rss": first_rss, "again_s": again_s, "again_rss": again_rss}


def add_table(row: dict[str, float]) -> str:
    verdict = "within" if row["ratio"] <= GOAL else "over"
    return "\n".join(
        [
            f"| add_messages at {DELAY_MS:g} ms one way | median per turn | client CPU per turn |",
            "|---|---:|---:|",
            f"| plaintext | {row['plain_ms']:.2f} ms | {row['plain_cpu_us']:.0f} µs |",
            f"| sealed (AES-256-GCM) | {row['sealed_ms']:.2f} ms | {row['sealed_cpu_us']:.0f} µs |",
            f"| sealed / plaintext | **{row['ratio']:.3f}x** ({verdict} the {GOAL}x goal) "
            f"| +{row['sealed_cpu_us'] - row['plain_cpu_us']:.0f} µs |",
        ]
    )


def rekey_table(rows: list[dict[str, float]]) -> str:
    lines = [
        "| threads (4 plaintext messages each) | rekey --all | peak RSS | again (nothing to do) | peak RSS |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {int(row['threads']):,} | {row['rekey_s']:.1f} s | {row['rekey_rss'] / 2**20:.0f} MiB "
            f"| {row['again_s']:.1f} s | {row['again_rss'] / 2**20:.0f} MiB |"
        )
    return "\n".join(lines)


def section(add: dict[str, float], rekey: list[dict[str, float]], command: str, load: str = "") -> list[str]:
    """The section of docs/benchmarks.md, as lines."""
    measured = f"Measured by `{command}`" + (f" (load average {load})." if load else ".")
    return [
        TITLE,
        "",
        "The lab's store, one turn (a user and an assistant message of realistic size) per `add_messages`, through",
        f"the delay proxy at {DELAY_MS:g} ms one way, plaintext and sealed interleaved call by call",
        f"({int(add['calls'])} calls each, medians). Client CPU is the process's CPU time per call. Then",
        "`lab11 rekey --all` as a child process on threads of four plaintext messages (no proxy): wall-clock time,",
        "start-up included, and peak resident memory (VmHWM); the second run finds every thread already under the",
        "first key. " + measured,
        "",
        add_table(add),
        "",
        rekey_table(rekey),
        "",
    ]


def write_section(document: Path, lines: list[str]) -> None:
    """Put the section into docs/benchmarks.md (``bench.document.replace_section``)."""
    replace_section(document, TITLE, lines)


def measure(calls: int, sizes: list[int]) -> tuple[dict[str, float], list[dict[str, float]]]:
    print(f"· add_messages with and without encryption at {DELAY_MS:g} ms ({calls} calls each) ...", file=sys.stderr)
    add = asyncio.run(measure_add_messages(calls))
    rekey: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lab11-bench-rekey-") as directory:
        for size in sizes:
            print(f"· lab11 rekey --all over {size:,} threads ...", file=sys.stderr, flush=True)
            rekey.append(measure_rekey(size, Path(directory)))
    return add, rekey


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encryption", description=__doc__)
    parser.add_argument("--calls", type=int, default=200, help="add_messages calls per store (default 200)")
    parser.add_argument("--sizes", default="100000", help="thread counts for rekey --all, comma-separated")
    parser.add_argument("--write", action="store_true", help="put the section into docs/benchmarks.md")
    args = parser.parse_args(argv)
    before = os.getloadavg()
    add, rekey = measure(args.calls, [int(size) for size in args.sizes.split(",") if size.strip()])
    print(add_table(add) + "\n\n" + rekey_table(rekey))
    if args.write:
        command = "python -m bench.encryption " + " ".join(argv if argv is not None else sys.argv[1:])
        load = " at the start, ".join(
            "/".join(f"{value:.2f}" for value in three) for three in (before, os.getloadavg())
        )
        write_section(DOCS / "benchmarks.md", section(add, rekey, command.strip(), load + " at the end"))
        print(f"wrote the section into {DOCS / 'benchmarks.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
