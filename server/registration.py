"""Adds services to the gRPC server as generic handlers only, without registered methods.

The generated ``add_*Servicer_to_server`` functions add each service twice: as a generic
handler, and as "registered methods". ``grpc.aio`` serves every registered method with a
task of its own, and on each incoming call waits on all of them at once
(``asyncio.wait(..., FIRST_COMPLETED)``), which costs callbacks on every task: with the
contract's ~50 methods that wait was a tenth of the server's CPU per call. Served through
the generic handlers alone, each call is one wait on one task and a dictionary look-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import grpc

__all__ = ["generic_only"]


class _GenericOnly:
    """The part of ``grpc.aio.Server`` the generated functions use, registering generically."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        """Skipped: the generic handler added with them already serves these methods."""


def generic_only(server: grpc.aio.Server) -> grpc.aio.Server:
    """``server`` as the generated ``add_*Servicer_to_server`` functions should see it: what
    they add as registered methods is left out, since their generic handler serves it."""
    # Those functions call nothing else on the server; a cast stands for the whole interface.
    return cast(grpc.aio.Server, _GenericOnly(server))
