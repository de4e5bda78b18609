"""What makes the lab's store (``redis_chat_message_store.py``) a drop-in for Microsoft's
``agent_framework_redis.RedisChatMessageStore``, kept out of the file a learner reads: Microsoft's list-like
methods (``list_methods``) and its snapshot and reconnection rules (``snapshots``).

Below the lab's store and above the Redis core: nothing here imports the store or an adapter.
"""
