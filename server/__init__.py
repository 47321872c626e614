"""The runplane control plane: a gRPC server on PostgreSQL or SQLite."""

from runplane.server.app import RunplaneServer, create_server
from runplane.server.settings import ServerSettings, SettingsError

__all__ = ["RunplaneServer", "ServerSettings", "SettingsError", "create_server"]
