"""LAB11_MIN_REPLICAS and LAB11_REPLICA_TIMEOUT_MS: parsed once, their defaults, bad values named; the store's and
the core's arguments of the same name; a sentinel URL shown and stored without its credentials. No server."""

from __future__ import annotations

import pytest

from lab11_persistence.config import DEFAULT_REPLICA_TIMEOUT_MS, load_settings
from lab11_persistence.redis_history.confirmation import ReplicaConfirmation
from lab11_persistence.redis_history.connection import RedisEndpoint
from lab11_persistence.redis_history.history import RedisHistory
from lab11_persistence.redis_history.urls import describe_redis_url, url_without_credentials

pytestmark = pytest.mark.fast

SENTINEL_URL = "redis+sentinel://app:s3cret-pw@10.0.0.1:26379,10.0.0.2:26380/lab11/2"


def test_unset_the_turn_waits_for_no_replica_and_the_timeout_is_one_second() -> None:
    settings = load_settings({}, read_dotenv=False)

    assert (settings.min_replicas, settings.replica_timeout_ms) == (0, 1000) == (0, DEFAULT_REPLICA_TIMEOUT_MS)
    assert settings.problems == ()


def test_the_two_settings_are_read_as_numbers() -> None:
    settings = load_settings({"LAB11_MIN_REPLICAS": "2", "LAB11_REPLICA_TIMEOUT_MS": "250"}, read_dotenv=False)

    assert (settings.min_replicas, settings.replica_timeout_ms, settings.problems) == (2, 250, ())


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"LAB11_MIN_REPLICAS": "one"}, "LAB11_MIN_REPLICAS must be how many replicas"),
        ({"LAB11_MIN_REPLICAS": "-1"}, "LAB11_MIN_REPLICAS must be how many replicas"),
        ({"LAB11_REPLICA_TIMEOUT_MS": "1s"}, "LAB11_REPLICA_TIMEOUT_MS must be how many milliseconds"),
        ({"LAB11_MIN_REPLICAS": "1", "LAB11_REPLICA_TIMEOUT_MS": "0"}, "0 would wait forever"),
        ({"LAB11_MIN_REPLICAS": "1", "LAB11_REPLICA_TIMEOUT_MS": "60000"}, "from 1 to 10000 milliseconds"),
    ],
)
def test_a_bad_value_is_one_problem_naming_the_setting(environ: dict[str, str], named: str) -> None:
    problems = load_settings(environ, read_dotenv=False).problems

    assert len(problems) == 1 and named in problems[0]


def test_a_history_given_min_replicas_confirms_its_turns_with_wait() -> None:
    history = RedisHistory(object(), min_replicas=1, replica_timeout_ms=300)  # type: ignore[arg-type]

    assert history.confirmation == ReplicaConfirmation(1, 300)
    assert history.confirmation.wait_command() == ("WAIT", 1, 300)
    assert history.reconfigured(key_prefix="other").confirmation == history.confirmation  # a repointed store keeps it


def test_a_history_refuses_a_wait_without_a_timeout() -> None:
    with pytest.raises(ValueError, match="replica_timeout_ms"):
        RedisHistory(object(), min_replicas=1, replica_timeout_ms=0)  # type: ignore[arg-type]


def test_on_disk_confirmation_is_waitaof_on_the_replicas_only() -> None:
    assert ReplicaConfirmation(2, 500, on_disk=True).wait_command() == ("WAITAOF", 0, 2, 500)


def test_a_sentinel_url_is_shown_and_stored_without_its_credentials() -> None:
    endpoint = RedisEndpoint(url=SENTINEL_URL)

    assert endpoint.public_url == "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/lab11/2"
    assert url_without_credentials(SENTINEL_URL) == endpoint.public_url
    assert describe_redis_url(SENTINEL_URL) == "service lab11 via sentinels 10.0.0.1:26379,10.0.0.2:26380, db 2"
    assert endpoint.redact("WRONGPASS for app with s3cret-pw") == "WRONGPASS for *** with ***"
    assert endpoint.sentinel and endpoint.has_password
    assert "s3cret" not in repr(endpoint)


def test_a_bad_sentinel_url_is_one_line_without_its_password() -> None:
    with pytest.raises(ValueError) as raised:
        RedisEndpoint(url="redis+sentinel://app:s3cret-pw@10.0.0.1:26379").open()

    message = str(raised.value)
    assert "service name" in message and "s3cret" not in message and "\n" not in message


def test_a_sibling_and_another_layout_of_a_history_keep_its_confirmation() -> None:
    history = RedisHistory(object(), min_replicas=1, replica_timeout_ms=300)  # type: ignore[arg-type]

    assert history.sibling().confirmation == ReplicaConfirmation(1, 300)
    assert history.with_settings(key_prefix="other").confirmation == ReplicaConfirmation(1, 300)
