"""Failures to reach or be let into a server, told as one line that names the address, where
it came from, and what to try.

gRPC words them for its own developers ("failed to connect to all addresses; last error:
UNKNOWN: ipv4:127.0.0.1:4299: ... Connection refused", "SSL_ERROR_SSL ... WRONG_VERSION_NUMBER");
the user needs to know which setting pointed there and what to change.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass

from runplane._client.errors import RunplaneError, Unauthenticated, Unavailable
from runplane._client.settings import Settings, parse_api_url

URL_VARIABLE = "RUNPLANE_API_URL"
KEY_VARIABLE = "RUNPLANE_API_KEY"

# How long the check whether a server speaks TLS waits: it runs only after a plaintext
# connection was closed on us, and a local server answers in milliseconds.
_TLS_PROBE_SECONDS = 2.0

# "...; last error: UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection
# refused": the part after the address is the reason.
_LAST_ERROR = re.compile(r"last error: \w+: (?:ipv4|ipv6|unix|dns):\S+?: (?P<reason>.*)$")


@dataclass(frozen=True)
class ApiAddress:
    """Where a client connects, and which setting chose it."""

    target: str
    tls: bool
    from_url_setting: bool
    api_key_set: bool

    @classmethod
    def of(cls, settings: Settings, url: str) -> ApiAddress:
        endpoint = parse_api_url(url)
        tls = endpoint.tls or settings.tls_ca_file is not None or settings.tls_cert_file is not None
        return cls(endpoint.target, tls, bool(settings.api_url), settings.api_key is not None)

    @property
    def source(self) -> str:
        return (
            URL_VARIABLE
            if self.from_url_setting
            else f"the embedded default; {URL_VARIABLE} is unset"
        )


def _replace_message(error: RunplaneError, message: str) -> RunplaneError:
    """The same error, type and details kept, with a message that explains it."""
    error.message = message
    error.args = (message,)
    return error


def _speaks_tls(target: str) -> bool:
    """Whether a TLS handshake with ``target`` succeeds, its certificate unchecked: this only
    tells a TLS server from a plaintext one, and nothing is sent over the connection."""
    host, _, port = target.rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host.strip("[]"), int(port)), _TLS_PROBE_SECONDS) as raw,
            context.wrap_socket(raw, server_hostname=host.strip("[]")),
        ):
            return True
    except (OSError, ValueError):
        return False


def _unreachable(address: ApiAddress, details: str) -> str:
    if "WRONG_VERSION_NUMBER" in details:
        return (
            f"the server at {address.target} ({address.source}) does not speak TLS: use a "
            f"plain host:port URL without TLS files, or start the server with "
            "RUNPLANE_SERVER_TLS_CERT and RUNPLANE_SERVER_TLS_KEY"
        )
    if "CERTIFICATE_VERIFY_FAILED" in details:
        return (
            f"the server at {address.target} ({address.source}) presented a TLS certificate "
            "this client does not trust: set RUNPLANE_TLS_CA_FILE to the CA that signed it"
        )
    found = _LAST_ERROR.search(details)
    reason = found["reason"] if found else details
    refused = "Connection refused" in details
    if address.tls and not refused:
        return (
            f"the TLS handshake with the server at {address.target} ({address.source}) failed: "
            f"{reason}; a server that requires client certificates needs "
            "RUNPLANE_TLS_CERT_FILE and RUNPLANE_TLS_KEY_FILE"
        )
    if not address.tls and not refused and _speaks_tls(address.target):
        return (
            f"the server at {address.target} ({address.source}) requires TLS: use an "
            f"https:// URL in {URL_VARIABLE}, with RUNPLANE_TLS_CA_FILE for a private CA"
        )
    if address.from_url_setting:
        hint = (
            "start one there (`make run` or `runplane server start`), or unset "
            f"{URL_VARIABLE} to use the embedded server"
        )
    else:
        hint = f"start a server and set {URL_VARIABLE} to its address"
    return (
        f"cannot reach a runplane server at {address.target} ({address.source}): {reason}; {hint}"
    )


def _refused_key(address: ApiAddress, details: str) -> str:
    if address.api_key_set:
        return f"the server at {address.target} refused the API key ({KEY_VARIABLE}): {details}"
    return (
        f"the server at {address.target} requires an API key: set {KEY_VARIABLE} "
        f"(the server said: {details})"
    )


def explain(error: RunplaneError, address: ApiAddress | None) -> RunplaneError:
    """``error`` with a message that names the address and what to try, when it is a failure
    to connect or to authenticate; any other error as it is."""
    if address is None:
        return error
    if isinstance(error, Unavailable) and "failed to connect" in error.message:
        return _replace_message(error, _unreachable(address, error.message))
    if isinstance(error, Unauthenticated):
        return _replace_message(error, _refused_key(address, error.message))
    return error
