"""The least-privilege user under Sentinel: the documented lines on the sentinels and the data nodes are enough
to find the primary, write a turn and have it confirmed, with nothing refused in any ACL LOG."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab11_persistence.redis_history.confirmation import execute_confirmed
from lab11_persistence.redis_history.sentinel import open_sentinel_primary
from tests.support.acl import USER, acl_setuser_arguments
from tests.support.app_driver import LabApp, app_env
from tests.support.sentinel import CONFIRMATION_ACL_LINE, SENTINEL_CLIENT_ACL_LINE, SentinelDeployment, client_options

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def least_privilege_url(sentinel: SentinelDeployment) -> Iterator[str]:
    """The app's user, made with the documented lines on every sentinel and data node; its sentinel URL."""
    password = secrets.token_hex(12)
    for sentinel_node in sentinel.sentinels:
        with sentinel_node.client() as client:
            client.execute_command(*SENTINEL_CLIENT_ACL_LINE.replace(">PASSWORD", f">{password}").split())
            client.execute_command("ACL", "LOG", "RESET")
    for node in sentinel.nodes:  # ACL rules are not replicated: each data node gets them
        with node.client() as client:
            client.execute_command(*acl_setuser_arguments(password))
            client.execute_command(*CONFIRMATION_ACL_LINE.split())
            client.execute_command("ACL", "LOG", "RESET")
    yield sentinel.url().replace("://", f"://{USER}:{password}@", 1)
    for process in [*sentinel.sentinels, *sentinel.nodes]:
        with process.client() as client:
            client.execute_command("ACL", "DELUSER", USER)


@pytest.mark.sentinel
async def test_the_documented_acl_finds_the_primary_and_confirms_a_turn_with_nothing_refused(
    sentinel: SentinelDeployment, least_privilege_url: str
) -> None:
    client = open_sentinel_primary(least_privilege_url, **client_options())
    try:
        in_memory = await execute_confirmed(client, [("RPUSH", "lab11:t1", "hi")], min_replicas=1, timeout_ms=2000)
        on_disk = await execute_confirmed(
            client, [("RPUSH", "lab11:t1", "again")], min_replicas=1, timeout_ms=3000, on_disk=True
        )
    finally:
        await client.aclose()

    assert in_memory.confirmed and on_disk.confirmed
    for process in [*sentinel.sentinels, *sentinel.nodes]:
        with process.client() as admin:
            assert admin.execute_command("ACL", "LOG") == [], f"refused on port {process.port}"


@pytest.mark.fast
def test_the_sentinel_page_quotes_the_lines_tested_here() -> None:
    page = (ROOT / "docs" / "sentinel.md").read_text(encoding="utf-8")

    assert f"```\n{SENTINEL_CLIENT_ACL_LINE}\n```" in page
    assert f"```\n{CONFIRMATION_ACL_LINE}\n```" in page


@pytest.mark.sentinel
def test_the_app_with_min_replicas_starts_and_saves_a_confirmed_turn_under_the_documented_acl(
    sentinel: SentinelDeployment, least_privilege_url: str, tmp_path: Path
) -> None:
    """The start-up check (SENTINEL MASTERS, then AUTH, PING and ROLE on the primary), a turn and its WAIT."""
    env = app_env(tmp_path / "home", tmp_path / "data", REDIS_URL=least_privilege_url, LAB11_MIN_REPLICAS="1")
    app = LabApp(env, tmp_path)
    try:
        app.menu()
        app.say("My name is Ada.")
        status = app.exit()
    finally:
        app.kill()

    assert status == 0 and "replica" not in app.transcript.split("assistant: ", 1)[1]
    assert least_privilege_url.split("@")[0].split(":")[-1] not in app.transcript  # the password, never shown
    for process in [*sentinel.sentinels, *sentinel.nodes]:
        with process.client() as admin:
            assert admin.execute_command("ACL", "LOG") == [], f"refused on port {process.port}"
