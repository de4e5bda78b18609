"""On a cluster, a plain client of the primary that serves a key's slot: where a turn's WAIT must go.

WAIT counts the replicas that hold the writes *of the connection it is sent on*, so it must follow the
turn's MULTI/EXEC on the same connection to the same primary. redis-py's cluster pipeline cannot send
a command after EXEC, nor a keyless one to the node of a given slot, so the confirmed write goes through
a plain client of that node, built with the cluster client's own connection settings (timeouts,
credentials, TLS, retry). After a failover the slot's primary changes: ``forget`` drops these clients and
makes the cluster client read the topology again.

Framework-free; nothing here prints.
"""

from __future__ import annotations

import logging

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

__all__ = ["SlotPrimaries"]

logger = logging.getLogger(__name__)


class SlotPrimaries:
    """Plain clients of a cluster's primaries, one per node, each made when a key first needs it."""

    def __init__(self, cluster: RedisCluster) -> None:
        self.cluster = cluster
        self._clients: dict[str, redis.Redis] = {}

    async def client_for(self, key: str) -> redis.Redis:
        """A client of the primary that serves ``key``'s slot, as the cluster client knows the topology now."""
        await self.cluster.initialize()  # a no-op once the topology is known
        node = self.cluster.get_node_from_key(key)
        client = self._clients.get(node.name)
        if client is None:
            pool = redis.ConnectionPool(connection_class=node.connection_class, **node.connection_kwargs)
            client = self._clients[node.name] = redis.Redis(connection_pool=pool)
        return client

    async def forget(self) -> None:
        """Drop every node's client and re-read the topology (after a MOVED reply or a lost primary)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        try:
            await self.cluster.nodes_manager.initialize()
        except (RedisError, OSError) as error:  # mid-failover: the caller's retry comes back here
            logger.debug("Could not re-read the cluster's topology yet: %s", error.__class__.__name__)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
