"""What a Redis URL says, without its secrets: the one place a URL is cut down for showing or storing.

Standard library only, so the app's start-up (``config``, ``redis_probe``) can use it before redis-py
is imported, and the store (``redis_connection``) uses the same rules.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from lab11_persistence.redis_history.sentinel_url import is_sentinel_url, parse_sentinel_url

__all__ = ["describe_redis_url", "url_without_credentials"]


def url_without_credentials(url: str) -> str:
    """The same URL with any username and password removed (safe to store or show)."""
    if is_sentinel_url(url):
        return parse_sentinel_url(url).public_url  # ValueError (one line, no secret) for a bad one
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def describe_redis_url(url: str) -> str:
    """Where a Redis URL points (``host:port/db`` or the socket path), for messages; never its credentials."""
    try:
        if is_sentinel_url(url):
            return parse_sentinel_url(url).location
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return f"unix socket {parts.path}"
        host = parts.hostname or "localhost"
        port = parts.port or 6379
    except ValueError:  # a port that is not a number, an unbalanced IPv6 bracket
        return "an unparsable URL"
    return f"{host}:{port}/{parts.path.lstrip('/') or '0'}"
