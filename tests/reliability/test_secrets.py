"""Scenario 6: a recognisable Redis password and API key never leave where they belong.

The whole flow runs against a password-protected valkey-server and a loopback
OpenAI-compatible server: chat, peek, load, a fresh thread, a failed model call,
Redis stopped and back, exit; then a start with Redis down. Afterwards everything
printed or logged, every file written, every key and value in Redis, the thread
snapshot and the store's serialized state are searched for both secrets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from agent_framework import AgentThread

from redis_chat_message_store import RedisChatMessageStore
from tests.reliability.settings import record_figure
from tests.support.app_driver import LabApp, TurnNotSaved, app_env, has_traceback
from tests.support.model_server import ModelServer
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.faults

REDIS_PASSWORD = "rpw-Kx7Q2-LEAKCANARY-redis"
API_KEY = "sk-LEAKCANARY-apikey-9d8c7b6a5f"
SECRETS = (REDIS_PASSWORD, API_KEY)


def _forms(secret: str) -> list[str]:
    """The secret as it is, URL-quoted, and JSON-escaped (any of them would be a leak)."""
    return sorted({secret, quote(secret, safe=""), json.dumps(secret)[1:-1]})


def _leaks(where: str, text: str) -> list[str]:
    return [f"{where}: {form}" for secret in SECRETS for form in _forms(secret) if form in text]


def _everything_in_redis(client: redis.Redis) -> str:
    parts: list[str] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        parts.append(key)
        if kind == "list":
            parts += client.lrange(key, 0, -1)
        elif kind == "zset":
            parts += [f"{member} {score}" for member, score in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "string":
            parts.append(client.get(key) or "")
        elif kind == "hash":
            parts += [f"{field} {value}" for field, value in client.hgetall(key).items()]
        elif kind == "set":
            parts += list(client.smembers(key))
    return "\n".join(parts)


def _files_under(root: Path) -> dict[str, str]:
    return {
        str(path): path.read_bytes().decode(errors="replace")
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
    }


@pytest.fixture
def secret_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = ValkeyProcess(tmp_path / "valkey", password=REDIS_PASSWORD).start()
    yield server
    server.kill()


def _flow(app: LabApp, server: ValkeyProcess, model: ModelServer) -> str:
    """Every menu action, a model failure and a Redis outage; returns the thread's key."""
    key = app.menu()
    app.say("Hi, my name is Ada and I want to go to Lisbon.")
    app.say("What is my name?")
    app.send("2")
    app.menu()
    app.send("3")
    app.expect(r"Load which thread\? \(1-\d+, Enter to go back\): ")
    app.send("1")
    app.menu()
    app.send("4")
    app.menu()
    model.fail_next()
    app.send("1")
    app.expect_exact("You: ")
    app.send("this call will fail")
    app.expect_exact("failed")
    app.menu()
    server.stop()
    app.send("2")
    app.expect_exact("Redis is unavailable")
    app.menu()
    server.start()
    for _ in range(3):
        try:
            app.say("Back again: I like seafood.")
            break
        except TurnNotSaved:
            continue
    app.send("0")
    assert app.finish() == 0, app.transcript[-2000:]
    return key


async def test_neither_secret_appears_anywhere_after_the_whole_flow(
    tmp_path: Path, secret_server: ValkeyProcess, model_server: ModelServer
) -> None:
    env = app_env(
        tmp_path / "home",
        tmp_path / "unused-data",
        REDIS_URL=secret_server.url,
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=model_server.openai_base_url,
        OPENAI_CHAT_MODEL_ID="leak-test-model",
    )
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    app = LabApp(env, workdir)
    try:
        key = _flow(app, secret_server, model_server)
    finally:
        app.kill()
    transcripts = [app.transcript]

    secret_server.stop()  # a start with Redis down must name host and port, not the password
    down = LabApp(env, workdir)
    try:
        status = down.finish()
    finally:
        down.kill()
    transcripts.append(down.transcript)
    secret_server.start()

    store = RedisChatMessageStore(secret_server.url, thread_id=key.split(":", 1)[1], key_prefix="lab11")
    snapshot = json.dumps(await AgentThread(message_store=store).serialize())
    state = store.current_state().model_dump_json()
    history = [message.text for message in await store.list_messages()]
    await store.aclose()
    with secret_server.client() as client:
        stored = _everything_in_redis(client)

    leaks = [leak for text in transcripts for leak in _leaks("screen", text)]
    leaks += _leaks("thread snapshot", snapshot) + _leaks("store state", state) + _leaks("repr", repr(store))
    leaks += _leaks("redis", stored)
    leaks += _leaks("model request bodies", json.dumps([request.body for request in model_server.requests]))
    for path, text in _files_under(tmp_path).items():
        leaks += _leaks(path, text)
    record_figure(
        "secrets",
        f"{len(transcripts)} app runs, {len(model_server.requests)} model requests, {len(stored):,} bytes of Redis "
        f"keys and values, {len(_files_under(tmp_path))} files, snapshot and state searched: {len(leaks)} leaks",
    )

    assert status != 0 and re.search(r"127\.0\.0\.1:\d+", down.transcript), down.transcript
    assert any(
        "Authorization" in request.headers or "authorization" in request.headers for request in model_server.requests
    )
    assert history[:2] == ["Hi, my name is Ada and I want to go to Lisbon.", history[1]] and len(history) >= 4
    assert not any(has_traceback(text) for text in transcripts)
    assert leaks == []
