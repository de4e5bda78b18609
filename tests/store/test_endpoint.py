"""``redis_history.connection.RedisEndpoint`` and ``urls``: where the threads live, said without a credential.

Pure values, and clients built but never connected: no Redis at all.
"""

from __future__ import annotations

import pytest
from redis.asyncio.cluster import RedisCluster

from lab11_persistence.redis_history.connection import RedisEndpoint, single_attempt
from lab11_persistence.redis_history.urls import describe_redis_url, url_without_credentials

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    ("url", "without"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:s3cret@cache.example:6380/2", "redis://cache.example:6380/2"),
        ("rediss://ana:s3cret@cache.example/0", "rediss://cache.example/0"),
        ("redis://ana:s3cret@[::1]:6379/0", "redis://[::1]:6379/0"),
    ],
    ids=["no credentials", "a password", "user and password, no port", "IPv6"],
)
def test_a_url_is_stored_without_its_credentials(url: str, without: str) -> None:
    assert url_without_credentials(url) == without


@pytest.mark.parametrize(
    ("url", "described"),
    [
        ("redis://:s3cret@cache.example:6380/2", "cache.example:6380/2"),
        ("redis://", "localhost:6379/0"),
        ("unix:///run/valkey.sock", "unix socket /run/valkey.sock"),
        ("redis://cache.example:port/0", "an unparsable URL"),
    ],
    ids=["host port db", "the defaults", "a unix socket", "a port that is not a number"],
)
def test_a_url_is_described_as_where_it_points(url: str, described: str) -> None:
    assert describe_redis_url(url) == described


def test_an_endpoint_needs_a_url_or_a_host_and_not_a_credential_with_a_url() -> None:
    with pytest.raises(ValueError, match="Redis needs a redis_url"):
        RedisEndpoint()
    with pytest.raises(ValueError, match=r"Give redis_url or credential_provider with host, not both\."):
        RedisEndpoint(url="redis://localhost:6379/0", credential_provider=object())


def test_an_endpoint_shows_no_password_and_redacts_it_from_errors() -> None:
    endpoint = RedisEndpoint(url="redis://ana:s3cret-pw@cache.example:6380/0")
    assert "s3cret" not in repr(endpoint)
    assert endpoint.public_url == "redis://cache.example:6380/0"
    assert endpoint.location == "cache.example:6380/0"
    assert endpoint.has_password
    assert endpoint.redact("AUTH ana s3cret-pw failed") == "AUTH *** *** failed"


def test_a_host_endpoint_is_described_by_its_host_and_tls() -> None:
    signed_in = RedisEndpoint(host="cache.example", port=10000, credential_provider=object())
    assert (signed_in.public_url, signed_in.has_password) == ("rediss://cache.example:10000/0", True)
    plain = RedisEndpoint(host="localhost", port=6379, ssl=False)
    assert (plain.public_url, plain.has_password, plain.redact("text")) == ("redis://localhost:6379/0", False, "text")


def test_another_url_keeps_the_ca_and_the_cluster_setting() -> None:
    endpoint = RedisEndpoint(url="rediss://a:1/0", ssl_ca_certs="/ca.pem", cluster=True)
    moved = endpoint.with_url("rediss://b:2/0")
    assert (moved.url, moved.ssl_ca_certs, moved.cluster) == ("rediss://b:2/0", "/ca.pem", True)
    assert endpoint.with_url("redis://b:2/0", cluster=False).cluster is False


async def test_a_client_is_opened_with_the_labs_timeouts_and_decoded_replies() -> None:
    client = RedisEndpoint(url="redis://localhost:6379/0").open()
    options = client.connection_pool.connection_kwargs
    assert (options["decode_responses"], options["socket_connect_timeout"], options["socket_timeout"]) == (
        True,
        5.0,
        15.0,
    )
    await client.aclose()


async def test_a_cluster_endpoint_opens_a_cluster_client() -> None:
    client = RedisEndpoint(url="redis://localhost:7000/0", cluster=True).open()
    assert isinstance(client, RedisCluster)
    await client.aclose()


def test_an_unusable_url_is_one_line_without_its_password() -> None:
    with pytest.raises(ValueError) as refused:
        RedisEndpoint(url="http://ana:s3cret-pw@cache.example/0").open()
    assert str(refused.value).startswith("Not a usable Redis URL (") and "s3cret-pw" not in str(refused.value)


def test_single_attempt_holds_only_inside_its_block() -> None:
    from lab11_persistence.redis_history import connection

    assert connection._ONE_ATTEMPT.get() is False
    with single_attempt():
        assert connection._ONE_ATTEMPT.get() is True
    assert connection._ONE_ATTEMPT.get() is False
