"""``lab11 new-key [ID]``: a fresh ``ID:KEY`` entry for ``LAB11_ENCRYPTION_KEYS``, printed (no Redis, no settings)."""

from __future__ import annotations

import argparse
from typing import IO

from lab11_persistence.config import EXIT_OK
from lab11_persistence.console.command_line import UsageError
from lab11_persistence.encryption_setting import KeyringError


def cmd_new_key(args: argparse.Namespace, out: IO[str]) -> int:
    """Print a fresh ``ID:KEY`` entry for ``LAB11_ENCRYPTION_KEYS`` (no Redis, no settings needed)."""
    from lab11_persistence.redis_history.sealing import new_key_entry  # loads cryptography: only for this command

    try:
        out.write(new_key_entry(args.id) + "\n")
    except KeyringError as error:
        raise UsageError(str(error)) from None
    return EXIT_OK
