"""``REDIS_URL=rediss+sentinel://...`` on real TLS servers: a primary, its replica and a sentinel, each listening on
TLS alone (Debian's redis-server, the CA of tests/support/tls.py; skipped, saying how to install it, only when
redis-server is missing). The data nodes require a password (the app's user, as docs/sentinel.md has it), and so
does the app's user on the sentinel: the URL carries it, and no output shows it.

The store, the start-up check, ``lab11 threads`` / ``show`` and the app all go through the sentinel over TLS, with
the CA given as for ``rediss://`` (``ssl_ca_certs``, ``REDIS_CA_CERT``); a CA that did not sign the certificates is
one line, at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from agent_framework import ChatMessage

from lab11_persistence.server.probe import RedisProbeError, probe_redis
from redis_chat_message_store import RedisChatMessageStore, RedisUnavailableError
from tests.support.acl import PERMISSIONS, USER
from tests.support.app_driver import LabApp, app_env, assert_clean, run_app
from tests.support.messages import lab_entry
from tests.support.sentinel import (
    CONFIRMATION_ACL_LINE,
    SENTINEL_CLIENT_ACL_LINE,
    SentinelDeployment,
    app_user_deployment,
)
from tests.support.tls import Certificates, make_certificates, require_tls_server

pytestmark = pytest.mark.sentinel

# The documented lines, less the rules Debian's redis-server 7.0 refuses to load: CLIENT SETINFO and WAITAOF came
# with 7.2. (redis-py names itself with CLIENT SETINFO on every connection and goes on when it is refused or
# unknown, so the ACL LOG is not checked here; it is on Valkey, in test_sentinel_acl.py. Nothing here sends WAITAOF.)
UNKNOWN_TO_REDIS_7_0 = ("+client|setinfo", "+waitaof")


def _known_rules(line: str) -> str:
    return " ".join(rule for rule in line.split() if rule not in UNKNOWN_TO_REDIS_7_0)


APP_RULES = _known_rules(" ".join([PERMISSIONS, *CONFIRMATION_ACL_LINE.split()[3:]]))
SENTINEL_LINE = _known_rules(SENTINEL_CLIENT_ACL_LINE)
# Longer than redis-py's retries and backoff take to give up on a sentinel; far shorter than the 30 s the store
# waits for a failover to end, which a certificate nobody trusts never does.
GIVES_UP_WITHIN_SECONDS = 10.0


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    require_tls_server()
    return make_certificates(tmp_path_factory.mktemp("tls-sentinel-certs"))


@pytest.fixture(scope="module")
def sentinel_deployment(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> Iterator[SentinelDeployment]:
    """This module's deployment: on TLS alone, one sentinel, password-protected data nodes with the app's user in
    their config files, and the app's user on the sentinel (the documented lines)."""
    with app_user_deployment(
        tmp_path_factory.mktemp("redis-sentinel-tls"), APP_RULES, SENTINEL_LINE, sentinels=1, tls=certificates
    ) as deployment:
        yield deployment


@pytest.fixture
def password(sentinel: SentinelDeployment) -> str:
    assert sentinel.nodes[0].secured is not None
    return sentinel.nodes[0].secured.password


@pytest.fixture
def url(sentinel: SentinelDeployment, password: str) -> str:
    """``rediss+sentinel://lab11-app:PASSWORD@127.0.0.1:PORT/lab11/0``."""
    assert sentinel.url().startswith("rediss+sentinel://")
    return sentinel.url().replace("://", f"://{USER}:{password}@", 1)


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA that signed none of the deployment's certificates."""
    return make_certificates(tmp_path / "other-ca").ca_cert


async def test_the_store_writes_and_reads_a_thread_through_the_tls_sentinel(
    sentinel: SentinelDeployment, url: str, certificates: Certificates
) -> None:
    ca = str(certificates.ca_cert)
    store = RedisChatMessageStore(url, thread_id="over-tls", key_prefix="lab11", ssl_ca_certs=ca, min_replicas=1)
    await store.add_messages([ChatMessage(role="user", text="Over TLS: Bergen in May.")])
    await store.add_messages([ChatMessage(role="assistant", text="Bergen it is.")])
    await store.aclose()

    again = RedisChatMessageStore(url, thread_id="over-tls", key_prefix="lab11", ssl_ca_certs=ca)
    texts = [message.text for message in await again.list_messages()]
    await again.aclose()

    assert texts == ["Over TLS: Bergen in May.", "Bergen it is."]  # each turn confirmed by the replica, too
    with sentinel.primary.client() as admin:
        assert admin.llen("lab11:over-tls") == 2


def test_every_port_of_the_deployment_speaks_tls_alone(sentinel: SentinelDeployment) -> None:
    """No plain-text port at all (``port 0``), and a plain-text client on the TLS ports gets no answer: what the
    store and the commands exchanged went over TLS."""
    for process in [*sentinel.sentinels, *sentinel.nodes]:
        plain = redis.Redis(host="127.0.0.1", port=process.port, socket_timeout=2, socket_connect_timeout=2)
        with pytest.raises(redis.ConnectionError), plain:
            plain.ping()
    for node in sentinel.nodes:
        with node.client() as admin:
            assert admin.config_get("port") == {"port": "0"}
            assert admin.config_get("tls-replication") == {"tls-replication": "yes"}
    config = (sentinel.sentinels[0].data_dir / "sentinel.conf").read_text()
    assert "\nport 0\n" in f"\n{config}" and "tls-replication yes" in config


def test_the_start_up_check_finds_the_primary_through_the_tls_sentinel_and_counts_its_replica(
    url: str, certificates: Certificates
) -> None:
    probe_redis(url, ca_cert=str(certificates.ca_cert), min_replicas=1)


def test_lab11_threads_and_show_through_the_tls_sentinel_never_show_the_password(
    sentinel: SentinelDeployment, url: str, password: str, certificates: Certificates, tmp_path: Path
) -> None:
    with sentinel.primary.client() as admin:
        admin.delete("lab11:thread_over_tls")
        admin.rpush("lab11:thread_over_tls", lab_entry("user", "I want to go to Bergen."), lab_entry("user", "In May."))
        admin.zadd("lab11.recent-threads", {"thread_over_tls": 4_000_000_000})
    env = app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=url, REDIS_CA_CERT=str(certificates.ca_cert))

    listed = run_app(env, tmp_path, "threads")
    shown = run_app(env, tmp_path, "show", "thread_over_tls")

    assert listed.returncode == 0, listed.stderr
    assert "thread_over_tls" in listed.stdout.splitlines()[1]  # the most recent, first
    assert shown.returncode == 0, shown.stderr
    assert "I want to go to Bergen." in shown.stdout and "In May." in shown.stdout
    for result in (listed, shown):
        assert password not in result.stdout + result.stderr
        assert_clean(result.stdout + result.stderr)


def test_the_app_saves_a_turn_through_the_tls_sentinel(
    sentinel: SentinelDeployment, url: str, password: str, certificates: Certificates, tmp_path: Path
) -> None:
    env = app_env(
        tmp_path / "home",
        tmp_path / "data",
        REDIS_URL=url,
        REDIS_CA_CERT=str(certificates.ca_cert),
        LAB11_MIN_REPLICAS="1",
    )
    app = LabApp(env, tmp_path)
    try:
        key = app.menu()
        reply = app.say("My name is Ada and I want to go to Bergen.")
        status = app.exit()
    finally:
        app.kill()

    assert reply and status == 0
    assert "via sentinels" in app.transcript  # the start-up line names the service and its sentinel
    assert password not in app.transcript
    with sentinel.primary.client() as admin:
        assert admin.llen(key) == 2
    assert_clean(app.transcript)


def test_a_wrong_ca_is_one_line_from_the_command_naming_the_sentinel_and_redis_ca_cert(
    sentinel: SentinelDeployment, url: str, password: str, other_ca: Path, tmp_path: Path
) -> None:
    env = app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=url, REDIS_CA_CERT=str(other_ca))

    result = run_app(env, tmp_path, "threads")

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "does not trust" in result.stderr and "REDIS_CA_CERT" in result.stderr
    assert f"sentinel 127.0.0.1:{sentinel.sentinels[0].port}" in result.stderr
    assert password not in result.stdout + result.stderr
    assert_clean(result.stdout + result.stderr)


def test_a_wrong_ca_is_one_line_from_the_start_up_check(sentinel: SentinelDeployment, url: str, other_ca: Path) -> None:
    with pytest.raises(RedisProbeError) as refused:
        probe_redis(url, ca_cert=str(other_ca))
    message = str(refused.value)
    assert message.startswith(f"Redis at sentinel 127.0.0.1:{sentinel.sentinels[0].port} has a TLS certificate")
    assert "does not trust" in message and "Set REDIS_CA_CERT" in message and "\n" not in message


async def test_a_wrong_ca_is_one_clear_error_from_the_store_at_once(
    sentinel: SentinelDeployment, url: str, password: str, other_ca: Path
) -> None:
    """Not the 30 s wait for a failover (no failover makes a certificate trusted), and not redis-py's repr of each
    sentinel's client: the sentinel and the certificate's fault, in one line."""
    store = RedisChatMessageStore(url, thread_id="over-tls", key_prefix="lab11", ssl_ca_certs=str(other_ca))
    started = time.monotonic()
    with pytest.raises(RedisUnavailableError) as refused:
        await store.add_messages([ChatMessage(role="user", text="Never written.")])
    seconds = time.monotonic() - started
    await store.aclose()

    message = str(refused.value)
    assert seconds < GIVES_UP_WITHIN_SECONDS, f"gave up after {seconds:.1f}s: {message}"
    assert "certificate verify failed" in message and f"sentinel 127.0.0.1:{sentinel.sentinels[0].port}" in message
    assert "\n" not in message and "ConnectionPool" not in message and len(message) < 400, message
    assert password not in message
