"""Before the menu: does REDIS_URL lead to a Redis server that accepts us?

A wrong host, a wrong access key and a TLS mismatch (``redis://`` on Azure's TLS port
6380, or a certificate nobody told us to trust) are the usual first-run mistakes with
Azure Cache for Redis. Checking them here turns each into one line at start-up, instead
of a menu that fails at the first message.

Standard library only, on purpose: importing redis-py costs about a third of a second,
and the app shows its menu before any heavy import. So this speaks just enough of the
Redis protocol (RESP) for ``AUTH`` and ``PING``. Messages name host and port, never a
password or token.

With Microsoft Entra ID sign-in (``REDIS_ENTRA_ID=1``) the URL has no password: the app signs in
first (``entra_id.probe_credentials``) and hands the user name and token over, so the check
still answers "does this server accept us", now for the identity that signed in.

A ``redis+sentinel://`` URL is asked of its sentinels first (``SENTINEL MASTERS``), and
the primary they name is checked. With ``min_replicas`` (``LAB11_MIN_REPLICAS``) the check also reads
how many replicas the primary has (``ROLE``): fewer is ``TooFewReplicasError``. On a cluster
(``cluster=True``, REDIS_CLUSTER) every primary is counted: the node the URL names lists them
(``CLUSTER SLOTS``), and each is asked ``ROLE`` on a connection of its own, signed in as the URL says.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from lab11_persistence.redis_history.sentinel_url import SentinelURL, is_sentinel_url, parse_sentinel_url
from lab11_persistence.redis_history.urls import describe_redis_url

TIMEOUT_SECONDS = 5.0
TLS_PORT_HINT = "if it is a TLS port (Azure Cache for Redis: 6380), use rediss://"


class RedisProbeError(Exception):
    """REDIS_URL does not lead to a Redis that accepts us (one line, no secret)."""


class TooFewReplicasError(RedisProbeError):
    """The server has fewer replicas than LAB11_MIN_REPLICAS asks to confirm each turn (a setting to fix)."""


class UntrustedCertificateError(RedisProbeError):
    """The server's TLS certificate is not signed by a CA this machine (or REDIS_CA_CERT) trusts."""


def probe_redis(
    url: str,
    *,
    ca_cert: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
    token_credentials: tuple[str, str] | None = None,
    min_replicas: int = 0,
    cluster: bool = False,
) -> None:
    """Connect, authenticate as the URL says, PING; raise RedisProbeError saying what is wrong.

    ``token_credentials``: ``(user name, token)`` from Microsoft Entra ID sign-in, sent instead of
    the URL's credentials (it has none then). ``min_replicas``: how many replicas the server must have;
    with ``cluster`` (REDIS_CLUSTER), how many every primary of the cluster must have.
    """
    if is_sentinel_url(url):
        url = _primary_of(url, ca_cert, timeout)
    where = describe_redis_url(url)
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "localhost", parts.port or 6379
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
    except ValueError:
        raise RedisProbeError("REDIS_URL is not a valid URL: expected redis://:PASSWORD@host:port/0.") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise RedisProbeError("REDIS_URL must start with redis://, rediss:// or unix://.")

    auth: list[str] | None = None
    if token_credentials is not None:
        auth = ["AUTH", *token_credentials]
    elif password is not None:
        auth = ["AUTH", username, password] if username else ["AUTH", password]
    sign_in = _SignIn(
        scheme=parts.scheme,
        context=_tls_context(ca_cert) if parts.scheme == "rediss" else None,
        auth=auth,
        sent="token" if token_credentials is not None else "password" if password is not None else None,
        timeout=timeout,
    )
    primaries: list[tuple[str, int]] = []
    with sign_in.open(host, port, where, path=parts.path) as connection:
        if min_replicas and cluster:
            primaries = cluster_primaries(_ask(connection, ["CLUSTER", "SLOTS"], where), host)
        elif min_replicas:
            found = replicas_in_role(_ask(connection, ["ROLE"], where))
            if found is not None and found < min_replicas:  # a replica node is not judged (see replicas_in_role)
                raise TooFewReplicasError(
                    f"LAB11_MIN_REPLICAS={min_replicas} but Redis at {where} has {found} replica"
                    f"{'s' if found != 1 else ''} connected: every turn would be reported as unconfirmed "
                    "(add replicas, or lower LAB11_MIN_REPLICAS)."
                )
    if primaries:
        counts: dict[str, int | None] = {}
        for primary_host, primary_port in primaries:
            address = _address(primary_host, primary_port)
            with sign_in.open(primary_host, primary_port, f"the cluster's primary {address}") as connection:
                counts[address] = replicas_in_role(_ask(connection, ["ROLE"], address))
        judge_cluster_replicas(counts, min_replicas)


class _SignIn:
    """How to open a connection the way the URL says (TLS or not), sign in and PING: for the node the URL
    names, and on a cluster for each of its primaries (same credentials: a cluster's ACL is per node)."""

    def __init__(
        self, *, scheme: str, context: ssl.SSLContext | None, auth: list[str] | None, sent: str | None, timeout: float
    ) -> None:
        """``auth``: the AUTH command to send first, if any; ``sent``: what it signs in with (``_judge``)."""
        self.scheme, self.context, self.sent, self.timeout = scheme, context, sent, timeout
        self.commands = [*([auth] if auth else []), ["PING"]]

    @contextmanager
    def open(self, host: str, port: int, where: str, *, path: str = "") -> Iterator[socket.socket]:
        try:
            plain = _open(self.scheme, path, host, port, self.timeout)
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
            raise RedisProbeError(
                f"Cannot reach Redis at {where} ({reason}). Check REDIS_URL, or unset it to use the embedded server."
            ) from None
        with plain:  # the TLS socket takes over the connection, so it is closed too
            connection = plain if self.context is None else _start_tls(plain, self.context, host, where)
            with connection:
                _judge(_exchange(connection, self.commands), where, sent=self.sent)
                yield connection


def replicas_in_role(role: Any) -> int | None:
    """How many replicas a ``ROLE`` reply lists (the primary lists only those online: connected, past their
    first sync), or None for a node that is not a primary: it is not judged (on a cluster the URL may name a
    replica, and its primary's replicas are not its own). ROLE, not INFO: a narrower grant for the app's user."""
    if not isinstance(role, list) or not role or role[0] != "master":
        return None
    return len(role[2]) if len(role) > 2 and isinstance(role[2], list) else 0


def cluster_primaries(slots: Any, named_host: str) -> list[tuple[str, int]]:
    """Each primary that serves slots, once, from a ``CLUSTER SLOTS`` reply (RESP2): ``[[start, end, [host,
    port, id, ...], replica, ...], ...]``. An empty or ``?`` host means the node the URL names, as for redis-py."""
    primaries: list[tuple[str, int]] = []
    for entry in slots if isinstance(slots, list) else []:
        if not isinstance(entry, list) or len(entry) < 3 or not isinstance(entry[2], list) or len(entry[2]) < 2:
            continue
        host, port = str(entry[2][0] or ""), int(entry[2][1])
        primary = (named_host if host in ("", "?") else host, port)
        if primary not in primaries:
            primaries.append(primary)
    if not primaries:
        raise RedisProbeError("The cluster's slot map (CLUSTER SLOTS) names no primary: is it a cluster?")
    return primaries


def judge_cluster_replicas(counts: dict[str, int | None], min_replicas: int) -> None:
    """``counts``: each primary's address and its replicas (None: it answered as a replica, so a failover is
    under way and the node that took its slots is judged instead, or the next start judges it). Every primary
    must have ``min_replicas``: a turn is confirmed by the replicas of its slot's primary."""
    judged = {address: found for address, found in counts.items() if found is not None}
    short = {address: found for address, found in judged.items() if found < min_replicas}
    if not short:
        return
    weakest = min(short, key=lambda address: (short[address], address))
    found = short[weakest]
    others = f" ({len(short)} of {len(judged)} primaries have fewer than {min_replicas})" if len(short) > 1 else ""
    raise TooFewReplicasError(
        f"LAB11_MIN_REPLICAS={min_replicas} but a primary of the cluster at {weakest} has {found} replica"
        f"{'s' if found != 1 else ''} connected{others}: turns written to its slots would be reported as "
        "unconfirmed (add replicas, or lower LAB11_MIN_REPLICAS)."
    )


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _primary_of(url: str, ca_cert: str | None, timeout: float) -> str:
    """The ``redis://`` (or ``rediss://``) URL of the primary the sentinels name, with the URL's credentials."""
    try:
        where = parse_sentinel_url(url)
    except ValueError as error:
        raise RedisProbeError(f"REDIS_URL: {error}") from None
    problems: list[str] = []
    untrusted: list[UntrustedCertificateError] = []
    for host, port in where.sentinels:
        try:
            address = _ask_sentinel(where, host, port, ca_cert, timeout)
        except UntrustedCertificateError as error:
            untrusted.append(error)
            problems.append(str(error))
            continue
        except RedisProbeError as error:  # it names the sentinel
            problems.append(str(error).rstrip("."))
            continue
        except OSError as error:
            problems.append(f"{host}:{port} {error.strerror or error}")
            continue
        if address is None:
            raise RedisProbeError(
                f"The sentinel at {host}:{port} monitors no service named {where.service!r}: "
                "check the name after the hosts in REDIS_URL."
            )
        primary_host, primary_port = address
        credentials = ""
        if where.password is not None:
            credentials = f"{quote(where.username or '', safe='')}:{quote(where.password, safe='')}@"
        netloc = f"[{primary_host}]" if ":" in primary_host else primary_host
        return f"{'rediss' if where.tls else 'redis'}://{credentials}{netloc}:{primary_port}/{where.db}"
    if len(untrusted) == len(where.sentinels):  # one CA signs them all, as a rule: the first one says it all
        raise untrusted[0]
    raise RedisProbeError(f"No sentinel of REDIS_URL answered ({'; '.join(problems)}).")


def _ask_sentinel(
    where: SentinelURL, host: str, port: int, ca_cert: str | None, timeout: float
) -> tuple[str, int] | None:
    address = f"sentinel {host}:{port}"
    with socket.create_connection((host, port), timeout=timeout) as plain:
        connection = plain if not where.tls else _start_tls(plain, _tls_context(ca_cert), host, address)
        with connection:
            if where.password is not None:
                credentials = [where.username, where.password] if where.username else [where.password]
                _ask(connection, ["AUTH", *credentials], address)
            # SENTINEL MASTERS, as redis-py's discovery asks: the one command the app's user needs on a sentinel
            reply = _ask(connection, ["SENTINEL", "MASTERS"], address)
    for entry in reply if isinstance(reply, list) else []:
        fields = dict(zip(entry[::2], entry[1::2], strict=False)) if isinstance(entry, list) else {}
        if fields.get("name") == where.service:
            return str(fields["ip"]), int(fields["port"])
    return None


def _ask(connection: socket.socket, command: list[str], where: str) -> Any:
    """One command and its whole reply (RESP2: a status, a number, a bulk string, an array, or nil)."""
    try:
        connection.sendall(_encode(command))
        reader = connection.makefile("rb")
        reply = _read_reply(reader)
    except (OSError, ValueError, IndexError):
        raise RedisProbeError(f"The server at {where} did not answer as Redis does.") from None
    if isinstance(reply, _ErrorReply):
        raise RedisProbeError(f"{where} answered {command[0]} with an error: {_first_words(str(reply))}")
    return reply


class _ErrorReply(str):
    pass


def _read_reply(reader: Any) -> Any:
    line = reader.readline().decode(errors="replace").rstrip("\r\n")
    kind, rest = line[:1], line[1:]
    if kind == "+":
        return rest
    if kind == "-":
        return _ErrorReply(rest)
    if kind == ":":
        return int(rest)
    if kind == "$":
        if int(rest) < 0:
            return None
        data = reader.read(int(rest) + 2)
        return data[:-2].decode(errors="replace")
    if kind == "*":
        return None if int(rest) < 0 else [_read_reply(reader) for _ in range(int(rest))]
    raise ValueError(f"not a RESP reply: {line[:20]!r}")


def _tls_context(ca_cert: str | None) -> ssl.SSLContext:
    """The system's trusted CAs, or REDIS_CA_CERT's; certificate and host name are always checked."""
    try:
        return ssl.create_default_context(cafile=ca_cert)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or type(error).__name__
        raise RedisProbeError(f"REDIS_CA_CERT ({ca_cert}) is not a readable PEM CA bundle ({reason}).") from None


def _open(scheme: str, path: str, host: str, port: int, timeout: float) -> socket.socket:
    if scheme != "unix":
        return socket.create_connection((host, port), timeout=timeout)
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(timeout)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        raise
    return connection


def _start_tls(connection: socket.socket, context: ssl.SSLContext, host: str, where: str) -> ssl.SSLSocket:
    try:
        return context.wrap_socket(connection, server_hostname=host)
    except ssl.SSLCertVerificationError as error:
        reason = error.verify_message or "certificate verify failed"
        raise UntrustedCertificateError(
            f"Redis at {where} has a TLS certificate this machine does not trust ({reason}). "
            "Set REDIS_CA_CERT to the CA bundle that signed it."
        ) from None
    except OSError as error:  # ssl.SSLError, or no answer to the handshake at all
        reason = getattr(error, "reason", None) or error.strerror or "no answer to the handshake"
        raise RedisProbeError(
            f"No TLS handshake with Redis at {where} ({reason}); if it is a plain port, use redis://."
        ) from None


def _encode(command: list[str]) -> bytes:
    parts = [f"*{len(command)}\r\n".encode()]
    for argument in command:
        data = argument.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _exchange(connection: socket.socket, commands: list[list[str]]) -> list[str]:
    """Send the commands in one go; the first line of each reply ('' once the server hangs up)."""
    try:
        connection.sendall(b"".join(_encode(command) for command in commands))
        received = b""
        while received.count(b"\r\n") < len(commands):
            chunk = connection.recv(4096)
            if not chunk:
                break
            received += chunk
    except OSError:  # reset or timed out: the server did not speak Redis to us
        pass
    lines = received.decode(errors="replace").split("\r\n")
    return [*lines[: len(commands)], *[""] * (len(commands) - len(lines))][: len(commands)]


def _judge(replies: list[str], where: str, *, sent: str | None) -> None:
    """``sent``: what the first command signed in with (``password``, ``token``), or None."""
    for position, reply in enumerate(replies):
        if reply.startswith("+"):
            continue
        if not reply or not reply.startswith("-"):
            raise RedisProbeError(f"The server at {where} did not answer as Redis does; {TLS_PORT_HINT}.")
        message = reply[1:].strip()
        if message.startswith("NOAUTH"):
            raise RedisProbeError(
                f"Redis at {where} needs a password: put it in REDIS_URL (redis://:PASSWORD@host:port/0)."
            )
        if sent == "token" and position == 0:
            raise RedisProbeError(
                f"Redis at {where} refused the Microsoft Entra ID sign-in ({_first_words(message)}): "
                "give the identity you signed in as access to this cache (a data access policy in the Azure portal)."
            )
        if sent == "password" and position == 0:
            raise RedisProbeError(f"Redis at {where} refused the password in REDIS_URL ({_first_words(message)}).")
        raise RedisProbeError(f"Redis at {where} answered with an error: {_first_words(message)}")


def _first_words(message: str) -> str:
    """The error's code and its first few words: enough to tell WRONGPASS from a disabled user."""
    words = message.rstrip(".").split()
    return " ".join(words[:8]) + ("…" if len(words) > 8 else "")
