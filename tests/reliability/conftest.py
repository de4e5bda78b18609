"""Fixtures for the reliability scenarios: real servers on loopback, stopped after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.settings import FIGURES
from tests.support.tls import Certificates, TLSRedisProcess, make_certificates, require_tls_server


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    """A fresh self-signed CA and a server certificate for localhost and 127.0.0.1."""
    return make_certificates(tmp_path / "certs")


@pytest.fixture
def tls_capable() -> None:
    """Skip (saying how to fix it) only when Debian's redis-server is missing."""
    require_tls_server()


@pytest.fixture
def tls_server(tmp_path: Path, certificates: Certificates, tls_capable: None) -> Iterator[TLSRedisProcess]:
    """A TLS-only redis-server on 127.0.0.1 with the plain port switched off."""
    server = TLSRedisProcess(tmp_path / "tls-redis", certificates).start()
    yield server
    server.kill()


# -- figures for docs/reliability.md ---------------------------------------------------


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for scenario, text in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{scenario}: {text}")
