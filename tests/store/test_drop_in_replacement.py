"""The store drops in where the workshop's own Lab 11 store or Microsoft's store was: the same calls.

On a real Valkey: the workshop's serialize_state/deserialize_state/redis_url, and Microsoft's
constructor and list API (agent_framework_redis.RedisChatMessageStore 1.0.0b260130), with the
errors theirs raises.
"""

from __future__ import annotations

import asyncio

import pytest
from agent_framework import ChatMessage

from redis_chat_message_store import RedisChatMessageStore, RedisStoreState
from tests.support.messages import texts_of
from tests.support.valkey import ValkeyProcess


def _message(text: str, role: str = "user") -> ChatMessage:
    return ChatMessage(role=role, text=text)


@pytest.fixture
async def store(redis_server: ValkeyProcess):  # type: ignore[no-untyped-def]
    store = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_a", key_prefix="lab11")
    yield store
    await store.aclose()


# -- the workshop's own calls --------------------------------------------------------------


@pytest.mark.server
async def test_serialize_state_is_awaited_and_returns_the_state_as_a_dict(store: RedisChatMessageStore) -> None:
    state = await store.serialize_state()
    assert isinstance(state, dict)
    assert RedisStoreState.model_validate(state).thread_id == "thread_a"
    assert state["key_prefix"] == "lab11"


@pytest.mark.server
async def test_deserialize_state_points_another_store_at_that_thread(
    store: RedisChatMessageStore, redis_server: ValkeyProcess
) -> None:
    await store.add_messages([_message("kept")])
    other = RedisChatMessageStore(redis_url=redis_server.url, thread_id="thread_b", key_prefix="other", max_messages=5)
    await other.deserialize_state(await store.serialize_state())
    assert (other.thread_id, other.key_prefix, other.max_messages) == ("thread_a", "lab11", None)
    assert texts_of(await other.list_messages()) == ["kept"]
    await other.aclose()


@pytest.mark.server
async def test_deserialize_state_keeps_the_stores_own_password_for_the_same_server(
    redis_server: ValkeyProcess,
) -> None:
    client = redis_server.client()
    client.execute_command("CONFIG", "SET", "requirepass", "s3cret-pw")
    url = f"redis://:s3cret-pw@127.0.0.1:{redis_server.port}/0"
    writer = RedisChatMessageStore(redis_url=url, thread_id="thread_a", key_prefix="lab11")
    await writer.add_messages([_message("behind a password")])
    state = await writer.serialize_state()
    assert "s3cret-pw" not in str(state)
    reader = RedisChatMessageStore(redis_url=url, thread_id="thread_b", key_prefix="lab11")
    await reader.deserialize_state(state)
    assert texts_of(await reader.list_messages()) == ["behind a password"]
    await writer.aclose()
    await reader.aclose()


@pytest.mark.fast
def test_redis_url_is_the_url_the_store_was_given() -> None:
    assert RedisChatMessageStore(redis_url="redis://127.0.0.1:1/0").redis_url == "redis://127.0.0.1:1/0"


# -- Microsoft's constructor --------------------------------------------------------------


@pytest.mark.fast
@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"redis_url": "redis://127.0.0.1:1/0", "credential_provider": object(), "host": "h"},
        {"credential_provider": object()},
        {"host": "h"},
    ],
    ids=["none", "url-and-provider", "provider-without-host", "host-without-provider"],
)
def test_anything_but_exactly_one_connection_source_is_a_clear_value_error(arguments: dict) -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        RedisChatMessageStore(**arguments)


@pytest.mark.server
async def test_host_port_and_ssl_connect_as_microsofts_store_does(redis_server: ValkeyProcess) -> None:
    from redis.credentials import UsernamePasswordCredentialProvider

    redis_server.client().execute_command("CONFIG", "SET", "requirepass", "s3cret-pw")
    store = RedisChatMessageStore(
        credential_provider=UsernamePasswordCredentialProvider("default", "s3cret-pw"),
        host="127.0.0.1",
        port=redis_server.port,
        ssl=False,
        thread_id="thread_a",
    )
    await store.add_messages([_message("by host")])
    assert texts_of(await store.list_messages()) == ["by host"]
    assert store.location == f"127.0.0.1:{redis_server.port}/0"
    await store.aclose()


@pytest.mark.server
async def test_initial_messages_are_written_into_an_empty_thread(redis_server: ValkeyProcess) -> None:
    store = RedisChatMessageStore(redis_url=redis_server.url, thread_id="t", messages=[_message("seed")])
    assert texts_of(await store.list_messages()) == ["seed"]
    await store.aclose()


@pytest.mark.server
async def test_initial_messages_leave_a_thread_with_history_alone(
    store: RedisChatMessageStore, redis_server: ValkeyProcess
) -> None:
    await store.add_messages([_message("already here")])
    seeded = RedisChatMessageStore(
        redis_url=redis_server.url, thread_id="thread_a", key_prefix="lab11", messages=[_message("seed")]
    )
    assert texts_of(await seeded.list_messages()) == ["already here"]
    await seeded.aclose()


@pytest.mark.server
async def test_stores_starting_together_with_the_same_messages_seed_the_thread_once(
    redis_server: ValkeyProcess,
) -> None:
    """Microsoft's checks the length, then pushes: racing stores seed the thread twice. WATCH makes it once."""
    seed = [_message("You are a travel planner.", role="system"), _message("Hello!", role="assistant")]
    stores = [RedisChatMessageStore(redis_url=redis_server.url, thread_id="shared", messages=seed) for _ in range(12)]
    counts = await asyncio.gather(*(store.count() for store in stores))
    assert texts_of(await stores[0].list_messages()) == ["You are a travel planner.", "Hello!"]
    assert set(counts) == {2}
    for store in stores:
        await store.aclose()


# -- Microsoft's list API ------------------------------------------------------------------


@pytest.mark.server
async def test_count_and_len_are_coroutines_that_count_the_messages(store: RedisChatMessageStore) -> None:
    await store.extend([_message("one"), _message("two")])
    assert await store.count() == 2
    assert await store.__len__() == 2


@pytest.mark.fast
def test_a_store_is_always_truthy_although_len_is_a_coroutine() -> None:
    assert bool(RedisChatMessageStore(redis_url="redis://127.0.0.1:1/0"))


@pytest.mark.server
async def test_getitem_reads_one_message_and_counts_from_the_end_when_negative(store: RedisChatMessageStore) -> None:
    await store.extend([_message("one"), _message("two"), _message("three")])
    assert (await store.getitem(0)).text == "one"
    assert (await store.getitem(-1)).text == "three"


@pytest.mark.server
async def test_getitem_past_the_end_is_an_index_error(store: RedisChatMessageStore) -> None:
    await store.append(_message("only"))
    with pytest.raises(IndexError):
        await store.getitem(5)


@pytest.mark.server
async def test_setitem_replaces_one_message_in_place(store: RedisChatMessageStore) -> None:
    await store.extend([_message("one"), _message("two")])
    await store.setitem(1, _message("deux"))
    assert texts_of(await store.list_messages()) == ["one", "deux"]


@pytest.mark.server
async def test_setitem_past_the_end_is_an_index_error(store: RedisChatMessageStore) -> None:
    await store.append(_message("only"))
    with pytest.raises(IndexError):
        await store.setitem(3, _message("nowhere"))


@pytest.mark.server
async def test_append_and_extend_add_at_the_end(store: RedisChatMessageStore) -> None:
    await store.append(_message("one"))
    await store.extend([_message("two"), _message("three")])
    assert texts_of(await store.list_messages()) == ["one", "two", "three"]


@pytest.mark.server
async def test_index_finds_the_first_equal_message(store: RedisChatMessageStore) -> None:
    await store.extend([_message("one"), _message("two"), _message("two")])
    assert await store.index(_message("two")) == 1


@pytest.mark.server
async def test_index_of_a_missing_message_is_a_value_error(store: RedisChatMessageStore) -> None:
    await store.append(_message("one"))
    with pytest.raises(ValueError, match="not found"):
        await store.index(_message("absent"))


@pytest.mark.server
async def test_remove_takes_out_the_first_equal_message(store: RedisChatMessageStore) -> None:
    await store.extend([_message("one"), _message("two"), _message("one")])
    await store.remove(_message("one"))
    assert texts_of(await store.list_messages()) == ["two", "one"]


@pytest.mark.server
async def test_remove_of_a_missing_message_is_a_value_error(store: RedisChatMessageStore) -> None:
    with pytest.raises(ValueError, match="not found"):
        await store.remove(_message("absent"))


@pytest.mark.server
async def test_ping_answers_true_when_redis_answers(store: RedisChatMessageStore) -> None:
    assert await store.ping() is True


@pytest.mark.server
async def test_ping_answers_false_instead_of_raising_when_redis_is_gone() -> None:
    store = RedisChatMessageStore(redis_url="redis://127.0.0.1:1/0")
    assert await store.ping() is False
    await store.aclose()
