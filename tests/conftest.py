"""Fixtures shared by every test: fakeredis, a real Valkey server and Valkey Cluster, a loopback model server,
the real app in a pseudo-terminal; and the layers every test belongs to (tests/support/layers.py).

Nothing heavy is imported here: a core test runs without the Agent Framework being imported for it.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import fakeredis
import pytest

from tests.support.backends import FAKEREDIS, VALKEY, RedisBackend
from tests.support.cluster import FIGURES, ValkeyCluster
from tests.support.layers import LAYERS, forbid_outside_work, layers_of, unlayered
from tests.support.model_server import ModelServer
from tests.support.round_trips import record_socket_writes
from tests.support.valkey import ValkeyProcess

if TYPE_CHECKING:
    from tests.support.app_driver import LabApp


def _runs_on_the_labs_release() -> bool:
    """The lab's Agent Framework is a 1.0.0 pre-release (1.0.0b260130); tests/v1 needs 1.x (in .venv-v1).
    Read from the installed distribution's metadata, so that loading this file imports no framework."""
    try:
        version = metadata.version("agent-framework-core")
    except metadata.PackageNotFoundError:
        return True  # no framework at all: tests/v1 cannot run here either
    return version.startswith("1.0.0b")


# tests/v1 needs Agent Framework 1.x: `python3 dev.py test` runs it in .venv-v1 after the main suite.
collect_ignore = ["v1"] if _runs_on_the_labs_release() else []


# -- layers ----------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    # pyproject registers the same markers with their descriptions; this keeps --strict-markers
    # honest when a test directory is run with another rootdir's configuration.
    for name, what in LAYERS.items():
        config.addinivalue_line("markers", f"{name}: {what}")
    # A run started in the background by a non-interactive shell inherits SIGINT ignored, and so would every
    # program the tests start: the Ctrl-C tests need what a user's terminal gives, SIGINT's default action.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Before `-m` deselects anything: every collected test must carry exactly one layer."""
    problems = unlayered(items)
    if problems:
        shown = "\n  ".join(problems[:40]) + (f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else "")
        raise pytest.UsageError(
            f"{len(problems)} test(s) without exactly one layer (markers: {', '.join(LAYERS)}; "
            f"see the README's section for contributors):\n  {shown}"
        )


@pytest.fixture(autouse=True)
def _fast_tests_start_nothing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A test in the fast layer that starts a process, connects a socket or opens a terminal fails, saying so
    (even when the code under test caught the refusal)."""
    if layers_of(request.node) != {"fast"}:
        yield
        return
    attempts = forbid_outside_work(monkeypatch)
    yield
    assert not attempts, f"a fast test tried to {', '.join(sorted(set(attempts)))}; give it the layer it needs"


@pytest.fixture
async def fake_redis() -> AsyncIterator[fakeredis.FakeAsyncRedis]:
    """An in-process Redis double for fast unit tests (no server, no network)."""
    client = fakeredis.FakeAsyncRedis(decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def redis_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ValkeyProcess]:
    """A real valkey-server of its own on a free loopback port (append-only, fsync always), stopped after the test.

    A test marked ``shares_a_server`` (it changes no setting of the server, neither stops nor kills it, nor
    counts its clients) gets the run's shared server instead, emptied first: no process of its own to start.
    """
    if request.node.get_closest_marker("shares_a_server"):
        shared = request.getfixturevalue("shared_redis_server")
        with shared.client() as admin:
            admin.flushall()
        yield shared
        return
    server = ValkeyProcess(tmp_path / "valkey").start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def shared_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyProcess]:
    """One valkey-server for the run (one per xdist worker), without an append-only file: for tests that
    need the real engine but no server of their own (``redis_backend`` empties it before each test)."""
    server = ValkeyProcess(tmp_path_factory.mktemp("shared-valkey"), persistent=False).start()
    yield server
    server.kill()


@pytest.fixture(
    params=[
        pytest.param(FAKEREDIS, marks=pytest.mark.fast),
        pytest.param(VALKEY, marks=pytest.mark.server),
    ]
)
async def redis_backend(request: pytest.FixtureRequest) -> AsyncIterator[RedisBackend]:
    """An engine-agnostic test runs twice: on fakeredis (fast layer) and on the shared real server (server layer)."""
    server = request.getfixturevalue("shared_redis_server") if request.param == VALKEY else None
    backend = RedisBackend(request.param, server)
    backend.flush()
    yield backend
    await backend.aclose()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    """Three primaries and three replicas on loopback, started once per run (tests/cluster and tests/v1
    share it); every process is killed afterwards."""
    started = time.monotonic()
    cluster = ValkeyCluster(tmp_path_factory.mktemp("valkey-cluster")).start()
    FIGURES.append(f"cluster of 6 nodes formed and healthy in {time.monotonic() - started:.1f}s")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def key_prefix() -> str:
    """A prefix of its own per test: the cluster is shared, the threads are not."""
    return f"lab11-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def socket_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, list[str]]]:
    """Every request the async clients write during the test, as (port, command names): one entry, one round trip."""
    return record_socket_writes(monkeypatch)


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """An OpenAI-compatible chat server on loopback that records every request (see tests/support)."""
    with ModelServer() as server:
        yield server


# -- the real program (tests/app, tests/cluster, tests/reliability, tests/store) --------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Where the app under test keeps its embedded server's data."""
    return tmp_path / "data"


@pytest.fixture
def app_env(tmp_path: Path, data_dir: Path) -> dict[str, str]:
    from tests.support import app_driver

    return app_driver.app_env(tmp_path / "home", data_dir)


@pytest.fixture
def start_app(tmp_path: Path, app_env: dict[str, str], data_dir: Path) -> Iterator[Callable[..., LabApp]]:
    """Start the real program (from a working directory outside the project); all runs are
    killed and the embedded server stopped after the test."""
    from tests.support.app_driver import LabApp, stop_embedded_server

    runs: list[LabApp] = []
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()

    def start(extra_env: dict[str, str] | None = None, argv: list[str] | None = None) -> LabApp:
        env = {**app_env, **(extra_env or {})}
        app = LabApp(env, workdir, argv)
        runs.append(app)
        return app

    yield start
    for app in runs:
        if app.child.isalive():
            app.kill()
    stop_embedded_server(data_dir)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("Redis Cluster figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
