"""The terminal program: the menu's terminal side (``menu``, ``terminal``, ``inert_text``), start-up
(``startup``), words both print (``wording``), and the thread commands (``lab11 threads | show | export |
import | delete | migrate | prune``): run by ``commands``, parsed by ``command_line``, handled in
``listing_commands``, ``archive_commands``, ``deleting_commands`` and ``migrate_command``."""
