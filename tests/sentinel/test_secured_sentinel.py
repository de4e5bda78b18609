"""Data nodes that refuse anyone without a password: the sentinels and the replicas sign in with the users
docs/sentinel.md quotes, replication and a failover work, and no ACL LOG has an entry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab11_persistence.redis_history.confirmation import execute_confirmed
from lab11_persistence.redis_history.sentinel import open_sentinel_primary
from tests.support.acl import PERMISSIONS, USER
from tests.support.sentinel import (
    CONFIRMATION_ACL_LINE,
    REPLICA_USER_ACL_LINE,
    SENTINEL_CLIENT_ACL_LINE,
    SENTINEL_USER_ACL_LINE,
    SentinelDeployment,
    app_user_deployment,
    client_options,
)

ROOT = Path(__file__).resolve().parents[2]
APP_RULES = " ".join([PERMISSIONS, *CONFIRMATION_ACL_LINE.split()[3:]])


@pytest.fixture(scope="module")
def sentinel_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelDeployment]:
    """This module's deployment: password-protected data nodes, the app's user in their config files."""
    with app_user_deployment(
        tmp_path_factory.mktemp("valkey-sentinel-secured"), APP_RULES, SENTINEL_CLIENT_ACL_LINE
    ) as deployment:
        yield deployment


def acl_log_entries(deployment: SentinelDeployment) -> dict[int, list[object]]:
    entries = {}
    for process in [*deployment.nodes, *deployment.sentinels]:
        if process.alive:
            with process.client() as admin:
                entries[process.port] = admin.execute_command("ACL", "LOG")
    return entries


@pytest.mark.sentinel
async def test_with_password_protected_data_nodes_the_documented_users_replicate_and_fail_over(
    sentinel: SentinelDeployment,
) -> None:
    assert sentinel.nodes[0].secured is not None
    url = sentinel.url().replace("://", f"://{USER}:{sentinel.nodes[0].secured.password}@", 1)
    client = open_sentinel_primary(url, **client_options())
    try:
        before = await execute_confirmed(client, [("RPUSH", "lab11:t1", "1")], min_replicas=1, timeout_ms=2000)
        old = sentinel.kill_primary()
        sentinel.wait_for_promotion(old)  # the sentinels signed in, voted, and reconfigured the replica
        length = await client.rpush("lab11:t1", "2")
        sentinel.restore()  # the old primary back as a replica: it signs in to the new primary to replicate
        after = await execute_confirmed(client, [("RPUSH", "lab11:t1", "3")], min_replicas=1, timeout_ms=2000)
    finally:
        await client.aclose()

    assert before.confirmed and after.confirmed
    assert (length, after.replies[0]) == (2, 3)
    assert all(entries == [] for entries in acl_log_entries(sentinel).values()), acl_log_entries(sentinel)


@pytest.mark.fast
def test_the_sentinel_page_quotes_the_sentinels_and_the_replicas_users() -> None:
    page = (ROOT / "docs" / "sentinel.md").read_text(encoding="utf-8")

    assert f"```\n{SENTINEL_USER_ACL_LINE}\n```" in page
    assert f"```\n{REPLICA_USER_ACL_LINE}\n```" in page
