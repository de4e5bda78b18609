"""Replica confirmation on a real primary with one replica: WAIT after the turn's MULTI/EXEC, one round trip."""

from __future__ import annotations

import json
import time

import pytest
import redis.asyncio as redis

from lab11_persistence.redis_history.confirmation import ReplicaConfirmationError, execute_confirmed
from tests.support.sentinel import SentinelDeployment

pytestmark = pytest.mark.sentinel

SHORT_WAIT_MS = 200


def turn(key: str, number: int) -> list[tuple[str, ...]]:
    """One turn's transaction as the store sends it: the messages pushed, a token beside them."""
    message = json.dumps({"role": "user", "text": f"turn {number}"})
    return [("RPUSH", key, message), ("SET", f"{key}:token", f"token-{number}", "EX", "60")]


async def test_a_turn_that_a_replica_holds_is_confirmed(primary: redis.Redis, thread_key: str) -> None:
    result = await execute_confirmed(primary, turn(thread_key, 1), min_replicas=1, timeout_ms=2000)

    assert result.confirmed and result.replicas == 1
    assert result.replies[0] == 1  # RPUSH's reply: the list's length


async def test_the_turn_and_its_wait_go_in_one_round_trip(
    primary: redis.Redis, thread_key: str, socket_writes: list[tuple[int, list[str]]]
) -> None:
    await primary.ping()  # the connection's handshake is not the turn's
    socket_writes.clear()

    await execute_confirmed(primary, turn(thread_key, 1), min_replicas=1, timeout_ms=2000)

    assert [commands for _port, commands in socket_writes] == [["MULTI", "RPUSH", "SET", "EXEC", "WAIT"]]


async def test_a_paused_replica_does_not_confirm_a_turn(
    sentinel: SentinelDeployment, primary: redis.Redis, thread_key: str
) -> None:
    await primary.ping()
    sentinel.replica.pause()
    started = time.monotonic()

    result = await execute_confirmed(primary, turn(thread_key, 1), min_replicas=1, timeout_ms=SHORT_WAIT_MS)

    assert (result.confirmed, result.replicas) == (False, 0)
    assert time.monotonic() - started >= SHORT_WAIT_MS / 1000  # it waited for the replica, then gave up
    assert result.replies[0] == 1  # the turn itself ran on the primary


async def test_wait_inside_multi_counts_a_paused_replica_as_holding_the_turn(
    sentinel: SentinelDeployment, primary: redis.Redis, thread_key: str
) -> None:
    """Why the WAIT goes after EXEC: inside a transaction it cannot block and measures the connection's
    earlier writes, so on a fresh connection it reports a replica that cannot have read the turn."""
    sentinel.replica.pause()
    async with primary.pipeline(transaction=True) as pipe:
        pipe.rpush(thread_key, "turn 1")
        pipe.execute_command("WAIT", 1, SHORT_WAIT_MS)
        started = time.monotonic()
        _length, replicas = await pipe.execute()

    assert replicas == 1
    assert time.monotonic() - started < SHORT_WAIT_MS / 1000  # it did not wait at all


async def test_a_short_confirmation_raises_an_error_naming_k_of_n_replicas(
    sentinel: SentinelDeployment, primary: redis.Redis, thread_key: str
) -> None:
    sentinel.replica.pause()
    result = await execute_confirmed(primary, turn(thread_key, 1), min_replicas=1, timeout_ms=SHORT_WAIT_MS)

    with pytest.raises(ReplicaConfirmationError) as raised:
        result.check()

    assert "saved on the primary but confirmed by 0 of 1 replica in time" in str(raised.value)
    assert raised.value.replies == result.replies


async def test_on_disk_confirmation_waits_for_the_replicas_fsync(primary: redis.Redis, thread_key: str) -> None:
    started = time.monotonic()

    result = await execute_confirmed(primary, turn(thread_key, 1), min_replicas=1, timeout_ms=3000, on_disk=True)

    assert result.confirmed and result.replicas == 1
    print(f"WAITAOF 0 1 confirmed after {time.monotonic() - started:.2f}s")  # the docs' figure


async def test_an_error_inside_exec_is_returned_and_the_rest_of_the_transaction_ran(
    primary: redis.Redis, thread_key: str
) -> None:
    await primary.set(thread_key, "not a list")

    result = await execute_confirmed(
        primary, [("RPUSH", thread_key, "x"), ("SET", f"{thread_key}:token", "t")], min_replicas=1, timeout_ms=2000
    )

    assert isinstance(result.replies[0], redis.ResponseError) and "WRONGTYPE" in str(result.replies[0])
    assert await primary.get(f"{thread_key}:token") == "t"


async def test_a_command_the_server_refuses_to_queue_raises_and_nothing_runs(
    primary: redis.Redis, thread_key: str
) -> None:
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        await execute_confirmed(
            primary, [("SET", f"{thread_key}:token", "t"), ("RPUSH", thread_key)], min_replicas=1, timeout_ms=2000
        )

    assert await primary.exists(f"{thread_key}:token") == 0


async def test_without_min_replicas_no_wait_is_sent(
    primary: redis.Redis, thread_key: str, socket_writes: list[tuple[int, list[str]]]
) -> None:
    await primary.ping()
    socket_writes.clear()

    result = await execute_confirmed(primary, turn(thread_key, 1), min_replicas=0, timeout_ms=2000)

    assert result.confirmed
    assert [commands for _port, commands in socket_writes] == [["MULTI", "RPUSH", "SET", "EXEC"]]
