"""Server settings, read from ``RUNPLANE_*`` environment variables."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from runplane._client.settings import default_home


@dataclass(frozen=True, slots=True)
class PoolSize:
    """How many connections the server keeps and opens, and how long a call waits for one."""

    size: int = 40
    overflow: int = 20
    timeout: float = 30.0


class SettingsError(ValueError):
    """A setting the server cannot start with; the message names its variable."""


class ServerSettings(BaseSettings):
    """How the control plane serves and where it stores.

    ``database_url`` defaults to a SQLite file in ``home``; set
    ``RUNPLANE_DATABASE_URL=postgresql+psycopg://user@host/db`` for PostgreSQL.
    """

    model_config = SettingsConfigDict(
        env_prefix="RUNPLANE_SERVER_", extra="ignore", populate_by_name=True
    )

    # Shared with the SDK, hence no RUNPLANE_SERVER_ prefix.
    home: Path = Field(default_factory=default_home, validation_alias="RUNPLANE_HOME")
    database_url: str | None = Field(default=None, validation_alias="RUNPLANE_DATABASE_URL")
    host: str = "127.0.0.1"
    port: int = Field(default=4200, ge=0, le=65535)
    # Server processes sharing the port (PostgreSQL only): one event loop serves about one
    # core's worth of calls, so a machine with more cores than that serves more with more.
    workers: int = Field(default=1, ge=1, le=64)
    # The web dashboard served beside the API, a client of it (runplane.dashboard).
    dashboard_enabled: bool = True
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(default=4201, ge=0, le=65535)
    # Keys accepted in "authorization: Bearer <key>", comma-separated in the environment,
    # and those of api_keys_file (one a line), read when the server starts; neither set means
    # no authentication.
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    api_keys_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # PEM roots that client certificates must chain to; set, every client needs one (mTLS).
    tls_client_ca: Path | None = None
    # Seconds that in-flight calls get to finish on shutdown.
    shutdown_grace: float = Field(default=5.0, ge=0)
    max_message_bytes: int = 16 * 1024 * 1024
    # Database connections: kept open, opened beyond those under load, and how long a call
    # waits for a free one before it is answered UNAVAILABLE.
    database_pool_size: int = Field(default=40, ge=1)
    database_pool_overflow: int = Field(default=20, ge=0)
    database_pool_timeout: float = Field(default=30.0, gt=0)
    # Seconds between the ping items that keep an idle work stream alive.
    work_ping_interval: float = Field(default=20.0, gt=0)
    # Work delivery: a claimed run's lease, the slow safety-net sweep, and how long a stream
    # lives before the runner is asked to reconnect (a random time between the two bounds).
    work_lease_seconds: float = Field(default=30.0, gt=0)
    work_sweep_interval: float = Field(default=10.0, gt=0)
    work_reconnect_after_min: float = Field(default=600.0, gt=0)
    work_reconnect_after_max: float = Field(default=1200.0, gt=0)
    # Server loops; each runs every `*_interval` seconds and can be switched off for tests.
    loops_enabled: bool = True
    scheduler_interval: float = Field(default=10.0, gt=0)
    schedule_min_runs: int = Field(default=3, ge=1)
    schedule_min_horizon: float = Field(default=3600.0, ge=0)
    schedule_max_runs: int = Field(default=100, ge=1)
    schedule_max_horizon: float = Field(default=100 * 86400.0, gt=0)
    late_after: float = Field(default=15.0, ge=0)
    late_marker_interval: float = Field(default=5.0, gt=0)
    lease_reaper_interval: float = Field(default=5.0, gt=0)
    heartbeat_timeout: float = Field(default=90.0, gt=0)
    heartbeat_reaper_interval: float = Field(default=10.0, gt=0)
    cancellation_timeout: float = Field(default=300.0, gt=0)
    cancellation_reaper_interval: float = Field(default=10.0, gt=0)
    # Retention, in days: older log records, and older states other than a run's current one,
    # are deleted; so are runs that ended longer ago, with all their rows. Unset keeps
    # everything.
    log_retention_days: float | None = Field(default=None, gt=0)
    state_retention_days: float | None = Field(default=None, gt=0)
    run_retention_days: float | None = Field(default=None, gt=0)
    retention_interval: float = Field(default=3600.0, gt=0)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    def reconnect_delay(self) -> timedelta:
        """How long a new work or task-worker stream lives before it is asked to reconnect:
        a random time between the two bounds, so that reconnecting clients spread over
        servers."""
        low = self.work_reconnect_after_min
        high = max(low, self.work_reconnect_after_max)
        return timedelta(seconds=random.uniform(low, high))

    def database_pool(self) -> PoolSize:
        return PoolSize(
            self.database_pool_size, self.database_pool_overflow, self.database_pool_timeout
        )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'runplane.db'}"
