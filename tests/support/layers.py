"""The suite's layers: every test belongs to exactly one, and the fast layer starts nothing.

A layer is a registered marker (pyproject's ``[tool.pytest.ini_options] markers``), so each runs
alone: ``pytest -m fast``, ``pytest -m server`` and so on. ``unlayered`` names the tests that carry
no layer or more than one (a test added without a marker fails the collection, naming itself);
``forbid_outside_work`` makes "fast" a promise the run keeps: no process, no network, no terminal.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterable

import pytest

# What each layer needs, in the order a contributor opts into them (the README's table).
LAYERS: dict[str, str] = {
    "fast": "fakeredis and the offline model only: no server process, no network, no pseudo-terminal",
    "server": "a real Valkey server on loopback (the store and the commands against the real engine)",
    "app": "the real program: app.py in a pseudo-terminal, or the lab11 command in a subprocess",
    "cluster": "the six-node Valkey Cluster (started once per run)",
    "faults": "crashes, lost connections, TLS and hostile input against real servers",
    "packaging": "the wheel, dev.py, the requirement files and the docs, checked as a user meets them",
    "bench": "the benchmarks' smoke tests",
    "v1": "Agent Framework 1.x (run in .venv-v1)",
    "sentinel": "a Sentinel deployment on loopback: a primary, a replica and three sentinels (failover, WAIT)",
}

# Fixtures that start a process or open a socket: a fast test that asks for one is in the wrong layer.
NOT_FAST_FIXTURES = frozenset(
    {"redis_server", "redis_cluster", "start_app", "model_server", "tls_server", "whole_cluster_afterwards"}
    | {"sentinel_deployment", "sentinel", "primary"}
)


def layers_of(item: pytest.Item) -> set[str]:
    return {marker.name for marker in item.iter_markers() if marker.name in LAYERS}


def unlayered(items: Iterable[pytest.Item]) -> list[str]:
    """One line per test that has no layer, more than one, or a fast marker on a test that starts a server."""
    problems = []
    for item in items:
        layers = layers_of(item)
        if not layers:
            problems.append(f"{item.nodeid}: no layer marker")
        elif len(layers) > 1:
            problems.append(f"{item.nodeid}: several layers ({', '.join(sorted(layers))})")
        elif layers == {"fast"}:
            starts = sorted(NOT_FAST_FIXTURES & set(getattr(item, "fixturenames", ())))
            if starts:
                problems.append(f"{item.nodeid}: marked fast but uses {', '.join(starts)}")
    return problems


class OutsideFastLayer(AssertionError):
    """A fast test tried to start a process, reach the network or open a pseudo-terminal."""


def forbid_outside_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """For the length of one fast test: starting a process, connecting an inet socket or forking a
    terminal raises ``OutsideFastLayer`` (loopback included: a server is a server). Each attempt is
    also listed in the returned list, so that code which turns every error into "unavailable" cannot
    hide one."""
    attempts: list[str] = []

    def refuse(what: str):  # type: ignore[no-untyped-def]
        def refused(*_args: object, **_kwargs: object) -> None:
            attempts.append(what)
            raise OutsideFastLayer(f"a fast test may not {what}; mark it with the layer it needs")

        return refused

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def inet(sock: socket.socket) -> bool:
        return sock.family in (socket.AF_INET, socket.AF_INET6)

    def connect(self: socket.socket, address: object) -> None:
        if inet(self):
            refuse("connect to the network")()
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        if inet(self):
            refuse("connect to the network")()
        return real_connect_ex(self, address)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("start a process"))
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    for name, what in (("forkpty", "open a pseudo-terminal"), ("fork", "fork a process")):
        if hasattr(os, name):  # neither exists on Windows, nor does the pty module
            monkeypatch.setattr(os, name, refuse(what))
    if os.name == "posix":
        import pty

        monkeypatch.setattr(pty, "fork", refuse("open a pseudo-terminal"))
    return attempts
