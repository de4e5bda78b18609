"""Keeps a Python process on this machine: reaching any address that is not loopback fails at once.

Python imports ``sitecustomize`` at start-up from the first folder on ``sys.path`` that has one,
so every process started with this folder on ``PYTHONPATH`` (the app, and the fake ``az`` it
runs) is guarded when ``LAB11_NETWORK_LOG`` names a file: each refused attempt is written there
before it fails, and ``<log>.loaded`` gets one line per guarded process. In-process tests call
``install()`` themselves.

Name look-ups are refused too (resolving ``login.microsoftonline.com`` would already ask a DNS
server elsewhere), except ``localhost`` and literal addresses. A guard that sees an attempt raises
before the real ``connect`` runs, so nothing is ever sent.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Callable
from typing import Any

LOG_VARIABLE = "LAB11_NETWORK_LOG"
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo
_real_gethostbyname = socket.gethostbyname
_real_gethostbyname_ex = socket.gethostbyname_ex


class OffMachineConnection(OSError):
    """An attempt to reach an address that is not on this machine (the test guard refused it)."""


def is_on_this_machine(host: Any) -> bool:
    """``localhost``, a loopback address, or no host at all (a wildcard ``getaddrinfo`` for binding)."""
    if host is None or host in ("", "localhost", b"localhost"):
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        return ipaddress.ip_address(text.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def install(record: Callable[[str], None]) -> Callable[[], None]:
    """Guard this process; ``record`` gets one line per refused attempt. Returns the undo."""

    def refuse(what: str) -> OffMachineConnection:
        record(what)
        return OffMachineConnection(errno.ENETUNREACH, f"blocked by the test's loopback guard: {what}")

    def off_machine(sock: socket.socket, address: Any) -> bool:
        inet = sock.family in (socket.AF_INET, socket.AF_INET6)
        return inet and not (isinstance(address, tuple) and is_on_this_machine(address[0]))

    def connect(self: socket.socket, address: Any) -> None:
        if off_machine(self, address):
            raise refuse(f"connect {address!r}")
        return _real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if off_machine(self, address):
            raise refuse(f"connect_ex {address!r}")
        return _real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_on_this_machine(host):
            raise refuse(f"getaddrinfo {host!r}")
        return _real_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        if not is_on_this_machine(host):
            raise refuse(f"gethostbyname {host!r}")
        return _real_gethostbyname(host)

    def gethostbyname_ex(host: str) -> Any:
        if not is_on_this_machine(host):
            raise refuse(f"gethostbyname_ex {host!r}")
        return _real_gethostbyname_ex(host)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex

    def undo() -> None:
        socket.socket.connect = _real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = _real_getaddrinfo
        socket.gethostbyname = _real_gethostbyname
        socket.gethostbyname_ex = _real_gethostbyname_ex

    return undo


def _install_from_environment() -> None:
    log = os.environ.get(LOG_VARIABLE)
    if not log:
        return

    def record(what: str) -> None:
        with open(log, "a", encoding="utf-8") as file:
            file.write(f"pid {os.getpid()}: {what}\n")

    install(record)
    with open(log + ".loaded", "a", encoding="utf-8") as file:
        file.write(f"{os.getpid()}\n")


_install_from_environment()
