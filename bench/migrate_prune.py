"""``python -m bench.migrate_prune``: time and peak memory of ``lab11 migrate --all`` and ``lab11 prune``.

The real commands run as child processes against a throw-away Valkey server, on N threads of four
messages each in the lab's layout (``lab11:``), dated long ago in the recency index. First
``migrate --all --delete-source`` moves every thread to Microsoft's scoped keys (each entry
rewritten in 1.x JSON); then ``prune --older-than 30d --yes`` deletes every one of them from that
scope. Peak memory is the child's high-water resident set size (``VmHWM``), as for export and
import; run at two sizes, it shows whether memory grows with the number of threads (it must not:
migrate streams SCAN pages, prune index pages).

``python -m bench`` runs it and puts the table in docs/benchmarks.md; run alone, it prints the
table, and with ``--write`` puts it into docs/benchmarks.md in place of its earlier section.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench.document import replace_section
from bench.export_import import run_command, seed
from bench.server import valkey_server
from tests.support.app_driver import app_env

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SCOPE = ("--application-id", "bench-app", "--tenant-id", "bench")
TARGET_INDEX = "lab11|v2|bench|bench-app|~none|redis_memory|~recent-threads"
TITLE = "## lab11 migrate and prune"


def measure(threads: int, workdir: Path) -> dict[str, float]:
    with valkey_server() as server:
        client = server.client()
        seed(client, threads)  # dated 2023 in the index: older than any --older-than below
        env = app_env(workdir / "home", workdir / "data", REDIS_URL=server.url)
        migrate_seconds, migrate_rss = run_command(env, "migrate", "--all", "--delete-source", *SCOPE)
        moved, left = client.zcard(TARGET_INDEX), client.dbsize() - 1
        prune_seconds, prune_rss = run_command(env, "prune", "--older-than", "30d", "--yes", *SCOPE)
        remaining = client.dbsize()
        client.close()
    if (moved, left) != (threads, threads):
        raise SystemExit(f"migrate moved {moved} of {threads} threads, {left} thread keys after it")
    if remaining:
        raise SystemExit(f"prune left {remaining} keys of {threads} threads")
    return {
        "threads": threads,
        "migrate_s": migrate_seconds,
        "migrate_rss": migrate_rss,
        "prune_s": prune_seconds,
        "prune_rss": prune_rss,
    }


def table(rows: list[dict[str, float]]) -> str:
    lines = [
        "| threads (4 messages each) | migrate --all --delete-source | peak RSS | prune --older-than 30d | peak RSS |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {int(row['threads']):,} | {row['migrate_s']:.1f} s | {row['migrate_rss'] / 2**20:.0f} MiB "
            f"| {row['prune_s']:.1f} s | {row['prune_rss'] / 2**20:.0f} MiB |"
        )
    return "\n".join(lines)


def section(rows: list[dict[str, float]], command: str = "python -m bench", load: str = "") -> list[str]:
    """The section of docs/benchmarks.md, as lines."""
    measured = f"Measured by `{command}`" + (f" (load average {load})." if load else ".")
    return [
        TITLE,
        "",
        "`lab11 migrate --all --delete-source` moves every `lab11:` thread to Microsoft's scoped keys (each entry",
        "rewritten in 1.x JSON, one script per thread, the source deleted by a second one), then",
        "`lab11 prune --older-than 30d --yes` deletes all of them again from that scope (their index dates are",
        "old), as child processes against a Valkey of their own (no proxy), on threads of four messages. Time is",
        "wall-clock for the whole command (start-up included); peak RSS is the command's high-water resident set",
        "(VmHWM). The commands are bound by the client's CPU: redis-py packing and parsing four commands per",
        "migrated thread (one per pruned thread), and the JSON rewrite of every entry; the server mostly waits.",
        measured,
        "",
        table(rows),
        "",
    ]


def write_section(document: Path, lines: list[str]) -> None:
    """Put the section into docs/benchmarks.md (``bench.document.replace_section``)."""
    replace_section(document, TITLE, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.migrate_prune", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="thread counts, comma-separated")
    parser.add_argument("--write", action="store_true", help="put the table into docs/benchmarks.md")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lab11-bench-migrate-") as directory:
        rows = []
        for size in sizes:
            print(f"· {size:,} threads ...", file=sys.stderr, flush=True)
            rows.append(measure(size, Path(directory)))
    print(table(rows))
    if args.write:
        command = "python -m bench.migrate_prune " + " ".join(argv if argv is not None else sys.argv[1:])
        averages = [before, os.getloadavg()]
        load = " at the start, ".join("/".join(f"{value:.2f}" for value in three) for three in averages) + " at the end"
        write_section(DOCS / "benchmarks.md", section(rows, command.strip(), load))
        print(f"wrote the section into {DOCS / 'benchmarks.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
