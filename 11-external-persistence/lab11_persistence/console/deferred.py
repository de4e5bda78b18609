"""What the terminal program needs only once it talks to Redis, imported in one place at its first action.

The first menu is printed before asyncio, redis-py and the Redis core are loaded (the start-up figure in
docs/benchmarks.md); ``menu`` and ``commands`` import this module when an action or a command needs it,
and take every such name from here.
"""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError

from lab11_persistence.redis_history.confirmation import ReplicaConfirmationError
from lab11_persistence.redis_history.connection import RedisPasswordRefusedError, RedisUnavailableError
from lab11_persistence.redis_history.sealing import MissingKeyError
from lab11_persistence.redis_history.window import CATCH_UP_NOTICE

__all__ = [
    "CATCH_UP_NOTICE",
    "MissingKeyError",
    "RedisError",
    "RedisPasswordRefusedError",
    "RedisUnavailableError",
    "ReplicaConfirmationError",
    "asyncio",
]
