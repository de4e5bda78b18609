"""Issue 24 over ``rediss://``: a sealed thread written and read through TLS (the two layers are independent:
TLS protects the wire, sealing what the server keeps)."""

from __future__ import annotations

import base64
import secrets

import pytest
from agent_framework import ChatMessage

from lab11_persistence.redis_history.sealing import is_sealed
from redis_chat_message_store import RedisChatMessageStore
from tests.support.tls import TLSRedisProcess

pytestmark = pytest.mark.faults

KEY = f"tls:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode('ascii')}"


async def test_a_sealed_thread_over_tls_reads_back_and_the_server_keeps_envelopes(tls_server: TLSRedisProcess) -> None:
    ca = str(tls_server.certificates.ca_cert)
    store = RedisChatMessageStore(
        tls_server.url, thread_id="thread_t", key_prefix="lab11", ssl_ca_certs=ca, encryption_keys=KEY
    )
    await store.add_messages([ChatMessage(role="user", text="Lisbon in May"), ChatMessage(role="assistant", text="ok")])

    assert [message.text for message in await store.list_messages()] == ["Lisbon in May", "ok"]
    await store.aclose()
    with tls_server.client() as client:
        stored = [entry.decode() for entry in client.lrange("lab11:thread_t", 0, -1)]
    assert len(stored) == 2 and all(map(is_sealed, stored)) and not [entry for entry in stored if "Lisbon" in entry]
