"""Where Microsoft's unit tests for ``RedisHistoryProvider`` found our provider different, it now answers the same.

Microsoft's provider (agent-framework-redis 1.0.0b261022) is installed beside ours; each case asks both.
Runs in the 1.x environment (.venv-v1); skipped on the lab's release.
"""

from __future__ import annotations

import warnings
from typing import Any

import agent_framework
import fakeredis
import pytest

if hasattr(agent_framework, "ChatMessage"):  # the lab's release: these tests run in the 1.x environment
    pytest.skip("needs Agent Framework 1.x (.venv-v1)", allow_module_level=True)

import redis.asyncio as redis
from agent_framework import Message
from agent_framework_redis import RedisHistoryProvider as MicrosoftProvider

from lab11_persistence.v1.history_provider import RedisHistoryProvider

pytestmark = pytest.mark.v1

CLIENT = redis.Redis(decode_responses=True)  # never connects: only the arguments are checked
SCOPE = {"application_id": "app", "tenant_id": "acme"}


def _both(**arguments: Any) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Microsoft's legacy layout warns
        return MicrosoftProvider(**arguments), RedisHistoryProvider(**arguments)


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"redis_url": "redis://127.0.0.1:1/0", "redis_client": CLIENT},
        {"redis_url": "redis://127.0.0.1:1/0", "credential_provider": object(), "host": "h"},
        {"credential_provider": object()},
        {"redis_client": CLIENT, "max_messages": -1},
    ],
    ids=["no-source", "url-and-client", "url-and-credential", "credential-without-host", "negative-max-messages"],
)
def test_wrong_arguments_raise_microsofts_exception_and_words(arguments: dict[str, Any]) -> None:
    with pytest.raises(Exception) as theirs, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        MicrosoftProvider(key_format="scoped", application_id="app", **arguments)
    with pytest.raises(Exception) as ours:
        RedisHistoryProvider(application_id="app", **arguments)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


def test_redis_url_is_the_public_attribute_microsofts_has() -> None:
    url = "redis://127.0.0.1:6390/0"
    theirs, ours = _both(redis_url=url, key_prefix="lab11", **SCOPE)
    assert ours.redis_url == theirs.redis_url == url


def test_without_a_session_id_the_legacy_key_is_prefix_colon_default() -> None:
    theirs, ours = _both(redis_client=CLIENT, key_prefix="lab11", key_format="legacy")
    assert ours.redis_key(None) == theirs._redis_key(None) == "lab11:default"


async def test_without_a_session_id_a_legacy_session_is_the_one_microsofts_wrote() -> None:
    client = fakeredis.FakeAsyncRedis(decode_responses=True)
    theirs, ours = _both(redis_client=client, key_prefix="lab11", key_format="legacy")
    await theirs.save_messages(None, [Message("user", ["hello"])])
    await ours.save_messages(None, [Message("assistant", ["hi"])])
    assert [message.text for message in await ours.get_messages(None)] == ["hello", "hi"]
    assert await client.keys("*") != [] and await client.llen("lab11:default") == 2
    await client.aclose()


@pytest.mark.parametrize("call", ["get_messages", "save_messages", "clear"])
async def test_without_a_session_id_scoped_keys_raise_microsofts_value_error(call: str) -> None:
    theirs, ours = _both(redis_client=fakeredis.FakeAsyncRedis(decode_responses=True), key_prefix="lab11", **SCOPE)
    arguments = [[Message("user", ["hello"])]] if call == "save_messages" else []
    with pytest.raises(ValueError) as theirs_error:
        await getattr(theirs, call)(None, *arguments)
    with pytest.raises(ValueError) as ours_error:
        await getattr(ours, call)(None, *arguments)
    assert str(ours_error.value) == str(theirs_error.value)


async def test_max_messages_zero_saves_nothing_as_microsofts_does() -> None:
    client = fakeredis.FakeAsyncRedis(decode_responses=True)
    theirs, ours = _both(redis_client=client, key_prefix="lab11", max_messages=0, **SCOPE)
    await theirs.save_messages("s1", [Message("user", ["hello"])])
    await ours.save_messages("s1", [Message("user", ["hello"])])
    assert await client.keys("*") == []
    await client.aclose()
