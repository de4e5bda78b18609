"""``python -m bench.export_import``: time and peak memory of ``lab11 export --all`` and ``lab11 import``.

The real commands run as child processes against a throw-away Valkey server, on N threads of four
messages each; their peak memory is the child's high-water resident set size (``VmHWM``), so it
counts the interpreter, redis-py and everything the command held. Run at two sizes, it shows whether memory
grows with the number of threads (it must not: export streams by SCAN pages, import by batches).

``python -m bench`` runs it and puts the table in docs/benchmarks.md; run alone, it prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.server import valkey_server
from tests.support.app_driver import APP, app_env

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MESSAGES_PER_THREAD = 4


def entry(role: str, text: str) -> str:
    contents = [{"type": "text", "text": text}]
    return json.dumps({"type": "chat_message", "role": {"type": "role", "value": role}, "contents": contents})


def seed(client, threads: int) -> None:  # type: ignore[no-untyped-def]
    """``threads`` threads of four messages each, indexed, in pipelined pages."""
    for start in range(0, threads, 2000):
        pipe = client.pipeline(transaction=False)
        for number in range(start, min(start + 2000, threads)):
            thread_id = f"thread_{number:06d}"
            pipe.rpush(
                f"lab11:{thread_id}",
                entry("user", f"I'm traveller {number}; my budget is {number} euros."),
                entry("assistant", f"Noted: traveller {number}, budget {number} euros."),
                entry("user", "Where should I go in spring?"),
                entry("assistant", "Lisbon: mild weather, within your budget."),
            )
            pipe.zadd("lab11.recent-threads", {thread_id: 1_700_000_000 + number})
        pipe.execute()


def run_command(env: dict[str, str], *args: str) -> tuple[float, int]:
    """Seconds and peak resident memory (bytes) of ``python app.py ARGS``; raises if it fails.

    The peak is the child's own ``VmHWM``, read from /proc while it runs (it only grows, so the last
    reading is the peak to within one poll). Not ``wait4``'s ``ru_maxrss``: Linux carries that over
    from the forked copy of this process, so it would report the benchmark's own size.
    """
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, str(APP), *args], env=env, stdout=subprocess.DEVNULL)
    status_file = Path(f"/proc/{child.pid}/status")
    peak = 0
    while child.poll() is None:
        with contextlib.suppress(OSError):
            for line in status_file.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"`app.py {' '.join(args)}` failed with exit status {child.returncode}")
    return elapsed, peak


def measure(threads: int, workdir: Path) -> dict[str, float]:
    with valkey_server() as server:
        client = server.client()
        seed(client, threads)
        env = app_env(workdir / "home", workdir / "data", REDIS_URL=server.url)
        export = workdir / f"export-{threads}.jsonl"
        export_seconds, export_rss = run_command(env, "export", "--all", "-o", str(export))
        size = export.stat().st_size
        client.flushall()
        import_seconds, import_rss = run_command(env, "import", str(export))
        restored = client.zcard("lab11.recent-threads")
        client.close()
    if restored != threads:
        raise SystemExit(f"import restored {restored} of {threads} threads")
    return {
        "threads": threads,
        "export_s": export_seconds,
        "export_rss": export_rss,
        "import_s": import_seconds,
        "import_rss": import_rss,
        "file_bytes": size,
    }


def table(rows: list[dict[str, float]]) -> str:
    lines = [
        "| threads (4 messages each) | export --all | peak RSS | import | peak RSS | file |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {int(row['threads']):,} | {row['export_s']:.1f} s | {row['export_rss'] / 2**20:.0f} MiB "
            f"| {row['import_s']:.1f} s | {row['import_rss'] / 2**20:.0f} MiB | {row['file_bytes'] / 2**20:.1f} MiB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export_import", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="thread counts, comma-separated")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    with tempfile.TemporaryDirectory(prefix="lab11-bench-export-") as directory:
        rows = []
        for size in sizes:
            print(f"· {size:,} threads ...", file=sys.stderr, flush=True)
            rows.append(measure(size, Path(directory)))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
