"""Least privilege: the one ACL line that lets the store and the app do everything they do, and no more.

``ACL_LINE`` is what docs/least-privilege.md quotes; ``tenant_acl_line`` is the line of one tenant on
Microsoft's scoped keys, which docs/many-users.md quotes (same commands, only that tenant's keys).
Each command is listed below with what sends it. The list was taken from the server, not from
reading the code alone: MONITOR on a Valkey (and on every node of a six-node Valkey Cluster) while
the store's whole surface, Microsoft's list API and an app session ran, then each run again under
this user with the ACL LOG checked empty (tests/store/test_least_privilege.py,
tests/cluster/test_least_privilege_on_cluster.py, tests/store/test_tenant_acl.py).

Needed by no grant: ``AUTH`` and ``HELLO`` (redis-py signs in with ``HELLO 3 AUTH user password``,
redis-entraid renews with ``AUTH``), which every user may send. Not granted, because nothing sends
them: ``SELECT`` (only for a database other than 0 in REDIS_URL: add ``+select`` then),
``READONLY`` (no reads from replicas), ``DISCARD``, pub/sub.

On a server that knows ``CLIENT MAINT_NOTIFICATIONS`` (Redis 8, Azure Managed Redis), redis-py's
RESP3 hand-shake also tries that; refused, it carries on (and the ACL LOG records the refusal).
Valkey does not know the command, so it cannot be in a line tested here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

from lab11_persistence.redis_history.keys import KeyLayout

if TYPE_CHECKING:  # pragma: no cover
    from tests.support.valkey import ValkeyProcess

KEY_PREFIX = "lab11"
USER = "lab11-app"

KEY_PATTERNS: tuple[str, ...] = (
    f"~{KEY_PREFIX}:*",  # the threads, {prefix}:{thread_id} (lists)
    f"~{KEY_PREFIX}.recent-threads",  # the recency index (sorted set), outside the threads' pattern
    f"~{{{KEY_PREFIX}:*}}:*",  # each thread's side keys, {{prefix}:{thread_id}}:<name>: :last-write, :summary
    # (the index of older releases, {prefix}:recent-threads, is under ~{prefix}:* and is moved once)
)

COMMANDS: dict[str, str] = {
    # connecting, and the start-up check
    "client|setinfo": "redis-py names itself on every connection (refused, it goes on, but the ACL LOG fills up)",
    "ping": "the app's start-up check (redis_probe) and store.ping()",
    # a turn: one MULTI/EXEC
    "multi": "add_messages: the turn, its trim, expiry, write token and index entry in one transaction",
    "exec": "add_messages",
    "rpush": "add_messages, append, extend",
    "watch": "messages= (initial messages) written once even when stores race; a summary written once (fold)",
    "unwatch": "a fold that finds, once it watches, that another process's fold left it nothing to do",
    "ltrim": "add_messages with max_messages; a fold trims the messages its summary now covers",
    "expire": "add_messages with ttl_seconds",
    "set": "add_messages: the write token (SET … EX); a fold: the summary",
    "get": "add_messages after a lost reply: did the write go through?; the summary, with a turn's window",
    "zadd": "add_messages: the recency index; rebuilding the index",
    # reading a thread
    "lrange": "list_messages; previews when listing threads",
    "llen": "message counts (count, __len__, listing threads); Microsoft's setitem and index",
    # Microsoft's list API
    "lindex": "getitem, index; a fold checks the newest message its summary covers is still where it was",
    "lset": "setitem",
    "lrem": "remove",
    # clearing
    "del": "clear: the thread, its write token and its summary",
    "zrem": "clear; dropping threads that are gone from the index",
    # listing saved threads (menu 3)
    "zrevrange": "the most recently used threads, newest first",
    "zscore": "listing every thread (no limit): when each was last used",
    "scan": "listing every thread; rebuilding the index (SCAN MATCH prefix:* TYPE list)",
    "type": "dropping threads from the index once their key is gone; is there an index of an older release?",
    "zscan": "moving the index of an older release ({prefix}:recent-threads) to {prefix}.recent-threads",
    "eval": "lab11 import, migrate and prune: each thread written or deleted by one script, with its index entry",
    # lab11 migrate and prune
    "pttl": "lab11 migrate: a thread's remaining time to live, carried over to its new key",
    "pexpire": "lab11 migrate: the time to live on the new key (inside the script)",
    "zrangebyscore": "lab11 prune: the threads last written before the cutoff, a page at a time",
    "zcount": "lab11 prune: how many threads it is about to delete (the question it asks)",
    "object|idletime": "rebuilding the index: how long each thread has been unused",
    # replica confirmation (LAB11_MIN_REPLICAS)
    "wait": "a turn, an import, a migration with min_replicas: how many replicas hold it, sent after the writes",
    "waitaof": "the same, on the replicas' disks, where a history is given ReplicaConfirmation(on_disk=True)",
    "role": "the start-up check with LAB11_MIN_REPLICAS: how many replicas the primary has (each one, on a cluster)",
    # a Redis Cluster (REDIS_CLUSTER=1)
    "cluster|slots": "redis-py's cluster client learns which node holds which slots; the start-up check with "
    "LAB11_MIN_REPLICAS on a cluster lists the primaries whose replicas it counts",
    "command": "redis-py's cluster client learns which arguments of each command are keys",
}

PERMISSIONS = " ".join((*KEY_PATTERNS, "resetchannels", *(f"+{command}" for command in COMMANDS)))
ACL_LINE = f"ACL SETUSER {USER} reset on >PASSWORD {PERMISSIONS}"


def acl_setuser_arguments(password: str, user: str = USER) -> list[str]:
    """``ACL_LINE`` as the arguments of one ``execute_command``, with a real password."""
    arguments = ACL_LINE.replace(">PASSWORD", f">{password}").split()
    arguments[2] = user
    return arguments


def tenant_user(tenant_id: str) -> str:
    return f"{KEY_PREFIX}-{tenant_id}"


def tenant_key_patterns(tenant_id: str) -> tuple[str, ...]:
    """Every key of one tenant on Microsoft's scoped keys: its threads and indexes, and their side keys."""
    return KeyLayout.resolve(KEY_PREFIX, tenant_id=tenant_id, application_id="any").tenant_acl_patterns()


def tenant_acl_line(tenant_id: str) -> str:
    """The ACL of one tenant: the commands of ``ACL_LINE``, on that tenant's keys only."""
    commands = " ".join(f"+{command}" for command in COMMANDS)
    patterns = " ".join(tenant_key_patterns(tenant_id))
    return f"ACL SETUSER {tenant_user(tenant_id)} reset on >PASSWORD {patterns} resetchannels {commands}"


def tenant_acl_setuser_arguments(tenant_id: str, password: str) -> list[str]:
    return tenant_acl_line(tenant_id).replace(">PASSWORD", f">{password}").split()


def rules() -> tuple[str, ...]:
    """The permissions alone (no user, no password), e.g. for another user or an Azure access policy."""
    return tuple(PERMISSIONS.split())


@dataclass
class AclUser:
    """A user made on a real server from one of the lines above: its URL, a client, what the server refused it."""

    server: ValkeyProcess
    user: str
    password: str

    @property
    def url(self) -> str:
        return f"redis://{self.user}:{self.password}@127.0.0.1:{self.server.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.server.port, username=self.user, password=self.password, decode_responses=True
        )

    def refused(self) -> list[str]:
        """The ACL LOG, one ``reason object`` per entry (``command scan``, ``key other:key``...)."""
        with self.server.client() as admin:
            return [f"{entry['reason']} {entry['object']}" for entry in admin.execute_command("ACL", "LOG")]


def make_user(server: ValkeyProcess, setuser_arguments: list[str], user: str, password: str) -> AclUser:
    """Run one ``ACL SETUSER`` on ``server`` and start from an empty ACL LOG."""
    with server.client() as admin:
        assert admin.execute_command(*setuser_arguments) in ("OK", True)
        admin.execute_command("ACL", "LOG", "RESET")
    return AclUser(server, user, password)
