"""The runplane control plane: a gRPC server on PostgreSQL or SQLite."""

from typing import TYPE_CHECKING

from runplane._lazy_exports import lazy_exports

# Imported on first use, so that the pure parts (the state rules in orchestration/) load
# without the gRPC server, SQLAlchemy and the SDK.
if TYPE_CHECKING:
    from runplane.server.app import RunplaneServer, create_server
    from runplane.server.settings import ServerSettings, SettingsError

_EXPORTED_FROM: dict[str, tuple[str, ...]] = {
    "runplane.server.app": ("RunplaneServer", "create_server"),
    "runplane.server.settings": ("ServerSettings", "SettingsError"),
}

if not TYPE_CHECKING:  # a module __getattr__ would let type checkers accept any name
    __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTED_FROM)

__all__ = ["RunplaneServer", "ServerSettings", "SettingsError", "create_server"]
