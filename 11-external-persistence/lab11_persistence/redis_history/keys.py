"""How threads are named: ids as the lab's store and Microsoft's name them."""

from __future__ import annotations

import uuid

__all__ = ["new_thread_id"]


def new_thread_id() -> str:
    """``thread_<uuid4>``: the id the lab's store (and Microsoft's) gives a thread nobody named."""
    return f"thread_{uuid.uuid4()}"
