"""A TLS certificate nobody trusts, behind a sentinel URL, without a server: the discovery says which sentinel
refused and why in a few words, and the failure policy gives up at once instead of waiting out a failover that
would never make the certificate trusted. (The same on real TLS servers: test_tls_sentinel.py.)"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pytest
from redis.asyncio.sentinel import MasterNotFoundError
from redis.exceptions import ConnectionError as RedisConnectionError

from lab11_persistence.redis_history.certificates import untrusted_certificate
from lab11_persistence.redis_history.connection import RedisEndpoint, RedisUnavailableError
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.sentinel import open_sentinel_primary

pytestmark = pytest.mark.fast

URL = "rediss+sentinel://app:s3cret-pw@10.0.0.1:26379,10.0.0.2:26380/lab11"
VERIFY_FAILED = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"


def refused_certificate(port: int) -> RedisConnectionError:
    """What redis-py raises for a certificate it cannot verify: its ConnectionError, with the ssl error as context."""
    error = RedisConnectionError(f"Error 1 connecting to 10.0.0.2:{port}. {VERIFY_FAILED}.")
    error.__context__ = ssl.SSLCertVerificationError(1, VERIFY_FAILED)
    return error


def failing(error: Exception) -> Callable[[], object]:
    async def sentinel_masters() -> object:
        raise error

    return sentinel_masters


def test_a_certificate_failure_is_told_from_a_lost_connection() -> None:
    assert untrusted_certificate(ssl.SSLCertVerificationError(1, VERIFY_FAILED))
    assert untrusted_certificate(refused_certificate(26380))
    assert not untrusted_certificate(RedisConnectionError("Error 111 connecting to 10.0.0.1:26379. Refused."))
    assert not untrusted_certificate(ssl.SSLError("wrong version number"))  # a plain port: not a trust problem


async def test_the_discovery_names_each_sentinel_and_its_reason_in_a_few_words() -> None:
    client = open_sentinel_primary(URL)
    sentinels = client.connection_pool.sentinel_manager
    refused = RedisConnectionError("Error 111 connecting to 10.0.0.1:26379. Connection refused.")
    for sentinel, error in zip(sentinels.sentinels, (refused, refused_certificate(26380)), strict=True):
        sentinel.sentinel_masters = failing(error)

    with pytest.raises(MasterNotFoundError) as raised:
        await sentinels.discover_master("lab11")
    await client.aclose()

    message = str(raised.value)
    assert message == (
        "No primary found for 'lab11' (sentinel 10.0.0.1:26379: Error 111 connecting to 10.0.0.1:26379. Connection "
        f"refused.; sentinel 10.0.0.2:26380: Error 1 connecting to 10.0.0.2:26380. {VERIFY_FAILED}.)"
    )
    assert "s3cret" not in message
    assert untrusted_certificate(raised.value)  # raised from the certificate failure


async def test_a_store_behind_sentinels_gives_up_at_once_on_a_certificate_nobody_trusts() -> None:
    history = RedisHistory(object(), endpoint=RedisEndpoint(url=URL), key_prefix="lab11")  # type: ignore[arg-type]
    tries = []

    async def operation() -> None:
        tries.append(1)
        raise MasterNotFoundError("No primary found for 'lab11' (...)") from refused_certificate(26380)

    assert history.fails_over  # a lost primary is waited for, for up to 30 s; a refused certificate is not
    with pytest.raises(RedisUnavailableError, match="No primary found for 'lab11'"):
        await history.call(operation)
    assert len(tries) == 1
