"""A model that needs no service: ``reasoning`` (what a conversation states and asks, framework-free),
and a chat client for each Agent Framework generation (``lab_client``, ``v1_client``)."""
