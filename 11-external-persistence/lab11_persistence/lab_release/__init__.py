"""The adapter for the lab's Agent Framework release (1.0.0b260130), beside the lab's own
``redis_chat_message_store.py``: Microsoft's list-like store methods (``microsoft_list_methods``),
and the ``ChatAgent`` and chat clients ``app.py`` builds (``agent``)."""
