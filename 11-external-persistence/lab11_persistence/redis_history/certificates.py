"""A TLS certificate nobody trusts, told apart from a lost connection: no retry, and no wait for a failover,
makes it trusted. Its own module because both the connection's retry policy and the sentinel discovery ask it.
Framework-free; nothing here prints."""

from __future__ import annotations

import ssl

__all__ = ["untrusted_certificate"]


def untrusted_certificate(error: BaseException) -> bool:
    """The server's TLS certificate was refused (no trusted CA signed it, or it names another host), here or as
    the cause of ``error``: no retry and no wait for a failover makes it trusted."""
    seen: BaseException | None = error
    for _ in range(8):  # redis-py wraps the ssl module's error once or twice; a cycle is not followed forever
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
