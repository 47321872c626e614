"""Binding the server's port: one server per address, and a clear error when it is taken."""

from __future__ import annotations

import errno
import socket

import grpc


def listen_options(share_port: bool = False) -> list[tuple[str, int]]:
    """gRPC turns SO_REUSEPORT on by default, which lets a second server bind a port in use and
    split the clients between two servers (and their databases); off, the bind fails. Only the
    workers of one server (``runplane.server.workers``) share their port, on purpose."""
    return [("grpc.so_reuseport", int(share_port))]


class PortInUseError(OSError):
    """Another process listens on the address the server was told to use."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is already in use")
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return str(self.strerror)


def bind(
    server: grpc.aio.Server, host: str, port: int, credentials: grpc.ServerCredentials | None
) -> int:
    """Adds the listening port; the port bound (useful when ``port`` is 0)."""
    address = f"{host}:{port}"
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
    except RuntimeError:  # newer gRPC raises where older versions return 0
        bound = 0
    if bound == 0:
        if port != 0 and port_in_use(host, port):
            raise PortInUseError(host, port)
        raise OSError(f"cannot listen on {address}")
    return bound


def port_in_use(host: str, port: int) -> bool:
    """Whether binding the address fails because something else holds it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return True
    return False
