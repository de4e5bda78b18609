"""Issue 9, point 3, through the real app: REDIS_URL without a password plus REDIS_ENTRA_ID=1.

The app signs in with DefaultAzureCredential, which here finds only the Azure CLI credential
(``AZURE_TOKEN_CREDENTIALS=AzureCliCredential``) and the fake ``az`` first on ``PATH``
(tests/support/entra.py). Every Python process of the run (the app, each ``az``) loads the
loopback guard, which would log and refuse any attempt to reach beyond this machine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.app_driver import LabApp, assert_clean
from tests.support.entra import EntraSignIn
from tests.support.valkey import ValkeyProcess

pytestmark = pytest.mark.app

FIRST = "Hi, my name is Ada and I want to go to Lisbon."
QUESTION = "What is my name and where do I want to go?"


@pytest.fixture
def entra(redis_server: ValkeyProcess, tmp_path: Path) -> EntraSignIn:
    return EntraSignIn(redis_server, tmp_path / "entra")


def _signed_in_env(server: ValkeyProcess, entra: EntraSignIn, **extra: str) -> dict[str, str]:
    return {"REDIS_URL": f"redis://127.0.0.1:{server.port}/0", "REDIS_ENTRA_ID": "1", **entra.az_environment(), **extra}


def _assert_stayed_on_this_machine(app: LabApp, entra: EntraSignIn) -> None:
    assert not entra.network_log.exists(), entra.network_log.read_text()
    guarded = entra.guarded_processes()
    assert app.child.pid in guarded  # the guard was really loaded in the app...
    assert len(guarded) >= 2  # ...and in the az it ran


def _assert_no_token_shown(text: str, entra: EntraSignIn) -> None:
    assert [token for token in entra.secrets if token in text] == []


def test_the_app_signs_in_with_entra_id_and_keeps_chatting_across_a_rotation(
    start_app: Callable[..., LabApp], redis_server: ValkeyProcess, entra: EntraSignIn
) -> None:
    app = start_app(_signed_in_env(redis_server, entra))
    key = app.menu()
    app.say(FIRST)
    assert entra.rotate() >= 1  # new token, the old one revoked, the app's connection cut
    reply = app.say(QUESTION)
    assert "Your name is Ada." in reply and "You want to go to Lisbon." in reply, reply
    app.choose("2")
    app.expect_exact("4. assistant: ")
    app.menu()
    assert app.exit() == 0
    assert_clean(app.transcript)
    assert "warning:" not in app.transcript  # e.g. redis-py's "No registered callback for token renewal task"
    _assert_no_token_shown(app.transcript, entra)
    _assert_stayed_on_this_machine(app, entra)
    calls = entra.az_calls()
    assert calls and all(call[:2] == ["account", "get-access-token"] for call in calls)
    assert all("https://redis.azure.com" in call for call in calls)
    with entra.admin() as admin:
        assert admin.llen(key) == 4


def test_the_app_stops_in_one_line_when_nobody_is_signed_in(
    start_app: Callable[..., LabApp], redis_server: ValkeyProcess, entra: EntraSignIn
) -> None:
    """Checked before the menu, like a wrong password: one line saying what to do, exit status 1."""
    entra.sign_out()
    app = start_app(_signed_in_env(redis_server, entra))
    assert app.finish() == 1
    lines = [line for line in app.transcript.splitlines() if line.strip()]
    assert len(lines) == 1, app.transcript
    assert "Microsoft Entra ID" in lines[0] and "az login" in lines[0]
    assert "Current Redis key" not in app.transcript
    assert_clean(app.transcript)
    _assert_stayed_on_this_machine(app, entra)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (None, "REDIS_ENTRA_ID=1 needs REDIS_URL"),
        ("redis://:s3cret-Key@127.0.0.1:{port}/0", "REDIS_URL has a password"),
    ],
)
def test_misuse_stops_the_app_in_one_line_with_status_2(
    start_app: Callable[..., LabApp], redis_server: ValkeyProcess, entra: EntraSignIn, url: str | None, says: str
) -> None:
    env = _signed_in_env(redis_server, entra)
    if url is None:
        del env["REDIS_URL"]
    else:
        env["REDIS_URL"] = url.format(port=redis_server.port)
    app = start_app(env)
    assert app.finish() == 2
    lines = [line for line in app.transcript.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], app.transcript
    assert "s3cret-Key" not in app.transcript
    assert entra.az_calls() == []  # misuse is found before anyone signs in
