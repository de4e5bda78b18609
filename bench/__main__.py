"""``python -m bench``: run every measurement, print the table, write docs/benchmarks.md and its plot."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from bench import encryption, export_import, migrate_prune, replica_confirmation, report, save_messages_v1, window
from bench.measure import Plan, Results, run_store_measurements
from bench.proxy import ProxyProcess
from bench.server import valkey_server
from bench.startup import APP, DEFAULT_MENU_PATTERN, measure_startup

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PLOT_NAME = "benchmarks-list-messages.png"
EXPORT_SIZES = (10_000, 100_000)  # the figure is at 100,000; two sizes show memory stays flat
EXPORT_SIZES_QUICK = (1_000,)
REKEY_SIZES, REKEY_SIZES_QUICK = [100_000], [1_000]  # issue 24: rekey --all over 100,000 threads


def _delays(text: str) -> list[float]:
    """One-way delays in ms; 0 is always measured because round trips are derived against it."""
    delays = sorted({float(part) for part in text.split(",") if part.strip()} | {0.0})
    if any(delay < 0 or delay > 100 for delay in delays):
        raise argparse.ArgumentTypeError("delays must be between 0 and 100 ms")
    return delays


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small, fast run (what the smoke test uses)")
    parser.add_argument(
        "--delays",
        type=_delays,
        default=_delays("0,1,5"),
        help="one-way delays in milliseconds, comma-separated (default 0,1,5)",
    )
    parser.add_argument(
        "--v1-python",
        type=Path,
        default=save_messages_v1.V1_PYTHON,
        help="Python of the Agent Framework 1.x environment, for the save_messages rows (default .venv-v1)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the table only; leave docs/ alone")
    parser.add_argument("--out-dir", type=Path, default=DOCS, help="where benchmarks.md and the plot go")
    parser.add_argument("--app", type=Path, default=APP, help="the app whose start-up is timed")
    parser.add_argument(
        "--menu-pattern",
        default=DEFAULT_MENU_PATTERN,
        help="regular expression that marks the first menu as fully shown",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan.quick(args.delays) if args.quick else Plan(delays_ms=args.delays)
    results = Results(delays_ms=plan.delays_ms, quick=args.quick, idle_seconds=plan.idle_seconds)
    started = time.perf_counter()
    results.load_average = list(os.getloadavg())
    print(f"Benchmark ({'quick' if args.quick else 'full'}), one-way delays {plan.delays_ms} ms", flush=True)
    with valkey_server() as server, ProxyProcess(server.port, plan.delays_ms) as proxy:
        asyncio.run(run_store_measurements(server.url, proxy, plan, results))
        print("· save_messages on Agent Framework 1.x (in .venv-v1) ...", flush=True)
        save_messages_v1.measure_in_v1(args.v1_python, server.url, proxy, plan, results)
        results.proxy_lateness = proxy.stats()
    sizes = EXPORT_SIZES_QUICK if args.quick else EXPORT_SIZES
    print(f"· lab11 export --all and import of {' and '.join(f'{size:,}' for size in sizes)} threads ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="lab11-bench-export-") as directory:
        results.export_import = [export_import.measure(size, Path(directory)) for size in sizes]
    print(f"· lab11 migrate --all and prune of {' and '.join(f'{size:,}' for size in sizes)} threads ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="lab11-bench-migrate-") as directory:
        results.migrate_prune = [migrate_prune.measure(size, Path(directory)) for size in sizes]
    results.encryption = encryption.measure(
        plan.add_calls * 3, REKEY_SIZES_QUICK if args.quick else REKEY_SIZES
    )  # add_messages with and without LAB11_ENCRYPTION_KEYS at 5 ms, and lab11 rekey --all
    print("· add_messages with min_replicas=1 against 0, one replica, at 5 ms ...", flush=True)
    results.replica_confirmation = replica_confirmation.measure(20 if args.quick else 200)
    print("· model input and Redis bytes read per turn, with and without the window ...", flush=True)
    results.window = window.measure(quick=args.quick)
    print("· start-up ...", flush=True)
    results.startup = measure_startup(plan.startup_runs, app=args.app, pattern=args.menu_pattern, warmup=not args.quick)
    elapsed = time.perf_counter() - started
    results.load_average += list(os.getloadavg())
    sections, targets = report.build(results)
    print()
    print(report.render_text(sections, targets, quick=args.quick))
    print("\nlab11 export and import:\n" + export_import.table(results.export_import))
    print("\nRemembering past the window:\n" + window.table(results.window))
    print("\nlab11 migrate and prune:\n" + migrate_prune.table(results.migrate_prune))
    print("\nEncryption at rest:\n" + encryption.add_table(results.encryption[0]))
    print(encryption.rekey_table(results.encryption[1]))
    print("\nTurns confirmed by a replica:\n" + replica_confirmation.table(results.replica_confirmation))
    print(f"\n({elapsed:.0f} s)")
    if not args.no_write:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        report.plot(results, args.out_dir / PLOT_NAME)
        given = argv if argv is not None else sys.argv[1:]
        command = "python -m bench " + " ".join(shlex.quote(arg) for arg in given)
        document = report.render_document(
            results, sections, targets, report.machine(), PLOT_NAME, command.strip(), elapsed
        )
        (args.out_dir / "benchmarks.md").write_text(document + "\n", encoding="utf-8")
        print(f"wrote {args.out_dir / 'benchmarks.md'} and {args.out_dir / PLOT_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
