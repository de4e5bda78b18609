"""The held connection behind a confirmed rekey (``watched_transaction``), on fakeredis: WATCH and reads, then
MULTI/EXEC on the same connection; what it hands back to the pool is clean; a lost reply is reported, not hidden.

The WAIT after EXEC needs a real primary with a replica: tests/sentinel/test_confirmed_rekey.py.
"""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, WatchError

from lab11_persistence.redis_history.confirmation import ReplicaConfirmation
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.rekey import REKEYED, rekey_threads
from lab11_persistence.redis_history.sealing import is_sealed
from lab11_persistence.redis_history.watched_transaction import WatchedTransaction
from tests.support.encryption_keys import key_entry
from tests.support.messages import lab_entry

pytestmark = pytest.mark.fast

NONE_NEEDED = ReplicaConfirmation(0)


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def client(server: fakeredis.FakeServer) -> fakeredis.FakeAsyncRedis:
    return fakeredis.FakeAsyncRedis(server=server, decode_responses=True)


@pytest.fixture
def other_process(server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=server, decode_responses=True)


async def test_a_commit_runs_the_commands_as_one_transaction_after_the_reads(client: fakeredis.FakeAsyncRedis) -> None:
    await client.rpush("thread", "a", "b")
    async with WatchedTransaction(client, NONE_NEEDED) as transaction:
        await transaction.watch("thread")
        entries = await transaction.read("LRANGE", "thread", 0, -1)
        done = await transaction.commit([("LSET", "thread", 0, entries[0].upper()), ("LSET", "thread", 1, "B")])

    assert done.confirmed and done.replies == ["OK", "OK"]
    assert await client.lrange("thread", 0, -1) == ["A", "B"]


async def test_a_watched_key_written_meanwhile_refuses_the_commit_and_nothing_is_written(
    client: fakeredis.FakeAsyncRedis, other_process: fakeredis.FakeRedis
) -> None:
    await client.rpush("thread", "a")
    async with WatchedTransaction(client, NONE_NEEDED) as transaction:
        await transaction.watch("thread")
        await transaction.read("LRANGE", "thread", 0, -1)
        other_process.rpush("thread", "a turn meanwhile")
        with pytest.raises(WatchError):
            await transaction.commit([("LSET", "thread", 0, "rewritten")])

    assert await client.lrange("thread", 0, -1) == ["a", "a turn meanwhile"]


async def test_leaving_without_a_commit_takes_the_watch_off_the_connection_it_hands_back(
    client: fakeredis.FakeAsyncRedis, other_process: fakeredis.FakeRedis
) -> None:
    await client.rpush("thread", "a")
    async with WatchedTransaction(client, NONE_NEEDED) as transaction:
        await transaction.watch("thread")  # and then nothing to do: no EXEC
    other_process.rpush("thread", "a turn")

    async with client.pipeline(transaction=True) as pipe:  # the pool's next user of that connection
        pipe.rpush("thread", "another turn")
        assert await pipe.execute() == [3]


async def test_a_command_the_server_refuses_to_queue_raises_and_nothing_runs(client: fakeredis.FakeAsyncRedis) -> None:
    await client.rpush("thread", "a")
    async with WatchedTransaction(client, NONE_NEEDED) as transaction:
        await transaction.watch("thread")
        with pytest.raises(ResponseError, match="wrong number of arguments"):
            await transaction.commit([("LSET", "thread", 0, "rewritten"), ("LSET", "thread")])

    assert await client.lrange("thread", 0, -1) == ["a"]
    assert await client.ping()  # the connection it handed back is in step


async def test_a_rekey_whose_reply_was_lost_is_counted_as_rekeyed_and_unconfirmed(
    client: fakeredis.FakeAsyncRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rewrite ran but its WAIT's answer went with the connection: the retry finds the thread current, and
    says it was rekeyed without a confirmation rather than "already under the first key"."""
    await client.rpush("lab11:thread_a", lab_entry("user", "My name is Ada."))
    history = RedisHistory(client, key_prefix="lab11", encryption_keys=key_entry("new"), min_replicas=1)
    commit = WatchedTransaction.commit
    lost: list[bool] = []

    async def applied_then_cut_off(transaction: WatchedTransaction, commands: Any) -> Any:
        transaction.confirmation = NONE_NEEDED  # fakeredis has no WAIT; the reply is lost anyway
        await commit(transaction, commands)
        lost.append(True)
        raise RedisConnectionError("Connection closed by server.")

    monkeypatch.setattr(WatchedTransaction, "commit", applied_then_cut_off)
    [result] = await rekey_threads(history, ["thread_a"])

    assert lost == [True]
    assert (result.outcome, result.confirmed) == (REKEYED, False)
    assert all(map(is_sealed, await client.lrange("lab11:thread_a", 0, -1)))
