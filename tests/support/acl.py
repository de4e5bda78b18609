"""Least privilege: the one ACL line that lets the store and the app do everything they do, and no more.

``ACL_LINE`` is what the README quotes. Each command is listed below with what sends it. The list
was taken from the server, not from reading the code alone: MONITOR on a Valkey (and on every
node of a six-node Valkey Cluster) while the store's whole surface, Microsoft's list API and an app
session ran, then each run again under this user with the ACL LOG checked empty
(tests/store/test_least_privilege.py, tests/cluster/test_least_privilege_on_cluster.py).

Needed by no grant: ``AUTH`` and ``HELLO`` (redis-py signs in with ``HELLO 3 AUTH user password``,
redis-entraid renews with ``AUTH``), which every user may send. Not granted, because nothing sends
them: ``SELECT`` (only for a database other than 0 in REDIS_URL: add ``+select`` then),
``READONLY`` (no reads from replicas), ``DISCARD``, pub/sub.

On a server that knows ``CLIENT MAINT_NOTIFICATIONS`` (Redis 8, Azure Managed Redis), redis-py's
RESP3 hand-shake also tries that; refused, it carries on (and the ACL LOG records the refusal).
Valkey does not know the command, so it cannot be in a line tested here.
"""

from __future__ import annotations

KEY_PREFIX = "lab11"
USER = "lab11-app"

KEY_PATTERNS: tuple[str, ...] = (
    f"~{KEY_PREFIX}:*",  # the threads, {prefix}:{thread_id} (lists)
    f"~{KEY_PREFIX}.recent-threads",  # the recency index (sorted set), outside the threads' pattern
    f"~{{{KEY_PREFIX}:*}}:last-write",  # each thread's write token, {{prefix}:{thread_id}}:last-write
    f"~{{{KEY_PREFIX}:*}}:summary",  # each thread's summary of what left the model's window
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
    "eval": "lab11 import: each thread written by one script, with its index entry",
    "object|idletime": "rebuilding the index: how long each thread has been unused",
    # a Redis Cluster (REDIS_CLUSTER=1)
    "cluster|slots": "redis-py's cluster client learns which node holds which slots",
    "command": "redis-py's cluster client learns which arguments of each command are keys",
}

PERMISSIONS = " ".join((*KEY_PATTERNS, "resetchannels", *(f"+{command}" for command in COMMANDS)))
ACL_LINE = f"ACL SETUSER {USER} reset on >PASSWORD {PERMISSIONS}"


def acl_setuser_arguments(password: str, user: str = USER) -> list[str]:
    """``ACL_LINE`` as the arguments of one ``execute_command``, with a real password."""
    arguments = ACL_LINE.replace(">PASSWORD", f">{password}").split()
    arguments[2] = user
    return arguments


def rules() -> tuple[str, ...]:
    """The permissions alone (no user, no password), e.g. for another user or an Azure access policy."""
    return tuple(PERMISSIONS.split())
