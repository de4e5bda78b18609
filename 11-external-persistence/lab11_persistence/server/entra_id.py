"""Sign in to Azure Cache for Redis / Azure Managed Redis with Microsoft Entra ID (``REDIS_ENTRA_ID=1``).

Where access keys are disabled, the cache takes an Entra ID access token (scope
``https://redis.azure.com/.default``) as the password and the token's object id, its ``oid``
claim, as the user name. ``redis-entraid`` gets the token from azure.identity's
``DefaultAzureCredential`` (``az login``, a managed identity, workload identity, environment
variables...), asks for one for every new connection, and renews it before it expires: at 70% of
its lifetime it fetches the next token and signs the idle connections in again with ``AUTH`` (a
connection in use does so when it is handed back).

What the app calls:

- ``probe_credentials(settings)``: the user name and token for the start-up check (``redis_probe``),
  so that "not signed in" and "no access to this cache" are one line before the menu;
- ``store_connection(settings, redis_url)``: how every store and provider it builds connects.

Importing this module costs nothing: azure.identity, redis and redis-entraid are imported by the
functions that need them. No message, ``repr`` or log line from here holds a token.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # pragma: no cover
    from azure.core.credentials import TokenCredential
    from redis.credentials import StreamingCredentialProvider

    from lab11_persistence.config import Settings

SCOPE = "https://redis.azure.com/.default"
RENEW_AT = 0.7  # fetch the next token once this fraction of the current one's lifetime has passed
TOKEN_REQUEST_RETRIES = 1  # a failed token request is tried once more...
TOKEN_RETRY_DELAY_MS = 200  # ...after this long
SIGN_IN_HINT = "sign in with `az login` (or run where a managed identity is assigned) and try again"
NO_OBJECT_ID = (
    "Could not sign in to Redis with Microsoft Entra ID: the token names no identity (no oid claim), "
    "so Redis cannot tell who signed in; sign in as a user, service principal or managed identity."
)
_MAX_REASON = 300
_JWT_LIKE = re.compile(r"eyJ[\w-]*\.[\w-]*\.?[\w-]*")

logger = logging.getLogger(__name__)

_credential: TokenCredential | None = None
_shared_provider: StreamingCredentialProvider | None = None
_provider_class: type | None = None


class EntraIdSignInError(Exception):
    """No token for Redis, or one it cannot use: the message is one line and never holds a token."""


# Both environments pin the sign-in packages; the hint names the file of each.
_INSTALL_HINT = "pip install -r requirements.txt (requirements-v1.txt on Agent Framework 1.x)"


def probe_credentials(settings: Settings) -> tuple[str, str] | None:
    """The user name and token for the start-up check, or None when REDIS_ENTRA_ID is off.

    Raises EntraIdSignInError (one line, with what to do) when no credential gives a token.
    """
    if not settings.uses_entra_id:
        return None
    return sign_in()


def store_connection(settings: Settings, redis_url: str) -> dict[str, Any]:
    """How every store and provider of the app connects: ``{"redis_url": ...}``, or with REDIS_ENTRA_ID=1
    the URL's host, port and TLS with the shared credential provider (Microsoft's form of the same).

    Every store gets the same provider. One provider means one renewal schedule (one token
    request per renewal) for the whole app, and redis-py signs in again the connections of
    the client built last, which is the store in use. A provider of its own per store would
    keep renewing for stores the app has closed, and reopen their connections to sign them in.

    Host and port, not the URL: ``redis.asyncio.from_url(url, credential_provider=...)`` hands the
    client a ready pool, for which redis-py registers no token renewal (see ``redis_credential_provider``).
    """
    if not settings.uses_entra_id:
        return {"redis_url": redis_url}
    global _shared_provider
    if _shared_provider is None:
        _shared_provider = redis_credential_provider()
    parts = urlsplit(redis_url)
    return {
        "credential_provider": _shared_provider,
        "host": parts.hostname or "localhost",
        "port": parts.port or 6379,
        "ssl": parts.scheme == "rediss",
    }


def default_credential() -> TokenCredential:
    """One ``DefaultAzureCredential`` per process: it remembers which of its sources gave a token,
    and later requests go straight there (each source that fails can cost a second or more)."""
    global _credential
    if _credential is None:
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError:
            raise EntraIdSignInError(f"Microsoft Entra ID sign-in needs azure-identity: {_INSTALL_HINT}") from None
        try:
            _credential = DefaultAzureCredential()
        except ValueError as error:  # e.g. AZURE_TOKEN_CREDENTIALS names no known credential
            raise EntraIdSignInError(f"Could not set up Microsoft Entra ID sign-in: {_reason(error)}") from None
    return _credential


def sign_in(credential: TokenCredential | None = None) -> tuple[str, str]:
    """One token, as ``(object id, token)``: what Redis takes as user name and password.

    Asks the credential directly and starts no renewal (that is the store's provider's job).
    """
    credential = credential or default_credential()
    try:
        token = credential.get_token(SCOPE).token
    except Exception as error:
        raise EntraIdSignInError(_sign_in_failed(error)) from None
    return _object_id(token), token


def redis_credential_provider(credential: TokenCredential | None = None) -> StreamingCredentialProvider:
    """A redis-py credential provider that signs in with Microsoft Entra ID and renews the token.

    ``credential`` is any azure.identity-style credential (``get_token(scope)``); by default the
    process's ``DefaultAzureCredential``. Pass the result as ``credential_provider=`` to the store,
    ``redis.asyncio.Redis(host=..., ...)`` or ``RedisCluster``. Not to ``redis.asyncio.from_url``: that
    hands the client a ready pool, and redis-py then never signs its connections in again with the
    renewed token (it logs "No registered callback for token renewal task").
    """
    try:
        from redis.auth.token_manager import RetryPolicy, TokenManagerConfig
        from redis_entraid.identity_provider import DefaultAzureCredentialProvider
    except ImportError:
        raise EntraIdSignInError(f"Microsoft Entra ID sign-in needs redis-entraid: {_INSTALL_HINT}") from None
    identity = DefaultAzureCredentialProvider(credential or default_credential(), (SCOPE,))
    renewal = TokenManagerConfig(
        expiration_refresh_ratio=RENEW_AT,
        lower_refresh_bound_millis=0,
        token_request_execution_timeout_in_ms=30_000,
        retry_policy=RetryPolicy(TOKEN_REQUEST_RETRIES, TOKEN_RETRY_DELAY_MS),
    )
    return _signed_in_provider_class()(identity, renewal)


def _signed_in_provider_class() -> type:
    """redis-entraid's provider, with one-line errors and a renewal that outlives a failed attempt.

    Defined on first use, so that importing this module imports neither redis nor redis-entraid.
    """
    global _provider_class
    if _provider_class is not None:
        return _provider_class
    from redis_entraid.cred_provider import EntraIdCredentialsProvider

    class SignedInCredentialsProvider(EntraIdCredentialsProvider):  # type: ignore[misc, valid-type]
        def get_credentials(self) -> tuple[str, str]:
            try:
                credentials = super().get_credentials()
            except Exception as error:
                raise EntraIdSignInError(_sign_in_failed(error)) from None
            return _with_object_id(credentials)

        async def get_credentials_async(self) -> tuple[str, str]:
            try:
                credentials = await super().get_credentials_async()
            except Exception as error:
                raise EntraIdSignInError(_sign_in_failed(error)) from None
            return _with_object_id(credentials)

        def on_error(self, callback: Any) -> None:
            """redis-py's callback raises the error inside a timer task nobody awaits; this one says it in
            one line and lets the next new connection start the renewal again."""

            def renewal_failed(error: Exception) -> None:
                self._is_streaming = False  # redis-entraid restarts renewal on the next get_credentials
                logger.warning(
                    "Could not renew the Microsoft Entra ID token for Redis (%s); "
                    "connections sign in again when they reconnect",
                    _reason(error),
                )

            if inspect.iscoroutinefunction(callback):

                async def renewal_failed_async(error: Exception) -> None:
                    renewal_failed(error)

                super().on_error(renewal_failed_async)
            else:
                super().on_error(renewal_failed)

        def __repr__(self) -> str:
            return f"EntraIdCredentialsProvider(scope={SCOPE!r})"

    _provider_class = SignedInCredentialsProvider
    return _provider_class


def _with_object_id(credentials: Any) -> tuple[str, str]:
    """redis-entraid's ``(oid, token)``, refused when the token names no identity."""
    object_id, token = credentials
    if not object_id:
        raise EntraIdSignInError(NO_OBJECT_ID)
    return str(object_id), str(token)


def _object_id(token: str) -> str:
    """The ``oid`` claim of a JWT access token (read, not verified: Redis verifies it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        raise EntraIdSignInError(
            "Could not sign in to Redis with Microsoft Entra ID: the credential gave something that is "
            f"not an access token (JWT); {SIGN_IN_HINT}."
        ) from None
    object_id = claims.get("oid") if isinstance(claims, dict) else None
    if not object_id:
        raise EntraIdSignInError(NO_OBJECT_ID)
    return str(object_id)


def _sign_in_failed(error: BaseException) -> str:
    return f"Could not sign in to Redis with Microsoft Entra ID ({_reason(error)}): {SIGN_IN_HINT}."


def _reason(error: BaseException) -> str:
    """What went wrong, in one line: azure.identity lists each source it tried over many lines."""
    while error.args and isinstance(error.args[0], BaseException):  # redis-py wraps the credential's error
        error = error.args[0]
    text = str(getattr(error, "message", None) or error or type(error).__name__)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    skip = ("failed to retrieve a token from the included credentials", "attempted credentials:", "to mitigate")
    kept = [line for line in lines if line and not any(marker in line.lower() for marker in skip)]
    reason = "; ".join(kept) or type(error).__name__
    reason = _JWT_LIKE.sub("***", reason).rstrip(".")
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1] + "…"
