"""Child processes for the concurrency scenario: writers that append turns, a reader that watches.

Run as ``python workers.py writer URL THREAD WRITER TURNS MAX`` or
``python workers.py reader URL KEY LIMIT SECONDS``. Each waits for the key ``GO_KEY``
so that all of them start together, and stops on its own within a bounded time.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import redis

GO_KEY = "reliability:go"
READY_KEY = "reliability:ready"
DONE_KEY = "reliability:done"
START_TIMEOUT_SECONDS = 60.0


def turn_texts(writer: int, turn: int) -> tuple[str, str]:
    """The user and assistant text of one turn: who wrote it and in which order."""
    return f"w{writer}:t{turn:04d}:user", f"w{writer}:t{turn:04d}:assistant"


def _wait_for_go(client: redis.Redis) -> None:
    client.incr(READY_KEY)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not client.exists(GO_KEY):
        if time.monotonic() > deadline:
            raise SystemExit("never told to start")
        time.sleep(0.005)


async def _write(url: str, thread_id: str, writer: int, turns: int, max_messages: int | None) -> None:
    from agent_framework import ChatMessage

    from redis_chat_message_store import RedisChatMessageStore

    store = RedisChatMessageStore(redis_url=url, thread_id=thread_id, key_prefix="lab11", max_messages=max_messages)
    with redis.Redis.from_url(url) as control:
        _wait_for_go(control)
    try:
        for turn in range(turns):
            user, assistant = turn_texts(writer, turn)
            await store.add_messages(
                [ChatMessage(role="user", text=user), ChatMessage(role="assistant", text=assistant)]
            )
    finally:
        await store.aclose()


def _read(url: str, key: str, seconds: float) -> dict[str, int]:
    """Poll LLEN and LRANGE until the writers are done; report the largest list seen and any torn turn."""
    stats = {"polls": 0, "max_llen": 0, "max_lrange": 0, "torn_turns": 0, "out_of_order": 0}
    with redis.Redis.from_url(url, decode_responses=True) as client:
        _wait_for_go(client)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            done = client.exists(DONE_KEY)
            stats["max_llen"] = max(stats["max_llen"], int(client.llen(key)))
            texts = [json.loads(raw)["contents"][0]["text"] for raw in client.lrange(key, 0, -1)]
            stats["max_lrange"] = max(stats["max_lrange"], len(texts))
            stats["torn_turns"] += _torn_turns(texts)
            stats["out_of_order"] += _out_of_order(texts)
            stats["polls"] += 1
            if done:
                break
    return stats


def _torn_turns(texts: list[str]) -> int:
    """User entries not directly followed by their own reply (a turn saved in halves)."""
    torn = 0
    for index, text in enumerate(texts):
        if text.endswith(":user"):
            partner = text[: -len("user")] + "assistant"
            if index + 1 >= len(texts) or texts[index + 1] != partner:
                torn += 1
        elif index == 0 or texts[index - 1] != text[: -len("assistant")] + "user":
            torn += 1
    return torn


def _out_of_order(texts: list[str]) -> int:
    """Entries that come before an earlier entry of the same writer."""
    last: dict[str, tuple[str, bool]] = {}
    wrong = 0
    for text in texts:
        writer, turn, role = text.split(":")
        position = (turn, role == "assistant")
        if writer in last and position <= last[writer]:
            wrong += 1
        last[writer] = position
    return wrong


def main(argv: list[str]) -> None:
    role, url = argv[0], argv[1]
    if role == "writer":
        thread_id, writer, turns, limit = argv[2], int(argv[3]), int(argv[4]), int(argv[5])
        asyncio.run(_write(url, thread_id, writer, turns, limit or None))
    elif role == "reader":
        print(json.dumps(_read(url, argv[2], float(argv[3]))))
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
