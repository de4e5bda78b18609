"""Issue 9, point 3: the one setting (REDIS_ENTRA_ID), its misuse in one line, and the start-up check.

The app path itself is tests/app/test_entra_id_app.py; the sign-in and rotation, tests/store/test_entra_id_sign_in.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab11_persistence import config
from lab11_persistence.server import entra_id
from lab11_persistence.server.probe import RedisProbeError, probe_redis
from tests.support.entra import OBJECT_ID, EntraSignIn
from tests.support.valkey import ValkeyProcess

AZURE_URL = "rediss://lab11.westeurope.redis.azure.net:10000/0"
HERE = Path(__file__).resolve().parents[2] / "11-external-persistence"


def _settings(**environ: str) -> config.Settings:
    return config.load_settings(environ, read_dotenv=False)


@pytest.mark.fast
@pytest.mark.parametrize(("value", "on"), [("1", True), ("true", True), ("ON", True), ("0", False), ("no", False)])
def test_the_setting_is_read_as_on_or_off(value: str, on: bool) -> None:
    settings = _settings(REDIS_URL=AZURE_URL, REDIS_ENTRA_ID=value)
    assert settings.uses_entra_id is on
    assert settings.problems == ()


@pytest.mark.fast
def test_unset_means_off() -> None:
    assert _settings(REDIS_URL=AZURE_URL).uses_entra_id is False


@pytest.mark.fast
@pytest.mark.parametrize(
    "url",
    [AZURE_URL, "rediss://lab11.redis.cache.windows.net:6380/0", "redis://127.0.0.1:6379/0", "redis://localhost/0"],
)
def test_a_url_without_a_password_is_fine(url: str) -> None:
    assert _settings(REDIS_URL=url, REDIS_ENTRA_ID="1").problems == ()


@pytest.mark.fast
@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"REDIS_ENTRA_ID": "1"}, "REDIS_ENTRA_ID=1 needs REDIS_URL"),
        ({"REDIS_ENTRA_ID": "maybe", "REDIS_URL": AZURE_URL}, "REDIS_ENTRA_ID must be 1"),
        (
            {"REDIS_ENTRA_ID": "1", "REDIS_URL": "rediss://:s3cret-Key@lab11.redis.cache.windows.net:6380/0"},
            "REDIS_URL has a password, but REDIS_ENTRA_ID=1",
        ),
        ({"REDIS_ENTRA_ID": "1", "REDIS_URL": "rediss://alice@lab11.redis.cache.windows.net:6380/0"}, "names a user"),
        ({"REDIS_ENTRA_ID": "1", "REDIS_URL": "unix:///run/redis.sock"}, "not a unix socket"),
        ({"REDIS_ENTRA_ID": "1", "REDIS_URL": "redis://lab11.redis.cache.windows.net:6379/0"}, "use rediss://"),
    ],
)
def test_misuse_is_named_in_one_line(environ: dict[str, str], says: str) -> None:
    (problem,) = _settings(**environ).problems
    assert says in problem
    assert "\n" not in problem
    assert "s3cret-Key" not in problem and "alice" not in problem


@pytest.mark.fast
def test_a_password_without_the_setting_is_no_problem() -> None:
    url = "rediss://:s3cret-Key@lab11.redis.cache.windows.net:6380/0"
    assert _settings(REDIS_URL=url).problems == ()


@pytest.mark.fast
def test_the_setting_shows_in_the_settings_repr() -> None:
    assert "uses_entra_id=True" in repr(_settings(REDIS_URL=AZURE_URL, REDIS_ENTRA_ID="1"))


@pytest.mark.fast
def test_the_app_connects_with_the_url_alone_when_the_setting_is_off() -> None:
    settings = _settings(REDIS_URL=AZURE_URL)
    assert entra_id.store_connection(settings, AZURE_URL) == {"redis_url": AZURE_URL}
    assert entra_id.probe_credentials(settings) is None


@pytest.mark.app
def test_importing_entra_id_loads_neither_azure_nor_redis() -> None:
    """The app imports it before the menu: it must cost nothing until sign-in is needed."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import lab11_persistence.server.entra_id; "
            "print(sorted({name.split('.')[0] for name in sys.modules} & {'azure', 'redis', 'redis_entraid', 'msal'}))",
            str(HERE),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


# -- the start-up check with a token --------------------------------------------------------


@pytest.fixture
def entra(redis_server: ValkeyProcess, tmp_path: Path) -> EntraSignIn:
    return EntraSignIn(redis_server, tmp_path / "entra")


@pytest.mark.app
def test_the_start_up_check_signs_in_with_the_token(redis_server: ValkeyProcess, entra: EntraSignIn) -> None:
    probe_redis(f"redis://127.0.0.1:{redis_server.port}/0", token_credentials=(OBJECT_ID, entra.current))


@pytest.mark.app
def test_the_start_up_check_names_a_refused_token_without_showing_it(
    redis_server: ValkeyProcess, entra: EntraSignIn
) -> None:
    old = entra.current
    entra.rotate()
    with pytest.raises(RedisProbeError, match="refused the Microsoft Entra ID sign-in") as refused:
        probe_redis(f"redis://127.0.0.1:{redis_server.port}/0", token_credentials=(OBJECT_ID, old))
    assert "access to this cache" in str(refused.value)
    assert [token for token in entra.secrets if token in str(refused.value)] == []


@pytest.mark.app
def test_without_the_token_the_start_up_check_still_says_a_password_is_needed(
    redis_server: ValkeyProcess, entra: EntraSignIn
) -> None:
    with pytest.raises(RedisProbeError, match="needs a password"):
        probe_redis(f"redis://127.0.0.1:{redis_server.port}/0")
