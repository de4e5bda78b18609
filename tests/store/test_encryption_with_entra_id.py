"""Issue 24 with Microsoft Entra ID sign-in (on loopback, tests/support/entra.py): the store signs in with a
token, seals what it writes under LAB11_ENCRYPTION_KEYS from the same settings, and reads it back after the
token rotates."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
from agent_framework import ChatMessage

from lab11_persistence import config
from lab11_persistence.redis_history.sealing import Keyring, is_sealed
from lab11_persistence.server import entra_id
from redis_chat_message_store import RedisChatMessageStore
from tests.support.entra import EntraSignIn
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.server

KEY = f"entra:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode('ascii')}"


async def test_a_store_signed_in_with_entra_id_seals_its_turns_and_reads_them_after_a_rotation(
    redis_server: ValkeyProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entra = EntraSignIn(redis_server, tmp_path / "entra")
    for name, value in entra.az_environment().items():  # DefaultAzureCredential through the fake `az`
        if name != "PYTHONPATH":
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(entra_id, "_credential", None)
    monkeypatch.setattr(entra_id, "_shared_provider", None)
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    settings = config.load_settings(
        {"REDIS_URL": url, "REDIS_ENTRA_ID": "1", "LAB11_ENCRYPTION_KEYS": KEY}, read_dotenv=False
    )
    assert settings.problems == ()
    connection = entra_id.store_connection(settings, url)
    keys = Keyring(settings.encryption_keys)
    store = RedisChatMessageStore(thread_id="thread_e", key_prefix="lab11", encryption_keys=keys, **connection)

    await store.add_messages([ChatMessage(role="user", text="Lisbon in May")])
    entra.rotate()
    await store.add_messages([ChatMessage(role="assistant", text="ok")])

    assert [message.text for message in await store.list_messages()] == ["Lisbon in May", "ok"]
    stored = await store.history.entries("thread_e")
    assert all(map(is_sealed, stored)) and not [entry for entry in stored if "Lisbon" in entry]
    await store.aclose()
