"""The framework-free Redis core: chat threads in Redis lists, whichever Agent Framework release reads them.

- ``history``: ``RedisHistory``, every thread under one key prefix (append, read, list, clear), and
  the one failure policy (``RedisHistory.call``);
- ``recency``: the recency index (the most recently used threads, a page at a time) and listing;
- ``connection``: where and how to connect (``RedisConnection``: a URL, a host with a credential provider,
  or a client), timeouts and bounded retries, password-free errors; ``urls``: what a URL may show;
- ``message_json``: every shape a release ever wrote, read and written without the framework;
- ``window``: what a model is sent of a long thread, the newest messages and a durable summary of the
  rest; ``summary``: that summary's record;
- ``archive``: whole threads out and back in (``lab11 export`` / ``lab11 import``);
- ``migration``: the lab's threads to Microsoft's scoped keys (``lab11 migrate``);
- ``retention``: deleting threads nobody wrote for a while, from the recency index (``lab11 prune``);
- ``keys``: thread ids, and the key layouts (the lab's ``{prefix}:{thread}``, Microsoft's scoped keys).
- ``sealing``: the keyring (``LAB11_ENCRYPTION_KEYS``) and the envelope an entry is sealed in; ``codec``: the
  keyring applied wherever an entry crosses the wire (``RedisHistory.codec``); ``rekey``: threads rewritten
  under the first key (``lab11 rekey``).

Nothing here imports the Agent Framework. This file imports nothing, so that the app's first menu
(which needs only ``keys``) does not wait for redis-py.
"""
