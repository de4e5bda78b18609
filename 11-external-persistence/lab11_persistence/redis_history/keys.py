"""How threads are named: ids as the lab's store and Microsoft's name them, and the two key layouts.

- The lab's layout (``legacy``): ``{key_prefix}:{thread_id}``, the key of the lab's store, of
  Microsoft's 1.0.0b260130 store and of Microsoft's 1.x provider with ``key_format="legacy"``.
- Microsoft's scoped layout (``scoped``, the default of ``agent_framework_redis.RedisHistoryProvider``
  1.0.0b261022): ``{key_prefix}|v2|{tenant}|{application}|{agent}|{source}|{session}``, each part a
  segment encoded as ``agent_framework._filesystem._storage_key_segment`` of agent-framework-core
  1.23.0 encodes it (re-implemented here; tests/v1 compares every key with Microsoft's provider's).

Nothing here imports the Agent Framework or redis-py (the app's first menu shows a key from it).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

__all__ = [
    "DEFAULT_SOURCE_ID",
    "LEGACY",
    "SCOPED",
    "SIDE_KEYS",
    "KeyLayout",
    "key_names_thread",
    "new_thread_id",
    "segment",
]

LEGACY, SCOPED = "legacy", "scoped"
DEFAULT_SOURCE_ID = "redis_memory"  # the provider's source_id when none is given (theirs and ours)
SCOPED_VERSION = "v2"
ABSENT = "~none"  # an absent tenant or agent
KEY_PREFIX_PREFIX, TENANT_PREFIX, APPLICATION_PREFIX = "~redis-key-prefix-", "~redis-tenant-", "~redis-application-"
AGENT_PREFIX, SOURCE_PREFIX, SESSION_PREFIX = "~redis-agent-", "~redis-source-", "~redis-session-"
#: Past this length an encoded segment becomes a SHA-256 digest (as the framework's helper does).
MAX_ENCODED_SEGMENT = 180
DIGEST_MARKER = "sha256-"
#: Names a segment may not take literally (they are reserved file names on Windows); the framework's
#: list also has COM¹..LPT³, which no literal segment can contain anyway (it is ASCII only).
RESERVED_STEMS = frozenset({"CON", "PRN", "AUX", "NUL", *(f"{d}{n}" for d in ("COM", "LPT") for n in range(1, 10))})
LITERAL = re.compile(r"[a-z0-9._-]+")
#: The scoped layout's recency index, as the last segment of its scope: never a session's segment,
#: which is either literal (no ``~``) or starts with ``~redis-session-``.
SCOPED_INDEX_SEGMENT = "~recent-threads"
LEGACY_INDEX_SUFFIX = ".recent-threads"
#: Every side key a thread has (``KeyLayout.side_key``): deleted with the thread, by ``clear`` and by pruning.
#: ``last-write`` holds the token of the thread's latest write (``RedisHistory.append``); ``summary`` its
#: summary record (``summary``).
SIDE_KEYS = ("last-write", "summary")
#: The session id Microsoft's 1.x provider gives a legacy key when it is given none.
DEFAULT_SESSION_ID = "default"
MISSING_SESSION = "session_id must be a non-empty string when key_format='scoped'"


def new_thread_id() -> str:
    """``thread_<uuid4>``: the id the lab's store (and Microsoft's) gives a thread nobody named."""
    return f"thread_{uuid.uuid4()}"


def _literal(value: str) -> bool:
    """Lowercase ASCII letters, digits and ``._-`` only; no leading dot, no trailing dot, no reserved name."""
    return (
        LITERAL.fullmatch(value) is not None
        and not value.startswith(".")
        and not value.endswith(".")
        and value.split(".", 1)[0].upper() not in RESERVED_STEMS
    )


def segment(value: str, encoded_prefix: str) -> str:
    """One key segment: the value itself when literal-safe, else ``encoded_prefix`` + lowercase unpadded
    base32 of its UTF-8, or ``encoded_prefix`` + ``sha256-`` + hex digest when that would be too long."""
    if _literal(value):
        return value
    encoded = encoded_prefix + base64.b32encode(value.encode("utf-8")).decode("ascii").rstrip("=").lower()
    if len(encoded) <= MAX_ENCODED_SEGMENT:
        return encoded
    import hashlib  # rarely needed, and not before the app's first menu

    return encoded_prefix + DIGEST_MARKER + hashlib.sha256(value.encode("utf-8")).hexdigest()


def decoded_segment(text: str, encoded_prefix: str) -> str | None:
    """The value ``segment`` turned into ``text``; None when no value gives it (or a digest hides it)."""
    if not text.startswith(encoded_prefix):
        return text if _literal(text) else None
    body = text[len(encoded_prefix) :]
    if body.startswith(DIGEST_MARKER):
        return None
    try:
        value = base64.b32decode(body.upper() + "=" * (-len(body) % 8)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return value if segment(value, encoded_prefix) == text else None


def key_names_thread(key: str, thread_id: str) -> bool:
    """Whether ``key`` can be a key of ``thread_id`` in either layout (whatever the prefix and scope)."""
    return key.endswith(f":{thread_id}") or key.endswith(f"|{segment(thread_id, SESSION_PREFIX)}")


@dataclass(frozen=True)
class KeyLayout:
    """Where a thread lives: the lab's ``{key_prefix}:{thread_id}``, or Microsoft's scoped key.

    Build it with ``resolve``, which takes the arguments (and applies the checks) of Microsoft's
    provider, except that with no scope argument at all it is the lab's layout.
    """

    key_prefix: str = "chat_messages"
    application_id: str | None = None  # set only in the scoped layout, where it is required
    tenant_id: str | None = None
    agent_id: str | None = None
    source_id: str = DEFAULT_SOURCE_ID

    @classmethod
    def resolve(
        cls,
        key_prefix: str = "chat_messages",
        *,
        tenant_id: str | None = None,
        application_id: str | None = None,
        agent_id: str | None = None,
        key_format: str | None = None,
        source_id: str = DEFAULT_SOURCE_ID,
    ) -> KeyLayout:
        """The layout these arguments ask for; Microsoft's ValueErrors (same words) for the ones it refuses.

        ``key_format`` None: scoped when any of ``tenant_id``, ``application_id``, ``agent_id`` is
        given, else the lab's layout.
        """
        scope = (tenant_id, application_id, agent_id)
        if key_format is None:
            key_format = SCOPED if any(value is not None for value in scope) else LEGACY
        if key_format not in (SCOPED, LEGACY):
            raise ValueError("key_format must be 'scoped' or 'legacy'")
        if key_format == LEGACY:
            if any(value is not None for value in scope):
                raise ValueError("tenant_id, application_id, and agent_id cannot be used with key_format='legacy'")
            return cls(key_prefix=key_prefix, source_id=source_id)
        if not application_id:
            raise ValueError("application_id must be a non-empty string when key_format='scoped'")
        if tenant_id == "":
            raise ValueError("tenant_id must be non-empty when supplied")
        if agent_id == "":
            raise ValueError("agent_id must be non-empty when supplied")
        return cls(key_prefix, application_id, tenant_id, agent_id, source_id)

    @property
    def scoped(self) -> bool:
        return self.application_id is not None

    @property
    def key_format(self) -> str:
        return SCOPED if self.scoped else LEGACY

    @property
    def scope(self) -> dict[str, Any]:
        """The arguments that give this layout besides ``key_prefix`` (none for the lab's layout)."""
        if not self.scoped:
            return {}
        return {
            "tenant_id": self.tenant_id,
            "application_id": self.application_id,
            "agent_id": self.agent_id,
            "source_id": self.source_id,
        }

    @cached_property
    def tenant_prefix(self) -> str:
        """``{key_prefix}|v2|{tenant}|``: every scoped key of this tenant starts with it."""
        return "|".join(
            (
                segment(self.key_prefix, KEY_PREFIX_PREFIX),
                SCOPED_VERSION,
                ABSENT if self.tenant_id is None else segment(self.tenant_id, TENANT_PREFIX),
                "",
            )
        )

    @cached_property
    def thread_key_prefix(self) -> str:
        """What every thread key of this layout starts with: ``lab11:``, or the scope up to the session."""
        if not self.scoped:
            return f"{self.key_prefix}:"
        assert self.application_id is not None
        parts = (
            segment(self.application_id, APPLICATION_PREFIX),
            ABSENT if self.agent_id is None else segment(self.agent_id, AGENT_PREFIX),
            segment(self.source_id, SOURCE_PREFIX),
        )
        return self.tenant_prefix + "|".join(parts) + "|"

    def key(self, thread_id: str) -> str:
        if not self.scoped:
            return f"{self.key_prefix}:{thread_id}"
        if not thread_id:
            raise ValueError(MISSING_SESSION)
        return self.thread_key_prefix + segment(thread_id, SESSION_PREFIX)

    def session_thread_id(self, session_id: str | None) -> str:
        """The thread of a session as Microsoft's 1.x provider names it when it may have no id: ``default`` in
        the lab's layout (the key ``{prefix}:default``), and on scoped keys its ValueError."""
        if session_id:
            return session_id
        if self.scoped:
            raise ValueError(MISSING_SESSION)
        return DEFAULT_SESSION_ID

    def side_key(self, thread_id: str, name: str) -> str:
        """``{<thread key>}:<name>``: a key beside the thread in its hash slot (so it can join the thread's
        transaction on a cluster), under the ACL pattern ``{<prefix>*}:*`` whatever its name."""
        key = self.key(thread_id)
        opening = key.find("{")
        closing = key.find("}", opening + 1)
        if opening != -1 and closing > opening + 1:  # the key already names its slot
            return f"{key}:{name}"
        return f"{{{key}}}:{name}"

    def summary_key(self, thread_id: str) -> str:
        return self.side_key(thread_id, "summary")

    def write_token_key(self, thread_id: str) -> str:
        return self.side_key(thread_id, "last-write")

    def thread_keys(self, thread_id: str) -> list[str]:
        """The thread's key and every side key it may have (``SIDE_KEYS``): what deleting it deletes."""
        return [self.key(thread_id), *(self.side_key(thread_id, name) for name in SIDE_KEYS)]

    def thread_id_of(self, key: str) -> str | None:
        """The thread whose key this is; None for a key that is not one of this layout's threads (or whose
        session id only a SHA-256 digest records)."""
        prefix = self.thread_key_prefix
        if not key.startswith(prefix):
            return None
        rest = key[len(prefix) :]
        if not self.scoped:
            return rest
        return None if "|" in rest else decoded_segment(rest, SESSION_PREFIX)

    @property
    def index_key(self) -> str:
        """The recency index: ``{prefix}.recent-threads`` (outside ``{prefix}:*``), or a key at the end of
        the scope (so an ACL for the tenant covers it, and one scope's listing reads no other scope)."""
        if not self.scoped:
            return f"{self.key_prefix}{LEGACY_INDEX_SUFFIX}"
        return self.thread_key_prefix + SCOPED_INDEX_SEGMENT

    def scan_pattern(self) -> str:
        """A SCAN MATCH pattern for this layout's thread keys (and, scoped, its index, which is no list)."""
        return _escape_glob(self.thread_key_prefix) + "*"

    def tenant_acl_patterns(self) -> tuple[str, str]:
        """The ACL key patterns of this tenant's keys: its threads and indexes, and their side keys."""
        prefix = _escape_glob(self.tenant_prefix)
        return f"~{prefix}*", f"~{{{prefix}*}}:*"


def _escape_glob(text: str) -> str:
    """Make text match itself literally in a Redis glob pattern (SCAN MATCH, ACL key patterns)."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)
