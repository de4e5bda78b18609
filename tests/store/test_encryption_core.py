"""Issue 24 in the core, on fakeredis: every entry and summary sealed on the way in, opened on the way out,
a missing key a configuration error, a moved entry a corrupt one, and ``rekey`` over it all.

The server-side proofs (MONITOR, a scan of every key, the commands, the app) are in
``test_encryption_on_a_server.py`` and ``tests/app/test_encrypted_app.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import fakeredis
import pytest
from agent_framework import ChatMessage

from lab11_persistence.config import load_settings
from lab11_persistence.redis_history.archive import ThreadDump, opened_dump
from lab11_persistence.redis_history.codec import EntryCodec
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.message_json import message_text
from lab11_persistence.redis_history.rekey import CURRENT, REKEYED, WOULD_REKEY, rekey_all, rekey_threads
from lab11_persistence.redis_history.sealing import Keyring, MissingKeyError, is_sealed, key_id_of
from redis_chat_message_store import RedisChatMessageStore
from tests.support.encryption_keys import key_entry

pytestmark = pytest.mark.fast

FACT = "my passport number is X1234567"


OLD, NEW = key_entry("2026-06"), key_entry("2026-12")


def store(client: Any, keys: Any, thread_id: str = "thread_a", **options: Any) -> RedisChatMessageStore:
    return RedisChatMessageStore(
        redis_client=client, key_prefix="lab11", thread_id=thread_id, encryption_keys=keys, **options
    )


async def summarize(previous: str | None, messages: list[dict[str, Any]]) -> str:
    return " | ".join([previous or "", *(message_text(message) for message in messages)])


async def texts(client: Any, keys: Any, thread_id: str = "thread_a") -> list[str]:
    return [message.text for message in await store(client, keys, thread_id).list_messages()]


async def test_every_entry_a_keyed_store_writes_is_sealed_under_the_first_key(
    fake_redis: fakeredis.FakeAsyncRedis,
) -> None:
    await store(fake_redis, [NEW, OLD]).add_messages([ChatMessage(role="user", text=FACT)])

    stored = await fake_redis.lrange("lab11:thread_a", 0, -1)
    assert stored and all(is_sealed(entry) and key_id_of(entry) == "2026-12" for entry in stored)
    assert not any("passport" in entry for entry in stored)


async def test_a_sealed_thread_reads_back_as_written(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    await store(fake_redis, NEW).add_messages(
        [ChatMessage(role="user", text=FACT), ChatMessage(role="assistant", text="ok")]
    )

    assert await texts(fake_redis, NEW) == [FACT, "ok"]


async def test_a_plaintext_thread_still_reads_and_its_new_turns_are_sealed(
    fake_redis: fakeredis.FakeAsyncRedis,
) -> None:
    await store(fake_redis, None).add_messages([ChatMessage(role="user", text="written before the keys")])
    await store(fake_redis, NEW).add_messages([ChatMessage(role="user", text="written after")])

    stored = await fake_redis.lrange("lab11:thread_a", 0, -1)
    assert [is_sealed(entry) for entry in stored] == [False, True]
    assert await texts(fake_redis, NEW) == ["written before the keys", "written after"]


async def test_an_entry_under_a_missing_key_raises_naming_the_id_and_changes_nothing(
    fake_redis: fakeredis.FakeAsyncRedis,
) -> None:
    await store(fake_redis, OLD).add_messages([ChatMessage(role="user", text=FACT)])
    before = await fake_redis.lrange("lab11:thread_a", 0, -1)

    with pytest.raises(MissingKeyError, match="'2026-06'") as raised:
        await store(fake_redis, NEW).list_messages()

    assert "lab11:thread_a" in str(raised.value) and OLD.split(":")[1] not in str(raised.value)
    assert await fake_redis.lrange("lab11:thread_a", 0, -1) == before


async def test_a_thread_read_without_any_key_names_the_missing_key(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    await store(fake_redis, NEW).add_messages([ChatMessage(role="user", text=FACT)])

    with pytest.raises(MissingKeyError, match="'2026-12'"):
        await store(fake_redis, None).list_messages()


async def test_an_entry_moved_to_another_thread_is_skipped_with_one_warning_and_kept(
    fake_redis: fakeredis.FakeAsyncRedis, caplog: pytest.LogCaptureFixture
) -> None:
    await store(fake_redis, NEW, "thread_a").add_messages([ChatMessage(role="user", text=FACT)])
    await store(fake_redis, NEW, "thread_b").add_messages([ChatMessage(role="user", text="b's own")])
    moved = (await fake_redis.lrange("lab11:thread_a", 0, -1))[0]
    await fake_redis.rpush("lab11:thread_b", moved)

    reader = store(fake_redis, NEW, "thread_b")
    with caplog.at_level(logging.WARNING):
        for _ in range(2):  # a turn reads the whole thread each time: one warning is enough
            assert [message.text for message in await reader.list_messages()] == ["b's own"]

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "lab11:thread_b" in warnings[0] and "passport" not in warnings[0]
    assert (await fake_redis.lrange("lab11:thread_b", 0, -1))[-1] == moved


async def test_the_summary_record_is_sealed_and_reaches_the_model_opened(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    keyed = store(fake_redis, NEW, context_messages=2, summarizer=summarize)
    await keyed.add_messages([ChatMessage(role="user", text=FACT), ChatMessage(role="assistant", text="noted")])
    await keyed.add_messages([ChatMessage(role="user", text="next"), ChatMessage(role="assistant", text="fine")])
    await keyed.window.settle()

    record = await fake_redis.get("{lab11:thread_a}:summary")
    assert is_sealed(record) and "passport" not in record
    messages = await store(fake_redis, NEW, context_messages=2, summarizer=summarize).list_messages()
    assert messages[0].role.value == "system" and FACT in messages[0].text


async def test_rotation_then_dropping_the_old_key_after_a_rekey(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    await store(fake_redis, OLD).add_messages([ChatMessage(role="user", text=FACT)])
    history = RedisHistory(fake_redis, key_prefix="lab11", encryption_keys=[NEW, OLD])
    assert await texts(fake_redis, [NEW, OLD]) == [FACT]  # both keys: the old entry still opens

    [result] = await rekey_threads(history, ["thread_a"])

    assert result.outcome == REKEYED
    assert await texts(fake_redis, NEW) == [FACT]  # the old key dropped from the setting
    assert all(key_id_of(entry) == "2026-12" for entry in await fake_redis.lrange("lab11:thread_a", 0, -1))


async def test_rekey_rewrites_a_mixed_thread_and_its_summary_under_the_first_key(
    fake_redis: fakeredis.FakeAsyncRedis,
) -> None:
    plain = store(fake_redis, None, context_messages=2, summarizer=summarize)
    await plain.add_messages([ChatMessage(role="user", text=FACT), ChatMessage(role="assistant", text="noted")])
    await plain.add_messages([ChatMessage(role="user", text="next"), ChatMessage(role="assistant", text="fine")])
    await plain.window.settle()
    await store(fake_redis, OLD).add_messages([ChatMessage(role="user", text="under the old key")])
    history = RedisHistory(fake_redis, key_prefix="lab11", encryption_keys=[NEW, OLD])

    [result] = await rekey_threads(history, ["thread_a"])

    stored = await fake_redis.lrange("lab11:thread_a", 0, -1)
    summary = await fake_redis.get("{lab11:thread_a}:summary")
    assert result.outcome == REKEYED and result.rewritten == len(stored) + 1
    assert {key_id_of(entry) for entry in [*stored, summary]} == {"2026-12"}
    reread = store(fake_redis, NEW, context_messages=2, summarizer=summarize)
    folded = await reread.window.fold("thread_a")  # the summary still finds the 2 entries it covers: folds 1 more
    assert folded is not None and (folded.covers, folded.in_list) == (3, 3)
    assert [message.text for message in await store(fake_redis, NEW).list_messages()][-1] == "under the old key"


async def test_a_second_rekey_finds_nothing_to_do(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    await store(fake_redis, None).add_messages([ChatMessage(role="user", text=FACT)])
    history = RedisHistory(fake_redis, key_prefix="lab11", encryption_keys=NEW)
    await rekey_threads(history, ["thread_a"])
    before = await fake_redis.lrange("lab11:thread_a", 0, -1)

    [again] = await rekey_threads(history, ["thread_a"])

    assert again.outcome == CURRENT
    assert await fake_redis.lrange("lab11:thread_a", 0, -1) == before


async def test_a_dry_run_rekey_counts_and_writes_nothing(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    await store(fake_redis, None).add_messages(
        [ChatMessage(role="user", text=FACT), ChatMessage(role="assistant", text="ok")]
    )
    history = RedisHistory(fake_redis, key_prefix="lab11", encryption_keys=NEW)

    [result] = await rekey_threads(history, ["thread_a"], dry_run=True)

    assert (result.outcome, result.rewritten) == (WOULD_REKEY, 2)
    assert not any(map(is_sealed, await fake_redis.lrange("lab11:thread_a", 0, -1)))


async def test_a_turn_written_during_a_rekey_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    other_process = fakeredis.FakeRedis(server=server, decode_responses=True)  # a writer still without keys
    await store(client, None).add_messages([ChatMessage(role="user", text=FACT)])
    history = RedisHistory(client, key_prefix="lab11", encryption_keys=NEW)
    open_or_none = EntryCodec.open_or_none
    late_turn = (
        '{"type":"chat_message","role":{"type":"role","value":"user"},"contents":[{"type":"text","text":"meanwhile"}]}'
    )

    def open_while_a_turn_lands(codec: EntryCodec, entry: str, thread_key: str) -> str | None:
        if other_process.llen("lab11:thread_a") == 1:  # once, between the rekey's WATCH and its EXEC
            other_process.rpush("lab11:thread_a", late_turn)
        return open_or_none(codec, entry, thread_key)

    monkeypatch.setattr(EntryCodec, "open_or_none", open_while_a_turn_lands)
    [result] = await rekey_threads(history, ["thread_a"])

    assert (result.outcome, result.rewritten) == (REKEYED, 2)  # done again over the thread with the turn
    assert await texts(client, NEW) == [FACT, "meanwhile"]
    assert all(map(is_sealed, await client.lrange("lab11:thread_a", 0, -1)))


async def test_rekey_leaves_an_entry_that_does_not_open_as_it_is(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    await store(fake_redis, OLD, "thread_b").add_messages([ChatMessage(role="user", text="b's")])
    moved = (await fake_redis.lrange("lab11:thread_b", 0, -1))[0]
    await store(fake_redis, None).add_messages([ChatMessage(role="user", text=FACT)])
    await fake_redis.rpush("lab11:thread_a", moved)
    history = RedisHistory(fake_redis, key_prefix="lab11", encryption_keys=[NEW, OLD])

    [result] = await rekey_threads(history, ["thread_a"])

    stored = await fake_redis.lrange("lab11:thread_a", 0, -1)
    assert (result.rewritten, result.unreadable) == (1, 1)
    assert stored[1] == moved and key_id_of(stored[0]) == "2026-12"


async def test_rekey_all_pages_the_recency_index_and_visits_every_thread(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    for number in range(7):
        await store(fake_redis, None, f"thread_{number}").add_messages([ChatMessage(role="user", text=f"t{number}")])
    await fake_redis.zadd("lab11.recent-threads", {"thread_5": 1.0, "thread_6": 1.0})  # the same instant
    history = RedisHistory(fake_redis, key_prefix="lab11", encryption_keys=NEW)

    seen = [result.thread_id async for page in rekey_all(history, page_size=2) for result in page]

    assert sorted(seen) == [f"thread_{number}" for number in range(7)]
    for number in range(7):
        assert all(map(is_sealed, await fake_redis.lrange(f"lab11:thread_{number}", 0, -1)))


async def test_the_listing_shows_a_sealed_threads_first_words(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    await store(fake_redis, NEW).add_messages([ChatMessage(role="user", text=FACT)])
    history = RedisHistory(fake_redis, key_prefix="lab11", encryption_keys=NEW)

    [thread] = await history.list_threads(10)

    assert thread.preview == FACT


async def test_a_decrypted_export_opens_entries_and_summary(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    history = RedisHistory(fake_redis, key_prefix="lab11", encryption_keys=NEW)
    key = history.key("thread_a")
    sealed = ThreadDump("thread_a", key, history.sealed("thread_a", ['{"role":"user","text":"hi"}']), None, None)

    assert opened_dump(history, sealed).entries == ['{"role":"user","text":"hi"}']


def test_an_import_reseals_for_another_key_and_keeps_a_sealed_entry_for_its_own() -> None:
    history = RedisHistory(fakeredis.FakeAsyncRedis(decode_responses=True), key_prefix="lab11", encryption_keys=NEW)
    codec = history.codec
    entry = codec.seal_one('{"role":"user","text":"hi"}', "old:thread_a")

    moved = codec.reseal(entry, "old:thread_a", "lab11:thread_a")

    assert codec.reseal(entry, "old:thread_a", "old:thread_a") == entry
    assert codec.open(moved, "lab11:thread_a") == '{"role":"user","text":"hi"}'
    assert is_sealed(codec.reseal('{"role":"user","text":"hi"}', "lab11:thread_a", "lab11:thread_a"))


def test_the_keys_never_reach_a_repr_or_a_state(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    keyed = store(fake_redis, NEW)
    shown = [repr(keyed), repr(keyed.history.codec), repr(keyed.current_state())]
    shown.append(repr(load_settings({"LAB11_ENCRYPTION_KEYS": NEW, "LAB11_ENV_FILE": "none"})))

    assert not any(NEW.split(":")[1] in text for text in shown)
    assert "2026-12" in shown[-1]


def test_the_setting_is_read_into_its_keys_the_first_one_first() -> None:
    settings = load_settings({"LAB11_ENCRYPTION_KEYS": f" {NEW} , {OLD} ", "LAB11_ENV_FILE": "none"})

    assert [key_id for key_id, _ in settings.encryption_keys] == ["2026-12", "2026-06"]
    assert Keyring(settings.encryption_keys).sealing_key_id == "2026-12"
    assert not settings.problems


@pytest.mark.parametrize(
    "value",
    ["not-an-entry", "k1:" + "A" * 20, f"{NEW},{NEW}", "bad id!:" + NEW.split(":")[1]],
    ids=["not ID:KEY", "short key", "repeated id", "bad id"],
)
def test_a_malformed_setting_is_one_problem_naming_it_without_key_material(value: str) -> None:
    settings = load_settings({"LAB11_ENCRYPTION_KEYS": value, "LAB11_ENV_FILE": "none"})

    [problem] = settings.problems
    assert "LAB11_ENCRYPTION_KEYS" in problem and "\n" not in problem
    assert NEW.split(":")[1] not in problem and "A" * 20 not in problem
    assert settings.encryption_keys == ()


async def test_a_store_rebuilt_from_its_snapshot_with_the_keys_reads_the_sealed_thread(
    fake_redis: fakeredis.FakeAsyncRedis,
) -> None:
    keyed = store(fake_redis, NEW)
    await keyed.add_messages([ChatMessage(role="user", text=FACT)])
    snapshot = dict(await keyed.serialize())

    rebuilt = await RedisChatMessageStore.deserialize(snapshot, redis_client=fake_redis, encryption_keys=NEW)

    assert [message.text for message in await rebuilt.list_messages()] == [FACT]
    assert NEW.split(":")[1] not in repr(snapshot)


def test_a_key_echoed_in_an_error_is_redacted() -> None:
    settings = load_settings({"LAB11_ENCRYPTION_KEYS": NEW, "LAB11_ENV_FILE": "none"})
    key_text = NEW.split(":")[1]

    assert key_text not in settings.redact(f"something echoed {key_text} and {key_text.rstrip('=')}")


async def test_rekey_leaves_a_key_that_is_not_a_thread_alone(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    await fake_redis.set("lab11:thread_s", "someone else's string")
    history = RedisHistory(fake_redis, key_prefix="lab11", encryption_keys=NEW)

    [result] = await rekey_threads(history, ["thread_s"])

    assert result.outcome == "gone"
    assert await fake_redis.get("lab11:thread_s") == "someone else's string"


def test_a_sibling_and_another_layout_of_a_history_keep_its_keys(fake_redis: fakeredis.FakeAsyncRedis) -> None:
    history = RedisHistory(fake_redis, key_prefix="lab11", encryption_keys=NEW)

    for other in (history.sibling(), history.with_settings(key_prefix="lab11", application_id="app")):
        assert other.codec.keyring is history.codec.keyring
    assert "encryption_keys" not in history.settings  # what it was built with, shown: never a key
