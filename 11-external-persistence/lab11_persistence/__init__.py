"""Lab 11's package: everything the lab's ``app.py`` and ``redis_chat_message_store.py`` lean on.

- ``redis_history``: the framework-free Redis core (threads in Redis lists, connections, formats,
  export and import);
- ``lab_release``: the adapter for the lab's Agent Framework (1.0.0b260130), beside the lab's store;
- ``v1``: the adapter for Agent Framework 1.x, ``RedisHistoryProvider`` (``from lab11_persistence.v1
  import RedisHistoryProvider``) and the app's agent there;
- ``console``: the terminal program (the menu's terminal side, start-up, the thread commands);
- ``server``: which Redis to use (the embedded server, the start-up check, Microsoft Entra ID);
- ``offline_model``: the model that needs no service;
- ``config``: every setting, read in one place.

``python -m lab11_persistence`` and the ``lab11`` command run the lab's ``app.py``.
"""
