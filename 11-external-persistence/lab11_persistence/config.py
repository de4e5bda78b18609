"""Everything the lab reads from the environment, in one place.

Values come from the process environment first, then from a ``.env`` file (the
one ``LAB11_ENV_FILE`` names, else the one in the working directory, else the one
at the project root), then from the defaults below. Nothing else in the app reads ``os.environ``;
the one exception is the store's own fallback, as the lab describes it: ``RedisChatMessageStore.deserialize``
tries ``REDIS_URL`` when a snapshot (which never holds a password) is restored without a URL.

The settings object is safe to print: passwords and API keys never appear in
its ``repr``; use ``redact()`` on any text that might echo one back.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from lab11_persistence.encryption_setting import KeyringError, parse_key_entries

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "lab11"
KEY_PREFIX = "lab11"
MAX_MESSAGES = 200
# How many recent messages the model sees (LAB11_CONTEXT_MESSAGES); older ones reach it as a summary.
DEFAULT_CONTEXT_MESSAGES = 40
EVERY_MESSAGE_WORDS = ("0", "all", "off", "none")  # LAB11_CONTEXT_MESSAGES: the lab's way, every message
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
# LAB11_MIN_REPLICAS: replicas that must hold a turn before it counts as saved (0: the primary alone, the lab's way).
DEFAULT_MIN_REPLICAS = 0
# LAB11_REPLICA_TIMEOUT_MS: how long a turn waits for them. A healthy replica answers within a round trip
# (about a millisecond on a LAN), so 1 s is only ever spent on a replica that is lagging or cut off;
# short enough for a chat turn, long enough to ride out a replica's brief stall.
DEFAULT_REPLICA_TIMEOUT_MS = 1000
MAX_REPLICA_TIMEOUT_MS = 10_000  # below the connection's 15 s command timeout
EXIT_OK, EXIT_REDIS, EXIT_SETUP = 0, 1, 2
INSTRUCTIONS = (
    "You are a concise travel planner. Use every fact the user has told you earlier in this "
    "conversation (their name, where they want to go, dates, budget, likes and dislikes) and "
    "say which ones you are using. Answer in at most five short sentences."
)


class SetupError(Exception):
    """Something the user must fix before the app can run; the message is one line (``lines``: each one)."""

    def __init__(self, message: str, exit_status: int = EXIT_SETUP) -> None:
        super().__init__(message)
        self.exit_status = exit_status

    @property
    def lines(self) -> tuple[str, ...]:
        return (str(self),)


VARIABLES = (
    "REDIS_URL",
    "REDIS_CA_CERT",
    "REDIS_CLUSTER",
    "REDIS_ENTRA_ID",
    "LAB11_DATA_DIR",
    "LAB11_APPLICATION_ID",
    "LAB11_TENANT_ID",
    "LAB11_AGENT_ID",
    "AOAI_ENDPOINT",
    "AOAI_DEPLOYMENT",
    "AOAI_API_KEY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_CHAT_MODEL_ID",
    "NO_COLOR",
    "LAB11_CONTEXT_MESSAGES",
    "LAB11_ENCRYPTION_KEYS",
    "LAB11_MIN_REPLICAS",
    "LAB11_REPLICA_TIMEOUT_MS",
    "LAB11_ENV_FILE",
)


def _dotenv_values(env_file: str | None) -> dict[str, str]:
    """Values from ``LAB11_ENV_FILE`` (``none`` reads no file), else the first ``.env`` in the
    working directory or the project root, else nothing."""
    if env_file and env_file.strip().lower() in ("none", "-", "off"):
        return {}
    candidates = [Path(env_file).expanduser()] if env_file else [Path.cwd() / ".env", PROJECT_ROOT / ".env"]
    for candidate in candidates:
        if candidate.is_file():
            from dotenv import dotenv_values  # imported only when there is a file to read

            return {key: value for key, value in dotenv_values(candidate).items() if value is not None}
    return {}


def _secret_parts_of_url(url: str | None) -> tuple[str, ...]:
    if not url:
        return ()
    try:
        parts = urlsplit(url)
        return tuple(part for part in (parts.password, parts.username) if part)
    except ValueError:
        return ()


@dataclass(frozen=True)
class Settings:
    """The lab's configuration, each setting parsed once into a typed value. Secrets are kept out of ``repr``.

    ``problems`` lists, one line each, every setting that could not be used as given (``check()`` raises
    them); the other fields then hold defaults, never a guess at what was meant.
    """

    redis_url: str | None = field(default=None, repr=False)  # may carry a password
    redis_ca_cert: str | None = None
    redis_cluster: bool = False  # REDIS_URL is a Redis Cluster: the store uses redis-py's cluster client
    uses_entra_id: bool = False  # REDIS_ENTRA_ID=1: sign in to REDIS_URL with a Microsoft Entra ID token
    data_dir: Path | None = None  # None: platformdirs' user data dir, decided by embedded_server
    # Microsoft's scoped keys (lab11|v2|tenant|application|agent|source|session); all unset: lab11:{thread}
    application_id: str | None = None
    tenant_id: str | None = None
    agent_id: str | None = None
    aoai_endpoint: str | None = None
    aoai_deployment: str | None = None
    aoai_api_key: str | None = field(default=None, repr=False)
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    openai_chat_model_id: str | None = None
    no_color: bool = False
    # How many recent messages the model is sent, older ones as a summary; None: every message (the lab's way).
    context_messages: int | None = DEFAULT_CONTEXT_MESSAGES
    # LAB11_ENCRYPTION_KEYS as (id, 32-byte key) pairs, the sealing one first; () = plaintext (encryption_setting)
    encryption_keys: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    # A turn is saved once this many replicas hold it (WAIT), waiting at most replica_timeout_ms.
    min_replicas: int = DEFAULT_MIN_REPLICAS
    replica_timeout_ms: int = DEFAULT_REPLICA_TIMEOUT_MS
    problems: tuple[str, ...] = ()

    def check(self) -> None:
        """Raise SettingsError naming every problem, or return if there is none."""
        if self.problems:
            raise SettingsError(self.problems)

    @property
    def model_kind(self) -> str:
        """``azure``, ``openai`` or ``offline``: which chat client the app builds."""
        if self.aoai_endpoint and self.aoai_deployment:
            return "azure"
        if self.openai_api_key:
            return "openai"
        return "offline"

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def redis_is_cluster(self) -> bool:
        """REDIS_CLUSTER applies to the user's REDIS_URL; the embedded server is never a cluster."""
        return self.redis_cluster and not self.uses_embedded_redis

    @property
    def key_scope(self) -> dict[str, str]:
        """The scope arguments of the store and the provider (``tenant_id``, ...): only those set."""
        scope = {"tenant_id": self.tenant_id, "application_id": self.application_id, "agent_id": self.agent_id}
        return {name: value for name, value in scope.items() if value is not None}

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value the app knows of, longest first (for redaction)."""
        values = [self.aoai_api_key, self.openai_api_key, *_secret_parts_of_url(self.redis_url)]
        for _, key in self.encryption_keys:  # never printed anyway; redacted should one ever be echoed
            text = base64.urlsafe_b64encode(key).decode("ascii")
            values += [text, text.rstrip("=")]
        return tuple(sorted({value for value in values if value and len(value) >= 3}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in (
                "redis_ca_cert",
                "redis_cluster",
                "uses_entra_id",
                "data_dir",
                "application_id",
                "tenant_id",
                "agent_id",
                "aoai_endpoint",
                "aoai_deployment",
                "openai_base_url",
                "openai_chat_model_id",
                "context_messages",
                "min_replicas",
                "replica_timeout_ms",
            )
        )
        flags = (
            f"redis_url={'set' if self.redis_url else None!r}, "
            f"aoai_api_key={'set' if self.aoai_api_key else None!r}, "
            f"openai_api_key={'set' if self.openai_api_key else None!r}"
        )
        key_ids = tuple(key_id for key_id, _ in self.encryption_keys)
        return f"Settings({flags}, {shown}, encryption_key_ids={key_ids!r}, problems={len(self.problems)})"

    __str__ = __repr__


class SettingsError(SetupError):
    """Settings the app cannot run with: every problem, one line each (exit status 2)."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__("\n".join(problems), EXIT_SETUP)
        self.problems = problems

    @property
    def lines(self) -> tuple[str, ...]:
        return self.problems


def _are_set(names: list[str]) -> str:
    """``A is`` or ``A and B are``."""
    return " and ".join(names) + (" is" if len(names) == 1 else " are")


def _is_loopback(host: str | None) -> bool:
    """``localhost`` or an address on this machine (127.0.0.0/8, ::1); no host means localhost, as in redis-py."""
    if not host or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- parsing: each setting once, every problem kept ----------------------------------------------


def _switch(name: str, value: str | None, problems: list[str], meaning: str) -> bool:
    """An on/off setting: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case); unset is off."""
    word = (value or "").lower()
    if word and word not in TRUE_WORDS + FALSE_WORDS:
        problems.append(f"{name} must be 1 ({meaning}) or 0, not {value!r}.")
        return False
    return word in TRUE_WORDS


def _context_messages(value: str | None, problems: list[str]) -> int | None:
    """LAB11_CONTEXT_MESSAGES: a number of recent messages, or ``0``/``all`` for every one; unset is the default."""
    word = (value or "").lower()
    if not word:
        return DEFAULT_CONTEXT_MESSAGES
    if word in EVERY_MESSAGE_WORDS:
        return None
    if word.isdigit():
        return int(word)
    problems.append(
        "LAB11_CONTEXT_MESSAGES must be how many recent messages the model sees (e.g. 40), or 0 / all "
        f"for every message, not {value!r}."
    )
    return DEFAULT_CONTEXT_MESSAGES


def _encryption_keys(value: str | None, problems: list[str]) -> tuple[tuple[str, bytes], ...]:
    """LAB11_ENCRYPTION_KEYS: ``ID:KEY[,ID:KEY...]``; a malformed value is one problem naming it, never a key."""
    try:
        return parse_key_entries(value)
    except KeyringError as error:
        problems.append(str(error))
        return ()


def _count(name: str, value: str | None, problems: list[str], default: int, meaning: str) -> int:
    """A whole number, 0 or more (``LAB11_MIN_REPLICAS``, ``LAB11_REPLICA_TIMEOUT_MS``); unset is the default."""
    if value is None:
        return default
    if value.isdigit():
        return int(value)
    problems.append(f"{name} must be {meaning} (a whole number, 0 or more), not {value[:40]!r}.")
    return default


def _replica_settings(settings: Settings) -> str | None:
    """One line when LAB11_REPLICA_TIMEOUT_MS cannot bound a turn's wait for its replicas, else None.

    WAIT with a timeout of 0 waits forever; one longer than the connection's command timeout (15 s) would be
    cut off as a lost connection instead of reported as unconfirmed.
    """
    if not settings.min_replicas:
        return None
    if not 0 < settings.replica_timeout_ms <= MAX_REPLICA_TIMEOUT_MS:
        return (
            f"LAB11_REPLICA_TIMEOUT_MS must be from 1 to {MAX_REPLICA_TIMEOUT_MS} milliseconds with "
            f"LAB11_MIN_REPLICAS set, not {settings.replica_timeout_ms} (0 would wait forever)."
        )
    return None


def _half_configured_model(settings: Settings) -> str | None:
    """One line when the model settings show an intent they do not complete, else None.

    Without this, AOAI_ENDPOINT alone (say) would quietly give the offline model.
    """
    azure = {"AOAI_ENDPOINT": settings.aoai_endpoint, "AOAI_DEPLOYMENT": settings.aoai_deployment}
    missing = [name for name, value in azure.items() if not value]
    if missing and (settings.aoai_api_key or len(missing) < len(azure)):
        given = [name for name, value in (*azure.items(), ("AOAI_API_KEY", settings.aoai_api_key)) if value]
        return (
            f"{_are_set(given)} set but {_are_set(missing)} not: "
            "Azure OpenAI needs both AOAI_ENDPOINT and AOAI_DEPLOYMENT."
        )
    if settings.model_kind == "offline" and (settings.openai_base_url or settings.openai_chat_model_id):
        given = [name for name in ("OPENAI_BASE_URL", "OPENAI_CHAT_MODEL_ID") if getattr(settings, name.lower())]
        return (
            f"{_are_set(given)} set but OPENAI_API_KEY is not: set a key (any value for a local server such as Ollama)."
        )
    return None


def _entra_id_misuse(settings: Settings) -> str | None:
    """One line when REDIS_ENTRA_ID=1 cannot work with REDIS_URL as it is, else None.

    Entra ID sign-in replaces the password, so REDIS_URL must not carry one (which of the two would be
    meant?), and the token is a bearer credential, so it never travels unencrypted beyond this machine.
    """
    if not settings.uses_entra_id:
        return None
    if not settings.redis_url:
        return (
            "REDIS_ENTRA_ID=1 needs REDIS_URL: the cache's address without a password, "
            "e.g. rediss://<name>.<region>.redis.azure.net:10000/0."
        )
    try:
        parts = urlsplit(settings.redis_url)
        has_password, has_username, host = parts.password is not None, bool(parts.username), parts.hostname
    except ValueError:
        return None  # the start-up check names an unparsable URL
    if has_password:
        return (
            "REDIS_URL has a password, but REDIS_ENTRA_ID=1 signs in with a Microsoft Entra ID token instead: "
            "remove the password from REDIS_URL, or unset REDIS_ENTRA_ID to use it."
        )
    if has_username:
        return (
            "REDIS_URL names a user, but with REDIS_ENTRA_ID=1 the user is the identity you sign in as: "
            "remove the user name from REDIS_URL."
        )
    if parts.scheme == "unix":
        return "REDIS_ENTRA_ID=1 signs in to a server on the network (rediss://host:port/0), not a unix socket."
    if parts.scheme == "redis" and not _is_loopback(host):
        return (
            "REDIS_URL starts with redis:// (no TLS), which would send your Microsoft Entra ID token "
            "unencrypted: use rediss:// (REDIS_ENTRA_ID=1 allows redis:// only to this machine)."
        )
    return None


def _scope_without_application(settings: Settings) -> str | None:
    """One line when a scope is set without the application it belongs to, else None."""
    if settings.application_id is None and (settings.tenant_id is not None or settings.agent_id is not None):
        given = [name for name in ("LAB11_TENANT_ID", "LAB11_AGENT_ID") if getattr(settings, name[6:].lower())]
        return (
            f"{_are_set(given)} set but LAB11_APPLICATION_ID is not: "
            "Microsoft's scoped keys need an application id (or unset both for the lab's lab11:{thread} keys)."
        )
    return None


#: Problems that only show once the settings are read together.
_COMBINED_CHECKS = (_half_configured_model, _entra_id_misuse, _scope_without_application, _replica_settings)


def load_settings(environ: Mapping[str, str] | None = None, *, read_dotenv: bool = True) -> Settings:
    """Read the settings: environment first, then ``.env``, then defaults. Blank values count as unset.

    Never raises for a bad value: it is named in ``problems`` (see ``Settings.check``).
    """
    env = dict(os.environ if environ is None else environ)
    file_values = _dotenv_values(env.get("LAB11_ENV_FILE")) if read_dotenv else {}

    def get(name: str) -> str | None:
        value = env.get(name)
        if value is None or not value.strip():
            value = file_values.get(name)
        value = value.strip() if value else None
        return value or None

    problems: list[str] = []
    data_dir = get("LAB11_DATA_DIR")
    settings = Settings(
        redis_url=get("REDIS_URL"),
        redis_ca_cert=get("REDIS_CA_CERT"),
        redis_cluster=_switch("REDIS_CLUSTER", get("REDIS_CLUSTER"), problems, "REDIS_URL is a Redis Cluster"),
        uses_entra_id=_switch("REDIS_ENTRA_ID", get("REDIS_ENTRA_ID"), problems, "sign in with Microsoft Entra ID"),
        data_dir=Path(data_dir).expanduser() if data_dir else None,
        application_id=get("LAB11_APPLICATION_ID"),
        tenant_id=get("LAB11_TENANT_ID"),
        agent_id=get("LAB11_AGENT_ID"),
        aoai_endpoint=get("AOAI_ENDPOINT"),
        aoai_deployment=get("AOAI_DEPLOYMENT"),
        aoai_api_key=get("AOAI_API_KEY"),
        openai_api_key=get("OPENAI_API_KEY"),
        openai_base_url=get("OPENAI_BASE_URL"),
        openai_chat_model_id=get("OPENAI_CHAT_MODEL_ID"),
        no_color=bool(get("NO_COLOR")),
        context_messages=_context_messages(get("LAB11_CONTEXT_MESSAGES"), problems),
        encryption_keys=_encryption_keys(get("LAB11_ENCRYPTION_KEYS"), problems),
        min_replicas=_count(
            "LAB11_MIN_REPLICAS", get("LAB11_MIN_REPLICAS"), problems, DEFAULT_MIN_REPLICAS, "how many replicas"
        ),
        replica_timeout_ms=_count(
            "LAB11_REPLICA_TIMEOUT_MS",
            get("LAB11_REPLICA_TIMEOUT_MS"),
            problems,
            DEFAULT_REPLICA_TIMEOUT_MS,
            "how many milliseconds a turn waits for its replicas",
        ),
    )
    problems.extend(problem for check in _COMBINED_CHECKS if (problem := check(settings)))
    return replace(settings, problems=tuple(problems))
