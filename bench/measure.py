"""The measurements: each one runs the three stores side by side, on the same server, in the same run."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis
from agent_framework import ChatMessage

from bench.baselines import lab_list_threads
from bench.proxy import ProxyProcess
from bench.stores import LAB, MICROSOFT, ORDER, OURS, StoreSpec, ours_class
from bench.timing import Counters, Series, ServerCounts, measure_round, timed
from bench.workload import messages, turns

MAX_MESSAGES = 200
THREAD_PREFIX = "bench-threads"
LISTED_THREADS = 20
INDEX_SAMPLES = 5  # threads written through the store itself, to prove the raw fill matches its index format
POPULATE_BATCH = 2000
WRITE_BATCH = 500
COLLECT_FROM_SIZE = 2_000  # collect garbage before each timed call from this history length on


@dataclass
class Plan:
    """How much to measure; ``quick()`` is the smoke-test size."""

    delays_ms: list[float]
    add_calls: int = 60
    add_warmup: int = 3
    history_sizes: tuple[int, ...] = (20, 200, 10_000)
    thread_counts: tuple[int, ...] = (1_000, 10_000, 100_000)
    startup_runs: int = 5
    idle_seconds: float = 31.0  # just past redis-py's health_check_interval of 30 s in our store

    @classmethod
    def quick(cls, delays_ms: list[float]) -> Plan:
        return cls(
            delays_ms=delays_ms,
            add_calls=5,
            add_warmup=1,
            history_sizes=(20, 200),
            thread_counts=(100, 1_000),
            startup_runs=1,
            idle_seconds=0.0,
        )

    def list_reps(self, size: int) -> int:
        if self.add_calls < 10:
            return 3
        return 30 if size <= 200 else 9

    def listing_reps(self, threads: int, ours: bool) -> int:
        if self.add_calls < 10:
            return 3
        if ours:
            return 30
        return 20 if threads <= 1_000 else 5 if threads <= 10_000 else 3


@dataclass
class Results:
    """Everything one run measured; ``report`` turns it into the table."""

    delays_ms: list[float]
    quick: bool = False
    add: dict[float, dict[str, Series]] = field(default_factory=dict)
    add_server: dict[float, dict[str, ServerCounts]] = field(default_factory=dict)
    add_after_idle: dict[tuple[float, str], tuple[float, ServerCounts]] = field(default_factory=dict)
    idle_seconds: float = 0.0
    history_sizes: tuple[int, ...] = ()
    lists: dict[float, dict[int, dict[str, Series]]] = field(default_factory=dict)
    bare: dict[float, dict[int, dict[str, Series]]] = field(default_factory=dict)
    list_server: dict[float, dict[int, dict[str, ServerCounts]]] = field(default_factory=dict)
    thread_counts: tuple[int, ...] = ()
    threads: dict[float, dict[int, dict[str, Series]]] = field(default_factory=dict)
    threads_server: dict[float, dict[int, ServerCounts]] = field(default_factory=dict)
    thread_checks: dict[str, bool] = field(default_factory=dict)
    memory: dict[int, dict[str, float]] = field(default_factory=dict)
    index_bytes_per_thread: float | None = None
    proxy_lateness: dict[str, dict[str, float]] = field(default_factory=dict)
    load_average: list[float] = field(default_factory=list)
    startup: Any = None
    message_sizes: dict[str, float] = field(default_factory=dict)
    save_v1: dict[float, dict[str, Series]] = field(default_factory=dict)  # 1.x save_messages, from .venv-v1
    save_v1_server: dict[float, dict[str, ServerCounts]] = field(default_factory=dict)
    save_v1_versions: dict[str, str] = field(default_factory=dict)
    save_v1_not_run: str = ""
    export_import: list[dict[str, float]] = field(default_factory=list)  # lab11 export --all / import, per size
    window: list[dict[str, Any]] = field(default_factory=list)  # model input and Redis bytes per turn (bench.window)
    migrate_prune: list[dict[str, float]] = field(default_factory=list)  # lab11 migrate --all / prune, per size
    encryption: tuple[dict[str, float], list[dict[str, float]]] | None = None  # bench.encryption: add, rekey rows
    replica_confirmation: dict[int, list[float]] | None = None  # bench.replica_confirmation: seconds per call


def _prefix(name: str) -> str:
    return f"bench-{name}"


async def measure_add(
    specs: dict[str, StoreSpec], proxy: ProxyProcess, counters: Counters, plan: Plan, results: Results
) -> None:
    """add_messages of one turn on a thread that already holds max_messages, so every write trims.

    Every repetition calls every store at every delay, so a burst of load elsewhere on the
    machine lands on all of them alike (and on the 0 ms figure the round trips are derived from).
    """
    prefill = messages(MAX_MESSAGES, seed=1)
    fresh_turns = turns(plan.add_warmup + plan.add_calls, seed=2)
    stores = {
        (delay, name): spec.make(proxy.url(delay), f"thread_{uuid.uuid4()}", _prefix(name), MAX_MESSAGES)
        for delay in plan.delays_ms
        for name, spec in specs.items()
    }
    try:
        for store in stores.values():
            await store.add_messages(prefill)
        series = {key: Series() for key in stores}
        counts = {key: ServerCounts() for key in stores}
        for number, turn in enumerate(fresh_turns):
            calls = {key: (lambda s=store, t=turn: s.add_messages(t)) for key, store in stores.items()}
            if number < plan.add_warmup:
                for call in calls.values():
                    await call()
                continue
            await measure_round(calls, 1, series, counts, counters, rotate=number)
        if plan.idle_seconds:
            await _after_idle(stores, turns(1, seed=7)[0], counters, plan.idle_seconds, results)
        for (_, name), store in stores.items():
            length = await counters.admin.llen(f"{_prefix(name)}:{store.thread_id}")
            if length != MAX_MESSAGES:
                raise RuntimeError(f"{name}: thread holds {length} messages, expected {MAX_MESSAGES}")
    finally:
        for store in stores.values():
            await store.aclose()
    for (delay, name), timing in series.items():
        results.add.setdefault(delay, {})[name] = timing
        results.add_server.setdefault(delay, {})[name] = counts[(delay, name)]


async def _after_idle(
    stores: dict[tuple[float, str], Any],
    turn: list[ChatMessage],
    counters: Counters,
    idle_seconds: float,
    results: Results,
) -> None:
    """A user reads and types between turns: what does the first write after a pause cost?

    redis-py sends a PING before a command on a connection idle longer than its
    ``health_check_interval``, which adds a round trip exactly when a chat resumes.
    """
    print(f"  (idle {idle_seconds:g} s, as a user between turns)", flush=True)
    await asyncio.sleep(idle_seconds)
    for key, store in stores.items():
        before = await counters.snapshot()
        wall, _ = await timed(lambda s=store: s.add_messages(turn))
        reads, commands = Counters.delta(before, await counters.snapshot())
        counts = ServerCounts()
        counts.add(reads, commands)
        results.add_after_idle[key] = (wall, counts)


async def _bare_lrange(client: redis.Redis, key: str) -> list[Any]:
    """The floor for list_messages: fetch the list and parse the JSON, nothing else."""
    return [json.loads(raw) for raw in await client.lrange(key, 0, -1)]


async def _write_histories(
    specs: dict[str, StoreSpec], server_url: str, threads: dict[int, str], history: list[ChatMessage]
) -> None:
    """Each store writes the same messages, in its own format, through its own add_messages."""
    for name, spec in specs.items():
        for size, thread_id in threads.items():
            writer = spec.make(server_url, thread_id, _prefix(name), None)
            try:
                for start in range(0, size, WRITE_BATCH):
                    await writer.add_messages(history[start : min(size, start + WRITE_BATCH)])
            finally:
                await writer.aclose()


async def measure_list(
    specs: dict[str, StoreSpec],
    server_url: str,
    proxy: ProxyProcess,
    counters: Counters,
    plan: Plan,
    results: Results,
) -> None:
    """list_messages at several history lengths, against a bare LRANGE + json.loads of the same key."""
    results.history_sizes = plan.history_sizes
    threads: dict[int, str] = {size: f"thread_{uuid.uuid4()}" for size in plan.history_sizes}
    await _write_histories(specs, server_url, threads, messages(max(plan.history_sizes), seed=3))
    for size, thread_id in threads.items():
        results.memory[size] = {}
        for name in specs:
            usage = await counters.admin.memory_usage(f"{_prefix(name)}:{thread_id}", samples=0)
            results.memory[size][name] = float(usage or 0) / size
    bare_clients = {delay: redis.from_url(proxy.url(delay), decode_responses=True) for delay in plan.delays_ms}
    stores = {
        (delay, name, size): spec.make(proxy.url(delay), thread_id, _prefix(name), None)
        for delay in plan.delays_ms
        for name, spec in specs.items()
        for size, thread_id in threads.items()
    }
    try:
        for (delay, name, size), store in stores.items():  # warm up connections, and check what comes back
            got = await store.list_messages()
            if len(got) != size or not isinstance(got[0], ChatMessage):
                raise RuntimeError(f"{name}: list_messages returned {len(got)} of {size} messages")
            await _bare_lrange(bare_clients[delay], store.redis_key)
        for size in plan.history_sizes:
            keys = [key for key in stores if key[2] == size]
            series = {key: Series() for key in keys}
            bare = {key: Series() for key in keys}
            counts = {key: ServerCounts() for key in keys}
            big = size >= COLLECT_FROM_SIZE
            for rep in range(plan.list_reps(size)):
                calls = {key: stores[key].list_messages for key in keys}
                await measure_round(calls, 1, series, counts, counters, collect_each=big, rotate=rep)
                bare_calls = {
                    key: (lambda c=bare_clients[key[0]], k=stores[key].redis_key: _bare_lrange(c, k)) for key in keys
                }
                await measure_round(bare_calls, 1, bare, None, counters, collect_each=big, rotate=rep)
            for delay, name, _ in keys:
                results.lists.setdefault(delay, {}).setdefault(size, {})[name] = series[(delay, name, size)]
                results.bare.setdefault(delay, {}).setdefault(size, {})[name] = bare[(delay, name, size)]
                results.list_server.setdefault(delay, {}).setdefault(size, {})[name] = counts[(delay, name, size)]
    finally:
        for store in stores.values():
            await store.aclose()
        for client in bare_clients.values():
            await client.aclose()


async def _populate_threads(admin: redis.Redis, start: int, stop: int, base_score: float) -> None:
    """Fill threads fast: the raw writes the store does for one turn (RPUSH + recency-index ZADD)."""
    encode = _ours_encoder()
    pair = [encode(message) for message in messages(2, seed=4)]
    index_key = f"{THREAD_PREFIX}.recent-threads"
    for batch_start in range(start, stop, POPULATE_BATCH):
        pipe = admin.pipeline(transaction=False)
        scores = {}
        for number in range(batch_start, min(stop, batch_start + POPULATE_BATCH)):
            thread_id = f"thread_{number:08d}-{uuid.uuid4()}"
            pipe.rpush(f"{THREAD_PREFIX}:{thread_id}", *pair)
            scores[thread_id] = base_score + number
        pipe.zadd(index_key, scores)
        await pipe.execute()


def _ours_encoder() -> Callable[[ChatMessage], str]:
    from lab11_persistence.redis_history.message_json import encode_entry

    ours_class()
    return lambda message: encode_entry(message.to_dict())


async def measure_thread_listing(
    server_url: str, proxy: ProxyProcess, counters: Counters, plan: Plan, results: Results
) -> None:
    """The 20 most recently used threads with their counts: this store's index against KEYS + LLEN."""
    store_class = ours_class()
    admin = counters.admin
    results.thread_counts = plan.thread_counts
    base_score = time.time() - 10_000_000  # raw-filled threads are all older than the samples
    samples: list[str] = []
    filled = 0
    for target in plan.thread_counts:
        await _populate_threads(admin, filled, target - INDEX_SAMPLES if not samples else target, base_score)
        if not samples:
            sample_turn = turns(1, seed=5)[0]
            for _ in range(INDEX_SAMPLES):
                thread_id = f"thread_{uuid.uuid4()}"
                writer = store_class(redis_url=server_url, thread_id=thread_id, key_prefix=THREAD_PREFIX)
                await writer.add_messages(sample_turn)
                await writer.aclose()
                samples.append(thread_id)
        filled = target
        held = await admin.zcard(f"{THREAD_PREFIX}.recent-threads")
        if held != target:
            raise RuntimeError(f"the recency index holds {held} threads, expected {target}")
        for delay in plan.delays_ms:
            store = store_class(redis_url=proxy.url(delay), key_prefix=THREAD_PREFIX)
            client = redis.from_url(proxy.url(delay), decode_responses=True)
            try:
                listed = await store.list_saved_threads(limit=LISTED_THREADS)
                results.thread_checks[f"index format matches ({target} threads, {delay:g} ms)"] = (
                    len(listed) == LISTED_THREADS
                    and [thread.thread_id for thread in listed[:INDEX_SAMPLES]] == samples[::-1]
                    and all(thread.message_count == 2 for thread in listed)
                )
                lab_listed = await lab_list_threads(client, THREAD_PREFIX, LISTED_THREADS)
                if len(lab_listed) != LISTED_THREADS:
                    raise RuntimeError(f"the lab's listing found {len(lab_listed)} threads")
                series = {OURS: Series(), LAB: Series()}
                counts = {OURS: ServerCounts()}
                # The lab's way leaves up to 100,000 key strings behind; collecting before each call
                # keeps a few-millisecond listing from paying for that garbage.
                await measure_round(
                    {OURS: lambda s=store: s.list_saved_threads(limit=LISTED_THREADS)},
                    plan.listing_reps(target, ours=True),
                    series,
                    counts,
                    counters,
                    collect_each=True,
                )
                await measure_round(
                    {LAB: lambda c=client: lab_list_threads(c, THREAD_PREFIX, LISTED_THREADS)},
                    plan.listing_reps(target, ours=False),
                    series,
                    None,
                    counters,
                    collect_each=True,
                )
                results.threads.setdefault(delay, {})[target] = series
                results.threads_server.setdefault(delay, {})[target] = counts[OURS]
            finally:
                await store.aclose()
                await client.aclose()
    usage = await admin.memory_usage(f"{THREAD_PREFIX}.recent-threads", samples=0)
    results.index_bytes_per_thread = float(usage or 0) / filled
    await _check_cleared_and_expired(server_url, samples, results)


async def _check_cleared_and_expired(server_url: str, samples: list[str], results: Results) -> None:
    """The listing must stay right when a thread is cleared or its key expires."""
    store_class = ours_class()
    cleared, expiring = samples[-1], samples[-2]
    store = store_class(redis_url=server_url, thread_id=cleared, key_prefix=THREAD_PREFIX)
    await store.clear()
    await store.aclose()
    store = store_class(redis_url=server_url, thread_id=expiring, key_prefix=THREAD_PREFIX, ttl_seconds=1)
    await store.add_messages(turns(1, seed=6)[0])
    await store.aclose()
    await asyncio.sleep(1.3)
    lister = store_class(redis_url=server_url, key_prefix=THREAD_PREFIX)
    try:
        listed = await lister.list_saved_threads(limit=LISTED_THREADS)
    finally:
        await lister.aclose()
    ids = [thread.thread_id for thread in listed]
    results.thread_checks["cleared and expired threads leave the listing, which still shows 20"] = (
        cleared not in ids
        and expiring not in ids
        and len(ids) == LISTED_THREADS
        and all(thread.message_count > 0 for thread in listed)
    )


def measure_message_sizes(results: Results) -> None:
    """Average JSON size of the messages used, for the docs."""
    sample = messages(200, seed=3)
    encode = _ours_encoder()
    for role in ("user", "assistant"):
        sizes = [len(encode(message).encode()) for message in sample if str(message.role.value) == role]
        results.message_sizes[role] = statistics.mean(sizes)


async def run_store_measurements(server_url: str, proxy: ProxyProcess, plan: Plan, results: Results) -> None:
    """All Redis measurements in one event loop, sharing one admin connection."""
    from bench.stores import store_specs

    specs = store_specs()
    specs = {name: specs[name] for name in ORDER}
    admin = redis.from_url(server_url, decode_responses=True)
    counters = Counters(admin)
    try:
        measure_message_sizes(results)
        print("· add_messages ...", flush=True)
        await measure_add(specs, proxy, counters, plan, results)
        print("· list_messages ...", flush=True)
        await measure_list(specs, server_url, proxy, counters, plan, results)
        print("· listing saved threads ...", flush=True)
        await measure_thread_listing(server_url, proxy, counters, plan, results)
    finally:
        await admin.aclose()


__all__ = ["LAB", "MICROSOFT", "OURS", "Plan", "Results", "Series", "ServerCounts", "run_store_measurements"]
