"""What the store keeps of a thread, whatever it is configured with: stated once, checked over configurations.

Every combination of ``max_messages`` (None, 1, 4, 200), ``context_messages`` (None, 0, 1, 4), a summarizer
(none, one that works, one that fails), the key layout (the lab's, Microsoft's scoped) and one or two stores
writing the same thread, with turns of one to three messages. After every turn, and once every summary has
landed:

- the list is the newest part of what was written, in the order it was written;
- nothing left the list that no summary covers;
- the list is never longer than ``max_messages`` plus the messages no summary covers yet;
- whenever nothing is summarized (no window, or no summarizer), the list is exactly what the lab's LTRIM keeps.

On fakeredis and on a real Valkey (one server for the module, a key prefix per example).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from agent_framework import ChatMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from lab11_persistence.redis_history.message_json import decode_entry, message_text
from lab11_persistence.redis_history.summary import Summary
from redis_chat_message_store import RedisChatMessageStore
from tests.support.valkey import ValkeyProcess

SEPARATOR = "|"
EXAMPLES = settings(max_examples=100, deadline=None)


async def _working_summarizer(previous: str | None, messages: Sequence[dict[str, Any]]) -> str:
    """A summary that lists the texts it folded, oldest first, so a test can read what it covers."""
    return SEPARATOR.join([*([previous] if previous else []), *(message_text(message) for message in messages)])


async def _failing_summarizer(previous: str | None, messages: Sequence[dict[str, Any]]) -> str:
    raise RuntimeError("the summarizing model is down")


SUMMARIZERS = {"none": None, "working": _working_summarizer, "failing": _failing_summarizer}


@dataclass(frozen=True)
class Configuration:
    max_messages: int | None
    context_messages: int | None
    summarizer: str
    scoped: bool
    writers: int

    @property
    def summarizes(self) -> bool:
        """Whether messages leave the list through a summary rather than the lab's LTRIM."""
        return bool(self.context_messages) and self.summarizer != "none"

    def store(self, thread_id: str, key_prefix: str, connection: dict[str, Any]) -> RedisChatMessageStore:
        scope = {"application_id": "app", "tenant_id": "acme"} if self.scoped else {}
        return RedisChatMessageStore(
            thread_id=thread_id,
            key_prefix=key_prefix,
            max_messages=self.max_messages,
            context_messages=self.context_messages,
            summarizer=SUMMARIZERS[self.summarizer],
            **connection,
            **scope,
        )


configurations = st.builds(
    Configuration,
    max_messages=st.sampled_from([None, 1, 4, 200]),
    context_messages=st.sampled_from([None, 0, 1, 4]),
    summarizer=st.sampled_from(list(SUMMARIZERS)),
    scoped=st.booleans(),
    writers=st.sampled_from([1, 2]),
)
#: Each turn: which writer (taken modulo the number of writers) and how many messages.
turns = st.lists(st.tuples(st.integers(0, 1), st.integers(1, 3)), min_size=1, max_size=12)


@dataclass
class Observed:
    listed: list[str]
    summary: Summary | None

    @property
    def covers(self) -> int:
        return self.summary.covers if self.summary else 0


async def _observe(store: RedisChatMessageStore) -> Observed:
    async with store.history.client.pipeline(transaction=True) as pipe:  # one moment: a fold may land meanwhile
        pipe.lrange(store.redis_key, 0, -1)
        pipe.get(store.history.summary_key(store.thread_id))
        entries, raw_summary = await pipe.execute()
    return Observed([message_text(decode_entry(entry)) for entry in entries], Summary.parse(raw_summary))


def _check_always(config: Configuration, written: list[str], seen: Observed) -> None:
    listed = seen.listed
    assert listed == written[len(written) - len(listed) :], "the list is the newest part of what was written, in order"
    if config.summarizes:
        assert len(written) - len(listed) <= seen.covers, "nothing left the list that no summary covers"
        if config.max_messages is not None:
            assert len(listed) <= config.max_messages + (len(written) - seen.covers)
    else:
        kept = written[-config.max_messages :] if config.max_messages else written
        assert listed == kept, "with nothing summarized, exactly what the lab's LTRIM keeps"
        assert seen.summary is None
    if seen.summary is not None and config.summarizer == "working":
        assert seen.summary.text.split(SEPARATOR) == written[: seen.covers], "the summary covers the oldest messages"


def _check_settled(config: Configuration, written: list[str], seen: Observed) -> None:
    _check_always(config, written, seen)
    if config.summarizes and config.summarizer == "working":
        assert seen.summary is None or len(seen.summary.text.split(SEPARATOR)) == seen.covers
        in_list = seen.summary.in_list if seen.summary else 0
        covered = written[: seen.covers]
        assert covered + seen.listed[in_list:] == written, "every message once: summarized, or still listed"
        if config.max_messages is not None:
            assert len(seen.listed) <= config.max_messages
    if config.summarizer == "failing" and config.summarizes:
        assert seen.listed == written, "a summary that cannot be written removes nothing"


async def _run(config: Configuration, plan: list[tuple[int, int]], connection: dict[str, Any]) -> None:
    key_prefix = f"inv-{uuid.uuid4().hex[:10]}"
    stores = [config.store("thread_p", key_prefix, connection) for _ in range(config.writers)]
    written: list[str] = []
    try:
        for writer, count in plan:
            store = stores[writer % config.writers]
            texts = [f"m{len(written) + offset}" for offset in range(count)]
            await store.add_messages([ChatMessage(role="user", text=text) for text in texts])
            written.extend(texts)
            _check_always(config, written, await _observe(store))
            await store.list_messages()  # a turn's read, as the agent makes it (it may fold a backlog first)
            _check_always(config, written, await _observe(store))
        for store in stores:
            if store.window is not None:
                await store.window.settle()
        _check_settled(config, written, await _observe(stores[0]))
    finally:
        for store in stores:
            await store.aclose()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyProcess]:
    """One real Valkey for the module's examples (each uses a key prefix of its own)."""
    server = ValkeyProcess(Path(tmp_path_factory.mktemp("valkey-invariants"))).start()
    yield server
    server.kill()


@EXAMPLES
@given(config=configurations, plan=turns)
@pytest.mark.fast
def test_the_invariants_hold_on_fakeredis(config: Configuration, plan: list[tuple[int, int]]) -> None:
    async def run() -> None:
        client = fakeredis.FakeAsyncRedis(decode_responses=True)
        try:
            await _run(config, plan, {"redis_client": client})
        finally:
            await client.aclose()

    asyncio.run(run())


@pytest.fixture(scope="module")
def server_url(shared_server: ValkeyProcess) -> str:
    return shared_server.url


@EXAMPLES
@given(config=configurations, plan=turns)
@pytest.mark.server
def test_the_invariants_hold_on_a_real_server(
    server_url: str, config: Configuration, plan: list[tuple[int, int]]
) -> None:
    asyncio.run(_run(config, plan, {"redis_url": server_url}))


@pytest.mark.fast
@pytest.mark.parametrize("context_messages", [None, 0])
async def test_a_summarizer_without_a_window_leaves_the_trim_to_max_messages(
    fake_redis: fakeredis.FakeAsyncRedis, context_messages: int | None
) -> None:
    """``LAB11_CONTEXT_MESSAGES=all``: the app still passes its summarizer, and the lab's LTRIM must still run."""
    store = RedisChatMessageStore(
        redis_client=fake_redis,
        thread_id="thread_all",
        key_prefix="lab11",
        max_messages=4,
        context_messages=context_messages,
        summarizer=_working_summarizer,
    )
    for number in range(10):
        await store.add_messages([ChatMessage(role="user", text=f"m{number}")])
    assert [message.text for message in await store.list_messages()] == ["m6", "m7", "m8", "m9"]
    assert await fake_redis.llen("lab11:thread_all") == 4
