"""The server's TLS files, read and checked before gRPC sees them.

gRPC reports a bad certificate or key only when it binds, as a traceback that ends in
"Failed to bind to address"; checking here turns each mistake into one line that names the
setting and the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from runplane.server.settings import ServerSettings, SettingsError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

# cryptography is imported by the checks themselves: most servers (and every embedded one)
# have no TLS files, and the import is a noticeable part of their start.

CERT_VARIABLE = "RUNPLANE_SERVER_TLS_CERT"
KEY_VARIABLE = "RUNPLANE_SERVER_TLS_KEY"
CLIENT_CA_VARIABLE = "RUNPLANE_SERVER_TLS_CLIENT_CA"


@dataclass(frozen=True)
class _PemFile:
    """One setting's file: its variable, its path, and the bytes it holds."""

    variable: str
    path: Path
    data: bytes


def _read(variable: str, path: Path) -> _PemFile:
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        # No chained exception: the message says it all, and a traceback would bury it.
        raise SettingsError(f"{variable}: cannot read {path}: {reason}") from None
    return _PemFile(variable, path, data)


def _certificates(file: _PemFile, what: str) -> list[x509.Certificate]:
    """The file's certificates; one at least, all PEM."""
    from cryptography import x509

    try:
        certificates = x509.load_pem_x509_certificates(file.data)
    except ValueError:
        certificates = []
    if not certificates:
        raise SettingsError(
            f"{file.variable}: {file.path} is not a PEM {what} "
            "(expected a '-----BEGIN CERTIFICATE-----' block)"
        )
    return certificates


def _private_key(file: _PemFile) -> PrivateKeyTypes:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(file.data, password=None)
    except TypeError:
        # Raised for a key that needs a password: gRPC cannot ask for one.
        raise SettingsError(
            f"{file.variable}: {file.path} is encrypted; the server needs an unencrypted key"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SettingsError(
            f"{file.variable}: {file.path} is not a PEM private key "
            "(expected a '-----BEGIN PRIVATE KEY-----' block)"
        ) from None


def _refuse_a_mismatched_key(cert: _PemFile, leaf: x509.Certificate, key: PrivateKeyTypes) -> None:
    from cryptography.hazmat.primitives import serialization

    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise SettingsError(
            f"{KEY_VARIABLE}: the key does not belong to the certificate in {cert.path} "
            f"({CERT_VARIABLE}); the certificate file must start with the key's certificate"
        )


def _require_a_pair(settings: ServerSettings) -> tuple[Path, Path] | None:
    """The certificate and key paths, None for plaintext; half a configuration is refused."""
    cert, key, client_ca = settings.tls_cert, settings.tls_key, settings.tls_client_ca
    if cert is None and key is None:
        if client_ca is not None:
            raise SettingsError(
                f"{CLIENT_CA_VARIABLE} is set but {CERT_VARIABLE} and {KEY_VARIABLE} are not: "
                "client certificates need TLS, which needs the server's certificate and key"
            )
        return None
    if key is None:
        raise SettingsError(
            f"{CERT_VARIABLE} is set but {KEY_VARIABLE} is not: TLS needs both the "
            "certificate and its private key"
        )
    if cert is None:
        raise SettingsError(
            f"{KEY_VARIABLE} is set but {CERT_VARIABLE} is not: TLS needs both the "
            "certificate and its private key"
        )
    return cert, key


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """TLS from the certificate and key, with client certificates required when a client CA
    is set; None for plaintext. Raises ``SettingsError`` naming the setting and its file."""
    paths = _require_a_pair(settings)
    if paths is None:
        return None
    cert = _read(CERT_VARIABLE, paths[0])
    key = _read(KEY_VARIABLE, paths[1])
    leaf = _certificates(cert, "certificate")[0]
    _refuse_a_mismatched_key(cert, leaf, _private_key(key))
    client_ca = None
    if settings.tls_client_ca is not None:
        client_ca = _read(CLIENT_CA_VARIABLE, settings.tls_client_ca)
        _certificates(client_ca, "CA certificate")
    return grpc.ssl_server_credentials(
        [(key.data, cert.data)],
        root_certificates=None if client_ca is None else client_ca.data,
        require_client_auth=client_ca is not None,
    )
