"""Redis Sentinel: a client for the primary the sentinels name, that follows it through a failover.

The URL is ``sentinel_url``'s (``rediss+sentinel://``: TLS to the sentinels and to the primary, on the same
``ssl_ca_certs``). Framework-free; nothing here prints.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from redis.asyncio.connection import SSLConnection
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelManagedConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lab11_persistence.redis_history.certificates import untrusted_certificate
from lab11_persistence.redis_history.sentinel_url import SentinelURL, parse_sentinel_url

__all__ = ["open_sentinel_primary"]


class _PrimaryFollowingConnection(SentinelManagedConnection):
    """A connection that asks the sentinels where the primary is every time it (re)connects.

    redis-py's own class reconnects a dropped connection, inside a command's retry, to the address it had
    (``send_packed_command`` calls ``connect_check_health``, which ``SentinelManagedConnection`` does not
    override; redis-py issue 3874): after a failover every retry knocks on the dead primary until the
    retries run out. Here that path goes through the sentinels, as a new connection does.
    """

    async def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        await self._connect_retry()  # asks the sentinels, then connect_to(address); nothing if connected

    async def connect_to(self, address: tuple[str, int]) -> None:
        self.host, self.port = address
        await super().connect_check_health(
            check_health=self.connection_pool.check_connection, retry_socket_connect=False
        )


class _PrimaryFollowingSSLConnection(_PrimaryFollowingConnection, SSLConnection):
    pass


class _Sentinels(Sentinel):
    """redis-py's sentinels, with a discovery that says in a few words why each sentinel gave no primary.

    redis-py's own error lists the repr of every sentinel's client (its whole connection pool, a thousand
    characters and more) and the exception's repr, which in redis-py 8 is only its class: a sentinel whose TLS
    certificate is not trusted read as ``network:ConnectionError``. Here each sentinel is its address and the
    error's message, and the error is raised from a certificate failure when there was one, so that the failure
    policy can tell it from a failover (``certificates.untrusted_certificate``)."""

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        reasons: list[str] = []
        untrusted: BaseException | None = None
        for position, sentinel in enumerate(self.sentinels):
            try:
                primaries = await sentinel.sentinel_masters()
            except (RedisConnectionError, RedisTimeoutError) as error:
                where = sentinel.connection_pool.connection_kwargs
                reasons.append(f"sentinel {where.get('host')}:{where.get('port')}: {error}")
                untrusted = untrusted or (error if untrusted_certificate(error) else None)
                continue
            state = primaries.get(service_name)
            if state and self.check_master_state(state, service_name):
                # the sentinel that answered is asked first next time, as redis-py does
                self.sentinels[0], self.sentinels[position] = sentinel, self.sentinels[0]
                return state["ip"], state["port"]
        why = "; ".join(reasons) if reasons else "no sentinel names one that is up"
        raise MasterNotFoundError(f"No primary found for {service_name!r} ({why})") from untrusted


def open_sentinel_primary(target: SentinelURL | str, **connection_options: Any) -> redis.Redis:
    """A client for the service's primary as the sentinels name it, with ``decode_responses=True``.

    Each connection, new or reconnecting, asks the sentinels where the primary is, so after a failover
    it goes to the promoted replica; a connection still on a demoted node is dropped on its first
    READONLY reply. ``connection_options`` (timeouts, ``retry``, ``ssl_ca_certs`` ...) apply to the
    sentinels and to the primary: give a ``retry`` with backoff to ride out the seconds a failover takes.
    """
    where = parse_sentinel_url(target) if isinstance(target, str) else target
    options = {**connection_options, "username": where.username, "password": where.password, "decode_responses": True}
    sentinels = _Sentinels(list(where.sentinels), sentinel_kwargs={**options, "ssl": where.tls})
    connection_class = _PrimaryFollowingSSLConnection if where.tls else _PrimaryFollowingConnection
    return sentinels.master_for(where.service, db=where.db, connection_class=connection_class, **options)
