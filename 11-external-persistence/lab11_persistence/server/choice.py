"""Which Redis the app and its commands use: REDIS_URL once it passes the start-up check, else the
embedded server. Problems are one-line ``SetupError``s, before anything heavy is imported."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab11_persistence.config import EXIT_REDIS, EXIT_SETUP, Settings, SetupError
from lab11_persistence.server import entra_id  # light: azure.identity only when REDIS_ENTRA_ID=1

if TYPE_CHECKING:  # pragma: no cover
    from lab11_persistence.server.embedded_server import EmbeddedServer


def redis_for(settings: Settings) -> tuple[str, EmbeddedServer | None]:
    """The URL to use, and the embedded server when one was started for it (release it when done).

    ``settings`` are checked already (``Settings.check``): here only whether Redis answers.
    """
    if settings.redis_url:
        # Imported by the branch that needs it, so that the other's cost never reaches the first menu:
        from lab11_persistence.server.probe import (  # standard library only (ssl: ~30 ms)
            RedisProbeError,
            TooFewReplicasError,
            probe_redis,
        )

        try:
            token_credentials = entra_id.probe_credentials(settings)
            probe_redis(
                settings.redis_url,
                ca_cert=settings.redis_ca_cert,
                token_credentials=token_credentials,
                min_replicas=settings.min_replicas,
                cluster=settings.redis_is_cluster,  # with min_replicas: every primary's replicas are counted
            )
        except TooFewReplicasError as error:  # a setting the server cannot meet: exit 2, as a bad setting
            raise SetupError(str(error), EXIT_SETUP) from None
        except (RedisProbeError, entra_id.EntraIdSignInError) as error:
            raise SetupError(str(error), EXIT_REDIS) from None
        return settings.redis_url, None
    if settings.min_replicas:  # before a server is started for nothing
        raise SetupError(
            f"LAB11_MIN_REPLICAS={settings.min_replicas} but the embedded Valkey server has 0 replicas: "
            "set REDIS_URL to a primary with replicas, or unset LAB11_MIN_REPLICAS.",
            EXIT_SETUP,
        )
    from lab11_persistence.server.embedded_server import EmbeddedServer, EmbeddedServerError

    try:
        server = EmbeddedServer(settings.data_dir).acquire()
    except (EmbeddedServerError, OSError) as error:
        raise SetupError(f"Could not start the embedded Valkey server: {error}", EXIT_REDIS) from None
    return server.url, server
