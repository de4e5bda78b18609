"""The ``redis+sentinel://`` URL: where the sentinels are, which service, which database, and the
credentials, parsed once, shown without its secrets.

Standard library only, like ``urls``, so that the app's start-up can read and describe the URL before
redis-py is imported (``sentinel`` opens the client).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

__all__ = [
    "DEFAULT_SENTINEL_PORT",
    "SENTINEL_SCHEMES",
    "SentinelURL",
    "is_sentinel_url",
    "parse_sentinel_url",
]

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}  # scheme -> TLS
DEFAULT_SENTINEL_PORT = 26379
URL_FORM = "redis+sentinel://[user:password@]host:port[,host:port...]/SERVICE[/db]"


@dataclass(frozen=True)
class SentinelURL:
    """What a sentinel URL says: where the sentinels are, which service's primary, which database.

    The credentials sign in to the sentinels and to the primary alike; the repr shows neither.
    """

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    @property
    def public_url(self) -> str:
        """The URL without its credentials (safe to show or store)."""
        scheme = "rediss+sentinel" if self.tls else "redis+sentinel"
        hosts = ",".join(f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in self.sentinels)
        return f"{scheme}://{hosts}/{self.service}/{self.db}"

    @property
    def location(self) -> str:
        """For messages: the service and where its sentinels are."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"service {self.service} via sentinels {hosts}, db {self.db}"


def is_sentinel_url(url: str) -> bool:
    return url.partition("://")[0].lower() in SENTINEL_SCHEMES


def parse_sentinel_url(url: str) -> SentinelURL:
    """``redis+sentinel://[user:password@]host:port[,host:port...]/SERVICE[/db]`` (``rediss+sentinel`` for TLS).

    A port left out is the sentinel's default, 26379. Credentials are percent-decoded and may hold any
    character (the last ``@`` ends them). A URL that does not fit raises ValueError with one line that
    names what is wrong and never repeats the credentials.
    """
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in SENTINEL_SCHEMES:
        raise ValueError(
            f"Not a sentinel URL: it must start with redis+sentinel:// or rediss+sentinel:// ({URL_FORM})."
        )
    credentials, at, after_credentials = rest.rpartition("@")
    username = password = None
    if at:
        user_text, colon, password_text = credentials.partition(":")
        username = unquote(user_text) or None
        password = unquote(password_text) if colon else None
        if not colon and username:  # redis://secret@host means a password alone, as redis-py reads it
            username, password = None, username
    hosts_text, slash, path = after_credentials.partition("/")
    if "?" in path or "#" in path or "?" in hosts_text or "#" in hosts_text:
        raise ValueError(f"A sentinel URL takes no query or fragment ({URL_FORM}).")
    sentinels = tuple(_host_and_port(entry) for entry in hosts_text.split(",")) if hosts_text else ()
    if not sentinels:
        raise ValueError(f"A sentinel URL needs at least one sentinel host:port ({URL_FORM}).")
    segments = path.split("/") if slash else []
    if segments and segments[-1] == "":
        segments.pop()  # a trailing slash
    if not segments or not segments[0]:
        raise ValueError(f"A sentinel URL needs the service name the sentinels monitor, after the hosts ({URL_FORM}).")
    if len(segments) > 2:
        raise ValueError(f"A sentinel URL's path is /SERVICE or /SERVICE/db, nothing more ({URL_FORM}).")
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise ValueError(f"The database in a sentinel URL is a number (0, 1, ...), not {segments[1][:20]!r}.")
        db = int(segments[1])
    return SentinelURL(
        sentinels=sentinels,
        service=unquote(segments[0]),
        db=db,
        username=username,
        password=password,
        tls=SENTINEL_SCHEMES[scheme.lower()],
    )


def _host_and_port(entry: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; the error quotes the entry (credentials are not in it)."""
    entry = entry.strip()
    if entry.startswith("["):
        host, bracket, tail = entry[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ValueError(f"A sentinel address has an unbalanced IPv6 bracket: {entry[:60]!r}.")
        port_text = tail[1:] if tail else ""
    else:
        host, _, port_text = entry.partition(":")
    if not host:
        raise ValueError(f"A sentinel address has no host: {entry[:60]!r} ({URL_FORM}).")
    if not port_text:
        return host, DEFAULT_SENTINEL_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"A sentinel port is a number from 1 to 65535, not {port_text[:20]!r}.")
    return host, int(port_text)
