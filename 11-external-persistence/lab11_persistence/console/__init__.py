"""The terminal program: the menu's terminal side (``menu``, ``terminal``, ``inert_text``), start-up
(``startup``), and the thread commands (``commands``: ``lab11 threads | show | export | import | delete``)."""
