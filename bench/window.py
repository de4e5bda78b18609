"""``python -m bench.window``: what a turn sends the model, and reads from Redis, as a thread grows.

The app's agent (``app.build_agent``, ``max_messages=200``) with the offline model runs one thread
for 1,000 turns against a throw-away Valkey, twice: with the window (the app's default,
``LAB11_CONTEXT_MESSAGES=40``, the offline model's own summarizer) and without it (``all``: the lab's
way). At turns 10, 100 and 1,000 it records:

- **model input**: the characters of every message the model was sent for that turn (instructions,
  summary, history, the new message);
- **Redis bytes read**: what the server sent the store during the turn, its fold after it included
  (``INFO stats`` ``total_net_output_bytes`` before and after, less what the INFO reply itself adds).

``python -m bench`` runs it and puts the table in docs/benchmarks.md; run alone, it prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import MutableSequence
from typing import Any

import redis

import app
from bench.server import valkey_server
from lab11_persistence.config import DEFAULT_CONTEXT_MESSAGES
from lab11_persistence.offline_model.lab_client import OfflineChatClient
from lab11_persistence.offline_model.reasoning import summarize_messages

CHECKPOINTS = (10, 100, 1000)
CHECKPOINTS_QUICK = (10, 30)


class MeasuringOfflineClient(OfflineChatClient):
    """The offline model, noting how many characters the last request sent it."""

    def __init__(self) -> None:
        super().__init__(chunk_delay=0)
        self.last_input_chars = 0

    def _reply_text(self, messages: MutableSequence[Any]) -> str:
        self.last_input_chars = sum(len(message.text or "") for message in messages)
        return super()._reply_text(messages)


def _output_bytes(client: redis.Redis) -> int:
    return int(client.info("stats")["total_net_output_bytes"])


def _info_overhead(client: redis.Redis) -> int:
    """What one ``INFO stats`` reply adds to the counter (it counts the reply of the first call)."""
    first = _output_bytes(client)
    return _output_bytes(client) - first


def _prompt(turn: int) -> str:
    if turn == 1:
        return "My name is Ana and I'm planning a trip to Lisbon in May; my budget is 900 euros."
    return f"Day {turn}: I'd like a museum in the morning and a long lunch by the river. Any ideas?"


async def _run(
    url: str, probe: redis.Redis, window: int | None, checkpoints: tuple[int, ...]
) -> dict[int, tuple[int, int]]:
    model = MeasuringOfflineClient()
    summarizer = summarize_messages if window else None
    agent = app.build_agent(url, model, context_messages=window, summarizer=summarizer)
    thread, store = app.create_thread(agent)
    overhead = _info_overhead(probe)
    figures: dict[int, tuple[int, int]] = {}
    try:
        for turn in range(1, max(checkpoints) + 1):
            before = _output_bytes(probe)
            await agent.run(_prompt(turn), thread=thread)
            if store.window is not None:
                await store.window.settle()  # the fold after the turn belongs to the turn's cost
            read = _output_bytes(probe) - before - overhead
            if turn in checkpoints:
                figures[turn] = (model.last_input_chars, read)
    finally:
        await store.aclose()
    return figures


def measure(quick: bool = False) -> list[dict[str, Any]]:
    """One row per checkpoint: model input and Redis bytes read, with and without the window."""
    checkpoints = CHECKPOINTS_QUICK if quick else CHECKPOINTS
    with valkey_server() as server:
        probe = server.client()
        with_window = asyncio.run(_run(server.url, probe, DEFAULT_CONTEXT_MESSAGES, checkpoints))
        probe.flushall()
        without = asyncio.run(_run(server.url, probe, None, checkpoints))
        probe.close()
    return [
        {
            "turn": turn,
            "window_chars": with_window[turn][0],
            "window_bytes": with_window[turn][1],
            "all_chars": without[turn][0],
            "all_bytes": without[turn][1],
        }
        for turn in checkpoints
    ]


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"| turn | model input, window of {DEFAULT_CONTEXT_MESSAGES} + summary | model input, every message (the lab) "
        "| Redis bytes read, window | Redis bytes read, every message |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['turn']:,} | {row['window_chars']:,} chars | {row['all_chars']:,} chars "
            f"| {row['window_bytes']:,} B | {row['all_bytes']:,} B |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.window", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="turns 10 and 30 only")
    args = parser.parse_args(argv)
    print(table(measure(args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
