"""What the app's agent is made of, written once for both Agent Framework generations.

``app.py`` (the lab's release) and ``v1.agent`` (1.x) are thin adapters: each turns these into its
release's classes. Here, framework-free: the history's options that come from the settings (TLS CA,
cluster, the window and its summarizer, the key scope, the encryption keys) and the Azure OpenAI SDK client (one API
version, one way to sign in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lab11_persistence.config import Settings
from lab11_persistence.offline_model.reasoning import summarize_messages
from lab11_persistence.redis_history.sealing import Keyring
from lab11_persistence.redis_history.window import Summarizer

if TYPE_CHECKING:  # pragma: no cover
    from openai import AsyncAzureOpenAI

#: The Azure OpenAI REST API version both generations' clients speak (the lab's release defaults to it too).
AZURE_OPENAI_API_VERSION = "2024-10-21"
AZURE_TOKEN_SCOPE = "https://cognitiveservices.azure.com/.default"


def history_options(
    settings: Settings, chat_client: Any, summarizer_for: Callable[[Any], Summarizer]
) -> dict[str, Any]:
    """The store's (or the provider's) options from the settings, besides how it connects.

    The summary of what falls out of the window: the offline model writes its own; any other model is
    asked through ``summarizer_for(chat_client)``, the adapter's (its release's message class).
    """
    summarizer = summarize_messages if settings.model_kind == "offline" else summarizer_for(chat_client)
    return {
        "ssl_ca_certs": settings.redis_ca_cert,
        "cluster": settings.redis_is_cluster,
        "context_messages": settings.context_messages,
        "summarizer": summarizer,
        "encryption_keys": Keyring(settings.encryption_keys),  # LAB11_ENCRYPTION_KEYS, parsed once by config
        "min_replicas": settings.min_replicas,  # LAB11_MIN_REPLICAS, LAB11_REPLICA_TIMEOUT_MS
        "replica_timeout_ms": settings.replica_timeout_ms,
        **settings.key_scope,  # LAB11_APPLICATION_ID...: Microsoft's scoped keys
    }


def azure_openai_client(settings: Settings) -> AsyncAzureOpenAI:
    """The OpenAI SDK's client for ``AOAI_DEPLOYMENT`` at ``AOAI_ENDPOINT``, which both generations' chat clients
    take as ``async_client``.

    Signed in with AOAI_API_KEY, else with ``DefaultAzureCredential`` (``az login``, managed identity, ...)
    through a token provider that fetches and refreshes tokens per request. An ``http://`` endpoint (a local
    emulator, the tests' loopback server) works too.
    """
    # Imported here, not at the top: only an app configured for Azure OpenAI needs the SDK and azure.identity.
    from openai import AsyncAzureOpenAI

    auth: dict[str, Any] = {"api_key": settings.aoai_api_key}
    if not settings.aoai_api_key:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider

        auth = {"azure_ad_token_provider": get_bearer_token_provider(DefaultAzureCredential(), AZURE_TOKEN_SCOPE)}
    return AsyncAzureOpenAI(
        azure_endpoint=settings.aoai_endpoint or "",
        azure_deployment=settings.aoai_deployment,
        api_version=AZURE_OPENAI_API_VERSION,
        **auth,
    )
