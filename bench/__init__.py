"""Benchmarks for lab 11: this project's Redis store beside the lab's algorithm and Microsoft's store.

Run from the repository root with ``python -m bench`` (``--help`` lists the options).

The lab's folder goes on ``sys.path`` here, once, as running ``python app.py`` puts it there, so every
part imports the lab's modules (``app``, ``redis_chat_message_store``, ``lab11_persistence``) by name.
"""

import sys
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent.parent / "11-external-persistence"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))
