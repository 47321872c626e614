"""Certificates made at test time: a throwaway CA that signs a server and a client certificate.

EC P-256 keys keep generation to milliseconds. The server certificate names 127.0.0.1 and
localhost, which is where the test servers listen.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = timedelta(days=1)


@dataclass(frozen=True)
class CertificateFiles:
    """PEM files of one certificate and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """A CA and the server and client certificates it signed, as PEM files."""

    ca: Path
    server: CertificateFiles
    client: CertificateFiles


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    return _write(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    return _write(path, cert.public_bytes(serialization.Encoding.PEM))


def _leaf(
    folder: Path,
    name: str,
    usage: x509.ObjectIdentifier,
    ca_name: x509.Name,
    ca_key: ec.EllipticCurvePrivateKey,
) -> CertificateFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    alternative_names = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        _builder(f"runplane test {name}", ca_name, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(alternative_names, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return CertificateFiles(
        cert=_write_cert(folder / f"{name}.pem", cert),
        key=_write_key(folder / f"{name}-key.pem", key),
    )


def make_pki(folder: Path) -> Pki:
    """Writes ca.pem, server.pem, server-key.pem, client.pem and client-key.pem to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("runplane test CA")
    ca_cert = (
        _builder("runplane test CA", ca_name, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Pki(
        ca=_write_cert(folder / "ca.pem", ca_cert),
        server=_leaf(folder, "server", ExtendedKeyUsageOID.SERVER_AUTH, ca_name, ca_key),
        client=_leaf(folder, "client", ExtendedKeyUsageOID.CLIENT_AUTH, ca_name, ca_key),
    )
