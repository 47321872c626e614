"""The clients CLI commands use: commands that only read get a lighter embedded server."""

from __future__ import annotations

from runplane._client.embedded import ensure_api_url
from runplane._client.settings import Settings
from runplane._client.sync_client import SyncRunplaneClient


def reading_settings() -> Settings:
    """The settings for a command that only reads (``ls``, ``inspect``, ``logs``, ``watch``).

    With ``RUNPLANE_API_URL`` set they are the usual settings. On the embedded default they
    point at an embedded server without background loops: a listing starts no scheduler or
    reapers, so it neither waits on their first pass nor writes to the database.
    """
    settings = Settings()
    if settings.api_url:
        return settings
    address = ensure_api_url(settings, background_loops=False)
    return settings.model_copy(update={"api_url": address})


def reading_client() -> SyncRunplaneClient:
    """A blocking client for a command that only reads."""
    return SyncRunplaneClient(reading_settings())
