"""Issue 24 on Agent Framework 1.x: RedisHistoryProvider(encryption_keys=...) on a real Valkey, in both key
layouts, and a thread the lab's release sealed continued here. Runs in .venv-v1; skipped on the lab's release."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import agent_framework
import pytest

if hasattr(agent_framework, "ChatMessage"):  # the lab's release: these tests run in the 1.x environment
    pytest.skip("needs Agent Framework 1.x (.venv-v1)", allow_module_level=True)

from agent_framework import Message

from lab11_persistence.redis_history.sealing import Keyring, MissingKeyError, is_sealed, key_id_of
from lab11_persistence.v1.history_provider import RedisHistoryProvider
from tests.support.app_driver import APP, LabApp, app_env, assert_clean, embedded_redis, stop_embedded_server
from tests.support.encryption_keys import key_entry
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.v1

LAB_ENTRY = (
    '{"type":"chat_message","role":{"type":"role","value":"user"},"contents":[{"type":"text",'
    '"text":"My name is Ana and I fly to Lisbon."}]}'
)


KEY = key_entry("v1-key")


@pytest.mark.parametrize("scope", [{}, {"application_id": "travel-app"}], ids=["lab layout", "scoped keys"])
async def test_the_provider_seals_what_it_saves_and_reads_it_back(redis_server: ValkeyProcess, scope: dict) -> None:
    provider = RedisHistoryProvider(redis_url=redis_server.url, key_prefix="lab11", encryption_keys=KEY, **scope)
    await provider.save_messages("thread_v", [Message("user", ["I fly to Lisbon."]), Message("assistant", ["Noted."])])

    stored = redis_server.client().lrange(provider.redis_key("thread_v"), 0, -1)
    assert len(stored) == 2 and all(key_id_of(entry) == "v1-key" for entry in stored)
    assert not [entry for entry in stored if "Lisbon" in entry]
    assert [message.text for message in await provider.get_messages("thread_v")] == ["I fly to Lisbon.", "Noted."]
    await provider.aclose()


async def test_a_thread_the_labs_release_sealed_continues_on_1x(redis_server: ValkeyProcess) -> None:
    redis_server.client().rpush("lab11:thread_l", Keyring.parse([KEY]).seal(LAB_ENTRY, "lab11:thread_l"))
    provider = RedisHistoryProvider(redis_url=redis_server.url, key_prefix="lab11", encryption_keys=[KEY])

    await provider.save_messages("thread_l", [Message("assistant", ["Lisbon in May, then."])])

    texts = [message.text for message in await provider.get_messages("thread_l")]
    assert texts == ["My name is Ana and I fly to Lisbon.", "Lisbon in May, then."]
    assert all(map(is_sealed, redis_server.client().lrange("lab11:thread_l", 0, -1)))
    await provider.aclose()


async def test_the_provider_names_a_missing_key(redis_server: ValkeyProcess) -> None:
    writer = RedisHistoryProvider(redis_url=redis_server.url, key_prefix="lab11", encryption_keys=KEY)
    await writer.save_messages("thread_m", [Message("user", ["secret plans"])])
    reader = RedisHistoryProvider(redis_url=redis_server.url, key_prefix="lab11", encryption_keys=key_entry("other"))

    with pytest.raises(MissingKeyError, match="'v1-key'"):
        await reader.get_messages("thread_m")
    await writer.aclose()
    await reader.aclose()


def test_the_app_on_1x_seals_a_fact_and_recalls_it_after_a_restart(tmp_path: Path) -> None:
    env = {**app_env(tmp_path / "home", tmp_path / "data"), "LAB11_ENCRYPTION_KEYS": KEY}
    runs: list[LabApp] = []
    try:
        first = LabApp(env, tmp_path, [sys.executable, str(APP), "--framework", "1.x"])
        runs.append(first)
        first.menu()
        key = re.search(r"Current Redis key: (lab11:thread_[0-9a-f-]+)", first.transcript)
        assert key, first.transcript
        first.say("Hi, my name is Ada and I want to go to Lisbon.")
        assert first.exit() == 0
        with embedded_redis(tmp_path / "data") as client:
            stored = client.lrange(key.group(1), 0, -1)
        assert len(stored) == 2 and all(map(is_sealed, stored))
        assert not [entry for entry in stored if "name is Ada" in entry]  # base64 holds no space; "Ada" by chance

        again = LabApp(env, tmp_path, [sys.executable, str(APP), "--framework", "1.x"])
        runs.append(again)
        again.menu()
        again.choose("3")
        again.expect(r"Load which thread\? \(1-\d+, Enter to go back\): ")
        again.choose("1")
        again.menu()
        reply = again.say("What is my name?")
        assert "Ada" in reply, reply
        assert again.exit() == 0
        assert_clean(again.transcript)
    finally:
        for app in runs:
            if app.child.isalive():
                app.kill()
        stop_embedded_server(tmp_path / "data")
