"""Connecting to Redis the lab's way: where (a URL, or a host with a credential provider), with the
lab's timeouts and bounded, backed-off reconnects; and errors that never carry a password.

redis-py's ``Retry`` object, configured here once, retries a dropped connection for every command;
what it must not do on its own (resend a write whose reply was lost) is switched off with
``single_attempt()`` by the one caller that checks first (``RedisHistory.append``).
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    AuthenticationError,
    ClusterError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lab11_persistence.redis_history.certificates import untrusted_certificate
from lab11_persistence.redis_history.sentinel_url import is_sentinel_url, parse_sentinel_url
from lab11_persistence.redis_history.urls import describe_redis_url, url_without_credentials

__all__ = [
    "CLUSTER_RETRYABLE_ERRORS",
    "RedisClient",
    "RedisConnection",
    "RedisEndpoint",
    "RedisPasswordRefusedError",
    "RedisUnavailableError",
    "describe_redis_url",
    "pipeline_replies",
    "single_attempt",
    "url_without_credentials",
]

RedisClient = redis.Redis | RedisCluster

# Bounded reconnects: a restarted server or a dropped socket costs a few tries spread over about a
# second, never an endless loop.
RETRIES = 4
RETRY_BACKOFF_BASE = 0.05
RETRY_BACKOFF_CAP = 0.8
CONNECT_TIMEOUT_SECONDS = 5.0
COMMAND_TIMEOUT_SECONDS = 15.0
# What a cluster failover looks like from the client (ClusterError covers CLUSTERDOWN and MASTERDOWN).
CLUSTER_RETRYABLE_ERRORS = (RedisConnectionError, RedisTimeoutError, ClusterError, TryAgainError, SlotNotCoveredError)


class RedisUnavailableError(RuntimeError):
    """Redis could not be reached or refused us; the message names host and port, never a password."""


class RedisPasswordRefusedError(RedisUnavailableError):
    """Redis refused the credentials: unlike a lost connection, trying again will not help."""


# Set while a write transaction runs: redis-py must not resend it on its own (see RedisHistory.append).
_ONE_ATTEMPT: contextvars.ContextVar[bool] = contextvars.ContextVar("one_attempt", default=False)


@contextmanager
def single_attempt() -> Iterator[None]:
    """Inside, redis-py sends each command once and leaves retrying to the caller (who can check first)."""
    token = _ONE_ATTEMPT.set(True)
    try:
        yield
    finally:
        _ONE_ATTEMPT.reset(token)


# redis 7.2 added the predicate to call_with_retry; the 1.x environment has 7.1 (Microsoft's provider needs it).
_RETRY_TAKES_A_PREDICATE = "is_retryable" in inspect.signature(Retry.call_with_retry).parameters


class _RetryUnlessRefused(Retry):
    """Retry dropped connections with backoff, but not a refused password or certificate, nor a write sent once."""

    async def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):  # type: ignore[no-untyped-def]
        def retryable(error: Exception) -> bool:
            if _ONE_ATTEMPT.get() or isinstance(error, AuthenticationError) or untrusted_certificate(error):
                return False
            return is_retryable is None or bool(is_retryable(error))

        if _RETRY_TAKES_A_PREDICATE:
            return await super().call_with_retry(do, fail, retryable, with_failure_count)

        async def fail_or_stop(error: Exception) -> None:  # redis < 7.2: stop by raising from the failure hook
            await fail(error)
            if not retryable(error):
                raise error

        return await super().call_with_retry(do, fail_or_stop)


@dataclass(frozen=True)
class RedisEndpoint:
    """Where the threads live and how to sign in: a URL, or a host with a credential provider.

    It may hold a password or a token provider, so its repr shows neither; ``public_url`` is what
    may be stored in a snapshot.
    """

    url: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int = 6380
    ssl: bool = True
    username: str | None = field(default=None, repr=False)
    credential_provider: Any = field(default=None, repr=False)
    ssl_ca_certs: str | None = None
    cluster: bool = False

    def __post_init__(self) -> None:
        if self.url is None and self.host is None:
            raise ValueError("Redis needs a redis_url (for example redis://localhost:6379/0), or a host.")
        if self.url is not None and self.credential_provider is not None:
            raise ValueError("Give redis_url or credential_provider with host, not both.")

    @property
    def public_url(self) -> str:
        if self.url and is_sentinel_url(self.url):
            return parse_sentinel_url(self.url).public_url
        if self.url:
            return url_without_credentials(self.url)
        return f"{'rediss' if self.ssl else 'redis'}://{self.host}:{self.port}/0"

    @property
    def location(self) -> str:
        return describe_redis_url(self.public_url)

    @property
    def sentinel(self) -> bool:
        """A ``redis+sentinel://`` URL: the primary is the one the sentinels name, and it can fail over."""
        return self.url is not None and is_sentinel_url(self.url)

    @property
    def has_password(self) -> bool:
        return self.credential_provider is not None or bool(self.url and self._url_secrets()[0])

    def _url_secrets(self) -> tuple[str | None, str | None]:
        """The URL's password and user name (a sentinel URL's too: several hosts are not one netloc)."""
        if not self.url:
            return None, None
        if is_sentinel_url(self.url):
            try:
                where = parse_sentinel_url(self.url)
            except ValueError:
                return None, None
            return where.password, where.username
        parts = urlsplit(self.url)
        return parts.password, parts.username

    def redact(self, text: str) -> str:
        """Remove the URL's password and user name from text that might echo them back."""
        if self.url:
            for secret in self._url_secrets():
                if secret:
                    text = text.replace(secret, "***")
        return text

    def with_url(self, url: str | None, *, cluster: bool | None = None) -> RedisEndpoint:
        return RedisEndpoint(
            url=url,
            ssl_ca_certs=self.ssl_ca_certs,
            cluster=self.cluster if cluster is None else cluster,
        )

    def open(self) -> RedisClient:
        """A client with the lab's timeouts and bounded, backed-off reconnects."""
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": COMMAND_TIMEOUT_SECONDS,
            "retry": _RetryUnlessRefused(
                ExponentialWithJitterBackoff(base=RETRY_BACKOFF_BASE, cap=RETRY_BACKOFF_CAP), RETRIES
            ),
            "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        }
        if self.credential_provider is not None:
            options["credential_provider"] = self.credential_provider
        tls = urlsplit(self.url).scheme in ("rediss", "rediss+sentinel") if self.url else self.ssl
        if tls and self.ssl_ca_certs:
            options["ssl_ca_certs"] = self.ssl_ca_certs
        try:
            if self.url is not None and is_sentinel_url(self.url):  # the primary the sentinels name, followed
                from lab11_persistence.redis_history.sentinel import open_sentinel_primary

                return open_sentinel_primary(parse_sentinel_url(self.url), **options)
            if self.url is None:
                where = {"host": self.host, "port": self.port, "ssl": self.ssl, "username": self.username}
                return RedisCluster(**where, **options) if self.cluster else redis.Redis(**where, **options)
            if self.cluster:  # discovers every node from this one and routes each key to its slot's owner
                return RedisCluster.from_url(self.url, **options)
            return redis.from_url(self.url, **options)
        except (ValueError, RedisClusterException) as error:
            raise ValueError(f"Not a usable Redis URL ({self.redact(str(error))}).") from None


@dataclass(frozen=True)
class RedisConnection:
    """The connection arguments of Microsoft's store and provider, held in one object and handed down (as
    redis-py hands one pool's settings to every connection): exactly one source, ``redis_url``;
    ``credential_provider`` with ``host`` (Microsoft Entra ID); or ``redis_client`` (borrowed, never closed
    here), and the options of the first two.

    ``check`` refuses any other combination in the lab's words; ``check_as_microsofts_provider`` in the
    words (and for the cases) of Microsoft's 1.x ``RedisHistoryProvider``. The first six fields are in the
    order of Microsoft's signatures (the store's and the provider's), so those pass them as they take them.
    """

    redis_url: str | None = field(default=None, repr=False)
    credential_provider: Any = field(default=None, repr=False)
    host: str | None = None
    port: int = 6380
    ssl: bool = True
    username: str | None = field(default=None, repr=False)
    redis_client: Any = field(default=None, repr=False)
    ssl_ca_certs: str | None = None
    cluster: bool = False

    @classmethod
    def taken_from(cls, arguments: Mapping[str, Any]) -> tuple[RedisConnection, dict[str, Any]]:
        """The connection that keyword ``arguments`` give, and the arguments that are not the connection's."""
        names = {item.name for item in fields(cls)}
        connection = cls(**{name: value for name, value in arguments.items() if name in names})
        return connection, {name: value for name, value in arguments.items() if name not in names}

    def check(self) -> RedisConnection:
        signs_in = self.credential_provider is not None or self.host is not None
        sources = (self.redis_url is not None, signs_in, self.redis_client is not None)
        if sum(sources) != 1 or (self.credential_provider is None) != (self.host is None):
            raise ValueError(
                "Redis needs exactly one of: redis_url (for example redis://localhost:6379/0), "
                "credential_provider with host, or redis_client."
            )
        return self

    def check_as_microsofts_provider(self) -> RedisConnection:
        sources = sum(source is not None for source in (self.redis_client, self.redis_url, self.credential_provider))
        if sources == 0:
            raise ValueError("Either redis_client, redis_url, or credential_provider must be provided")
        if sources > 1:
            raise ValueError("redis_client, redis_url, and credential_provider are mutually exclusive")
        if self.credential_provider is not None and self.host is None:
            raise ValueError("host is required when using credential_provider")
        return self

    def endpoint(self) -> RedisEndpoint:
        """Where to open a client of its own (not for a borrowed ``redis_client``)."""
        if self.redis_url is not None:
            return RedisEndpoint(url=self.redis_url, ssl_ca_certs=self.ssl_ca_certs, cluster=self.cluster)
        return RedisEndpoint(
            host=self.host,
            port=self.port,
            ssl=self.ssl,
            username=self.username,
            credential_provider=self.credential_provider,
            ssl_ca_certs=self.ssl_ca_certs,
            cluster=self.cluster,
        )


async def pipeline_replies(pipe: Any) -> list[Any]:
    """A pipeline's replies, each command's own error (a key of another type, say) among them.

    An error of the connection or of the cluster is raised instead, so that a failure policy waits it out as
    it would for a single command: a cluster pipeline hands it back as one more reply.
    """
    replies = await pipe.execute(raise_on_error=False)
    for reply in replies:
        if isinstance(reply, Exception) and (
            not isinstance(reply, ResponseError) or isinstance(reply, CLUSTER_RETRYABLE_ERRORS)
        ):
            raise reply
    return list(replies)
