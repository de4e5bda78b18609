"""Which Redis the app uses: ``REDIS_URL`` once the start-up check (``probe``) passes, else the
embedded Valkey server (``embedded_server``); ``choice.redis_for`` decides; ``entra_id`` signs in
with Microsoft Entra ID instead of a password."""
