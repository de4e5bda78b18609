"""save_messages on Agent Framework 1.x: this project's RedisHistoryProvider beside Microsoft's.

The lab's environment (.venv) cannot import 1.x, so ``python -m bench`` runs this module with the
Python of .venv-v1, against the same server and the same delay proxy, once its own measurements
are done. Both sides of that exchange live here:

- ``measure_in_v1`` (in .venv): starts the worker, reads its one JSON line into ``Results``, or
  records in one line why the 1.x rows were not run;
- ``main`` (the worker, in .venv-v1)::

    .venv-v1/bin/python -m bench.save_messages_v1 --admin-url URL --url 0=URL --url 5=URL --calls N --warmup N

  Each provider gets a thread already at ``max_messages=200`` per delay, then saves one turn per
  call (the user's message and the reply, as the agent does once per run), the providers
  interleaved call by call and counted on the server exactly like ``add_messages``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.timing import Counters, Series, ServerCounts, measure_round
from bench.workload import turn_texts

if TYPE_CHECKING:
    from bench.measure import Plan, Results
    from bench.proxy import ProxyProcess

ROOT = Path(__file__).resolve().parent.parent
V1_PYTHON = ROOT / ".venv-v1" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
OURS, MICROSOFT = "ours", "microsoft"  # the names bench.stores gives this project and Microsoft
MAX_MESSAGES = 200
WORKER_TIMEOUT = 900.0
PACKAGES = ("agent-framework-core", "agent-framework-redis", "redis")


# -- in .venv: start the worker and read its figures ----------------------------------------------


def measure_in_v1(python: Path, server_url: str, proxy: ProxyProcess, plan: Plan, results: Results) -> None:
    """Fill ``results.save_v1*`` from a worker in the 1.x environment, or say in one line why not."""
    if not python.exists():
        why = f"{_shown(python)} is missing; python3 dev.py bench sets it up"
    else:
        command = [str(python), "-m", "bench.save_messages_v1", "--admin-url", server_url]
        for delay in plan.delays_ms:
            command += ["--url", f"{delay:g}={proxy.url(delay)}"]
        command += ["--calls", str(plan.add_calls), "--warmup", str(plan.add_warmup)]
        why = _read_worker(command, results)
    if why:
        results.save_v1_not_run = why
        print(f"  1.x save_messages not run: {why}", flush=True)


def _shown(python: Path) -> str:
    try:
        return str(python.relative_to(ROOT))
    except ValueError:
        return str(python)


def _read_worker(command: list[str], results: Results) -> str:
    """Run the worker; an empty string when its figures are in ``results``, else the reason."""
    try:
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return f"the 1.x worker did not finish within {WORKER_TIMEOUT:g} s"
    except OSError as error:
        return f"could not start {command[0]}: {error.strerror or error}"
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return f"the 1.x worker exited with status {run.returncode}: {last[:300]}"
    reply = json.loads(lines[-1])
    if reply.get("not_run"):
        return str(reply["not_run"])
    for delay, providers in reply["delays"].items():
        for name, figures in providers.items():
            results.save_v1.setdefault(float(delay), {})[name] = Series.from_json(figures["series"])
            results.save_v1_server.setdefault(float(delay), {})[name] = ServerCounts.from_json(figures["server"])
    results.save_v1_versions = {str(key): str(value) for key, value in reply["versions"].items()}
    return ""


# -- in .venv-v1: the worker -------------------------------------------------------------------


def _factories() -> dict[str, Callable[[str], Any]]:
    """Each provider on the lab's ``{prefix}:{session_id}`` keys, trimming at 200, from a URL."""
    from agent_framework_redis import RedisHistoryProvider as MicrosoftProvider

    from lab11_persistence.v1.history_provider import RedisHistoryProvider as OurProvider

    def ours(url: str) -> Any:
        return OurProvider(redis_url=url, key_prefix=f"bench-v1-{OURS}", max_messages=MAX_MESSAGES)

    def microsoft(url: str) -> Any:
        with warnings.catch_warnings():  # legacy keys are deprecated there, and they are the lab's keys
            warnings.simplefilter("ignore", DeprecationWarning)
            return MicrosoftProvider(
                redis_url=url, key_prefix=f"bench-v1-{MICROSOFT}", key_format="legacy", max_messages=MAX_MESSAGES
            )

    return {OURS: ours, MICROSOFT: microsoft}


def _why_not_1x() -> str:
    """Why this interpreter cannot run the comparison ('' when it can)."""
    try:
        import agent_framework
    except ImportError:
        return "this Python has no Agent Framework"
    if hasattr(agent_framework, "ChatMessage") or not hasattr(agent_framework, "HistoryProvider"):
        return "this Python has the lab's Agent Framework, not 1.x"
    try:
        import agent_framework_redis  # noqa: F401
    except ImportError:
        return "agent-framework-redis (Microsoft's 1.x provider) is not installed in .venv-v1"
    return ""


async def measure(admin_url: str, urls: dict[float, str], calls: int, warmup: int) -> dict[str, Any]:
    """Time ``save_messages`` of one turn for both providers at every delay; figures as JSON-ready data."""
    from agent_framework import Message

    def turn(texts: tuple[str, str]) -> list[Any]:
        return [Message(role="user", contents=[texts[0]]), Message(role="assistant", contents=[texts[1]])]

    prefill = [message for texts in turn_texts(MAX_MESSAGES // 2, seed=1) for message in turn(texts)]
    fresh = [turn(texts) for texts in turn_texts(warmup + calls, seed=2)]  # the turns add_messages saves
    factories = _factories()
    providers = {(delay, name): make(url) for delay, url in urls.items() for name, make in factories.items()}
    sessions = {key: f"thread_{uuid.uuid4()}" for key in providers}
    admin = _admin_client(admin_url)
    counters = Counters(admin)
    series = {key: Series() for key in providers}
    counts = {key: ServerCounts() for key in providers}
    try:
        for key, provider in providers.items():
            await provider.save_messages(sessions[key], prefill)
        for number, messages in enumerate(fresh):
            round_calls = {
                key: (lambda p=provider, s=sessions[key], m=messages: p.save_messages(s, m))
                for key, provider in providers.items()
            }
            if number < warmup:
                for call in round_calls.values():
                    await call()
                continue
            await measure_round(round_calls, 1, series, counts, counters, rotate=number)
        for (delay, name), provider in providers.items():
            held = await admin.llen(f"bench-v1-{name}:{sessions[(delay, name)]}")
            last = (await provider.get_messages(sessions[(delay, name)]))[-1].text
            if held != MAX_MESSAGES or last != fresh[-1][1].text:
                raise RuntimeError(f"{name} at {delay:g} ms: the thread holds {held} messages, ending {last[:40]!r}")
    finally:
        for provider in providers.values():
            await provider.aclose()
        await admin.aclose()
    figures: dict[str, dict[str, Any]] = {}
    for delay, name in providers:
        figures.setdefault(f"{delay:g}", {})[name] = {
            "series": series[(delay, name)].to_json(),
            "server": counts[(delay, name)].to_json(),
        }
    return {"delays": figures, "versions": _versions()}


def _admin_client(url: str) -> Any:
    import redis.asyncio as redis

    return redis.from_url(url, decode_responses=True)


def _versions() -> dict[str, str]:
    found = {"Python": sys.version.split()[0]}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _delay_url(text: str) -> tuple[float, str]:
    delay, _, url = text.partition("=")
    if not url:
        raise argparse.ArgumentTypeError("expected DELAY_MS=redis://host:port/db")
    return float(delay), url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.save_messages_v1", description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", required=True, help="the server itself, unproxied, for INFO")
    parser.add_argument("--url", type=_delay_url, action="append", required=True, help="DELAY_MS=URL, repeated")
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    why = _why_not_1x()
    if why:
        print(json.dumps({"not_run": why}))
        return 0
    try:
        reply = asyncio.run(measure(args.admin_url, dict(args.url), args.calls, args.warmup))
    except Exception as error:  # one line for the benchmark's report, never a traceback
        print(f"save_messages_v1: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
