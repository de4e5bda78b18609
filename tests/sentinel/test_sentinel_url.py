"""The sentinel URL: what it says, and one clear line, without credentials, when it says it wrong."""

from __future__ import annotations

import pytest

from lab11_persistence.redis_history.sentinel_url import DEFAULT_SENTINEL_PORT, is_sentinel_url, parse_sentinel_url

pytestmark = pytest.mark.fast

USER, PASSWORD = "alice-the-user", "s3cret-pw"


def test_a_full_url_names_every_sentinel_the_service_the_db_and_the_credentials() -> None:
    url = f"redis+sentinel://{USER}:{PASSWORD}@10.0.0.1:26379,10.0.0.2:26380,sentinel-3:26381/lab11/2"

    parsed = parse_sentinel_url(url)

    assert parsed.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-3", 26381))
    assert (parsed.service, parsed.db, parsed.username, parsed.password, parsed.tls) == (
        "lab11", 2, USER, PASSWORD, False
    )  # fmt: skip


def test_rediss_sentinel_means_tls() -> None:
    assert parse_sentinel_url("rediss+sentinel://h:26379/lab11").tls is True


def test_db_defaults_to_0_and_port_to_the_sentinel_default() -> None:
    parsed = parse_sentinel_url("redis+sentinel://sentinel-a,sentinel-b:5000/lab11")

    assert parsed.sentinels == (("sentinel-a", DEFAULT_SENTINEL_PORT), ("sentinel-b", 5000))
    assert parsed.db == 0


def test_ipv6_sentinels_are_written_in_brackets() -> None:
    parsed = parse_sentinel_url("redis+sentinel://[::1]:26379,[fe80::2]/lab11/0")

    assert parsed.sentinels == (("::1", 26379), ("fe80::2", DEFAULT_SENTINEL_PORT))


def test_a_password_alone_is_a_password() -> None:
    parsed = parse_sentinel_url(f"redis+sentinel://:{PASSWORD}@h:1/lab11")

    assert (parsed.username, parsed.password) == (None, PASSWORD)


def test_credentials_are_percent_decoded_and_may_hold_at_signs_and_slashes() -> None:
    parsed = parse_sentinel_url("redis+sentinel://app%3Auser:p@ss/w%25rd@h:1/lab11")

    assert (parsed.username, parsed.password) == ("app:user", "p@ss/w%rd")


def test_the_repr_and_the_public_url_show_no_credentials() -> None:
    parsed = parse_sentinel_url(f"redis+sentinel://{USER}:{PASSWORD}@h:1,[::1]:2/lab11/3")

    for shown in (repr(parsed), parsed.public_url, parsed.location):
        assert PASSWORD not in shown and USER not in shown
    assert parsed.public_url == "redis+sentinel://h:1,[::1]:2/lab11/3"


def test_only_the_sentinel_schemes_are_sentinel_urls() -> None:
    assert is_sentinel_url("redis+sentinel://h/s") and is_sentinel_url("REDISS+SENTINEL://h/s")
    assert not is_sentinel_url("redis://localhost:6379/0") and not is_sentinel_url("rediss://h:6380")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"redis://{USER}:{PASSWORD}@h:26379/lab11", "must start with redis+sentinel://"),
        (f"redis+sentinel://{USER}:{PASSWORD}@/lab11", "at least one sentinel"),
        (f"redis+sentinel://{USER}:{PASSWORD}@h:26379", "service name"),
        (f"redis+sentinel://{USER}:{PASSWORD}@h:26379/", "service name"),
        (f"redis+sentinel://{USER}:{PASSWORD}@h:26379/lab11/x", "database"),
        (f"redis+sentinel://{USER}:{PASSWORD}@h:26379/lab11/0/more", "/SERVICE or /SERVICE/db"),
        (f"redis+sentinel://{USER}:{PASSWORD}@h:port/lab11", "port is a number"),
        (f"redis+sentinel://{USER}:{PASSWORD}@h:70000/lab11", "port is a number"),
        (f"redis+sentinel://{USER}:{PASSWORD}@h:1,,h:2/lab11", "no host"),
        (f"redis+sentinel://{USER}:{PASSWORD}@[::1:26379/lab11", "IPv6 bracket"),
        (f"redis+sentinel://{USER}:{PASSWORD}@h:1/lab11?ssl=true", "no query"),
    ],
)
def test_a_bad_url_is_one_line_that_says_what_is_wrong_without_the_credentials(url: str, says: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_sentinel_url(url)

    message = str(raised.value)
    assert says in message
    assert "\n" not in message
    assert PASSWORD not in message and USER not in message
