"""Network helpers for tests that start servers as processes or on fixed ports."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port nothing listens on now (the caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
