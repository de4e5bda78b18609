"""How the lab's store is snapshotted and reconnected, as Microsoft's store is, without a secret in the snapshot.

``serialize()`` returns a ``RedisStoreSnapshot``: ``{"messages": [], "store_metadata": {...}}``, where the
metadata is the lab's ``RedisStoreState`` as a dict (thread id, key prefix, limits, scope, and the URL
without credentials). Since credentials are never stored, reconnecting tries, in order, the caller's URL,
``REDIS_URL`` from the environment, and the stored URL (``candidate_urls``); a store pointed at another
thread of the server it already talks to keeps its connection, and so the credentials that work
(``repointed``).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, ClassVar, Protocol, TypeVar

from agent_framework._threads import ChatMessageStoreState

from lab11_persistence.redis_history.connection import RedisClient, RedisEndpoint, RedisUnavailableError
from lab11_persistence.redis_history.history import RedisHistory

__all__ = [
    "RedisStoreSnapshot",
    "candidate_urls",
    "first_that_answers",
    "history_settings",
    "repointed",
    "scope_of",
    "store_arguments",
    "store_metadata",
]


class RedisStoreSnapshot(ChatMessageStoreState, Mapping[str, Any]):
    """What ``serialize()`` returns: ``{"messages": [], "store_metadata": {...}}``.

    A ``ChatMessageStoreState`` rather than a plain dict: ``AgentThread.serialize`` rebuilds plain
    dicts through ``ChatMessageStoreState`` and drops every key but ``messages`` (trap 1 in the
    notes), while an instance is serialized with all its fields.
    """

    TYPE: ClassVar[str] = "chat_message_store_state"

    def __init__(self, store_metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(messages=[])
        self.store_metadata: dict[str, Any] = dict(store_metadata or {})

    def _as_dict(self) -> dict[str, Any]:
        return {"messages": [], "store_metadata": self.store_metadata}

    def __getitem__(self, key: str) -> Any:
        return self._as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._as_dict())

    def __len__(self) -> int:
        return len(self._as_dict())


def store_metadata(serialized: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``store_metadata`` of a ``serialize()`` output; ValueError for anything else."""
    metadata = serialized.get("store_metadata") if isinstance(serialized, Mapping) else None
    if not isinstance(metadata, Mapping) or not metadata.get("thread_id"):
        raise ValueError(
            "This snapshot has no Redis store_metadata; it was not written by RedisChatMessageStore.serialize()."
        )
    return metadata


def scope_of(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state's scope arguments (none for a thread in the lab's layout)."""
    if state.get("application_id") is None:
        return {}
    scope = {name: state.get(name) for name in ("tenant_id", "application_id", "agent_id")}
    return {**scope, "source_id": state["source_id"]} if state.get("source_id") is not None else scope


def history_settings(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state's prefix, limits and scope, as ``RedisHistory`` takes them."""
    limits = {name: state.get(name) for name in ("max_messages", "ttl_seconds")}
    return {"key_prefix": state["key_prefix"], **limits, **scope_of(state)}


def store_arguments(
    state: Mapping[str, Any], redis_url: str | None, redis_client: RedisClient | None, cluster: bool | None
) -> dict[str, Any]:
    """The store's constructor arguments for the state's thread: the client given, else the first candidate URL
    (not tried here); ``cluster`` overrides the stored flag (a thread moved to or from a cluster)."""
    url = None if redis_client is not None else candidate_urls(redis_url, state.get("redis_url"))[0]
    return {
        "redis_url": url,
        "redis_client": redis_client,
        "thread_id": state["thread_id"],
        "cluster": bool(state.get("cluster")) if cluster is None else cluster,
        **history_settings(state),
    }


def candidate_urls(explicit: str | None, stored: str | None) -> list[str]:
    """Credentials are never stored, so try the caller's URL, then REDIS_URL, then the stored one."""
    candidates = list(dict.fromkeys(url for url in (explicit, os.environ.get("REDIS_URL"), stored) if url))
    if not candidates:
        raise ValueError(
            "No usable redis_url: pass redis_url=..., or set REDIS_URL, to reconnect this thread to Redis."
        )
    return candidates


class _Store(Protocol):
    history: RedisHistory

    async def aclose(self) -> None: ...


S = TypeVar("S", bound=_Store)


async def first_that_answers(open_store: Callable[[str], S], urls: list[str]) -> S:
    """The store that ``open_store`` gives for the first of ``urls`` whose server answers."""
    failures: list[str] = []
    for url in urls:
        store = open_store(url)
        try:
            await store.history.ping()
        except RedisUnavailableError as error:
            await store.aclose()
            failures.append(str(error))
            continue
        return store
    raise RedisUnavailableError("Could not reconnect the thread to Redis. " + " ".join(failures))


async def repointed(
    history: RedisHistory,
    state: Mapping[str, Any],
    current_url: str | None,
    *,
    redis_url: str | None = None,
    redis_client: RedisClient | None = None,
    cluster: bool | None = None,
    before_closing: Callable[[], Awaitable[None]] | None = None,
) -> tuple[RedisHistory, str | None]:
    """The history for the state's thread, and the store's ``redis_url`` after it; ``history`` is closed.

    A client given is borrowed; the server already in use keeps its connection (and so the credentials
    that work); any other server is opened at the first candidate URL. ``before_closing`` runs before
    the old history is closed (a summary still being written lands first).
    """
    settings = {**history_settings(state), "encryption_keys": history.codec.keyring}  # never in a state: keys
    settings["confirmation"] = history.confirmation  # the replicas asked for stay
    cluster = bool(state.get("cluster")) if cluster is None else cluster
    endpoint = history.endpoint
    same_server = redis_url is None and (
        state.get("redis_url") is None
        if endpoint is None
        else (endpoint.public_url, endpoint.cluster) == (state.get("redis_url"), cluster)
    )
    if redis_client is not None:
        new_history, url = RedisHistory(redis_client, **settings), None
    elif same_server:  # keep the connection, and so the credentials that work
        new_history, url = history.reconfigured(**settings), current_url
    else:
        url = candidate_urls(redis_url, state.get("redis_url"))[0]
        new_endpoint = endpoint.with_url(url, cluster=cluster) if endpoint else RedisEndpoint(url=url, cluster=cluster)
        new_history = RedisHistory.open(new_endpoint, **settings)
    if before_closing is not None:
        await before_closing()
    await history.aclose()
    return new_history, url
