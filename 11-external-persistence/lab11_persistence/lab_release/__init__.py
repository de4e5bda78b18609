"""The adapter for the lab's Agent Framework release (1.0.0b260130), beside the lab's own
``redis_chat_message_store.py``: the ``ChatAgent`` and chat clients ``app.py`` builds (``agent``).
Microsoft's list-like store methods, below the store, are ``store_compat.list_methods``."""
