"""A throwaway CA with one server and one client certificate, for certificate-authenticated interop runs."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .profiles import CertAuth

SERVER_AUTH_IKE_INTERMEDIATE = x509.ObjectIdentifier("1.3.6.1.5.5.8.2.2")
CA_KEY_USAGE = x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                             encipher_only=False, decipher_only=False)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def make_test_pki(directory: Path, server_id: str = "server.interop.test",
                  client_id: str = "client.interop.test") -> tuple[CertAuth, CertAuth]:
    """(server, client) credentials signed by a fresh CA; identities are DNS names in subjectAltName."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ikel2tp interop test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(CA_KEY_USAGE, critical=True)
          .sign(ca_key, hashes.SHA256()))
    ca_path = _write_cert(ca, directory / "ca.pem")

    def leaf(name: str, usages: list[x509.ObjectIdentifier]) -> tuple[Path, Path]:
        key = _key()
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                .sign(ca_key, hashes.SHA256()))
        stem = name.split(".")[0]
        return _write_cert(cert, directory / f"{stem}.pem"), _write_key(key, directory / f"{stem}.key")

    server_cert, server_key = leaf(server_id, [ExtendedKeyUsageOID.SERVER_AUTH, SERVER_AUTH_IKE_INTERMEDIATE])
    client_cert, client_key = leaf(client_id, [ExtendedKeyUsageOID.CLIENT_AUTH])
    return (CertAuth(server_cert, server_key, ca_path, peer_id="%any", local_id=server_id),
            CertAuth(client_cert, client_key, ca_path, peer_id=server_id, local_id=client_id))
