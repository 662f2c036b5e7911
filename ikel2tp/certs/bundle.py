"""PKCS#12 bundles (key, certificate, CA chain) that Windows, macOS and iOS import.

``legacy`` uses PBE-SHA1-3DES for the key and certificate bags with a SHA-1 MAC: the only
encryption older Windows (before Windows 10 1709 / Server 2019) and macOS/iOS ``security import``
read.  ``modern`` uses PBES2 AES-256-CBC with a SHA-256 MAC (RFC 8018, RFC 7292).
"""

from __future__ import annotations

import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12
from cryptography.hazmat.primitives.serialization.pkcs12 import PBES

# Unambiguous characters (no 0/O, 1/l/I) so a password read off a screen types right on a phone.
_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def generate_password(groups: int = 4, size: int = 5) -> str:
    """A random password like ``k7Hq2-...`` (4 groups of 5: about 117 bits)."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(size)) for _ in range(groups))


def export_pkcs12(name: str, key: PrivateKeyTypes, cert: x509.Certificate, chain: list[x509.Certificate],
                  password: str, *, legacy: bool = True) -> bytes:
    """The DER PKCS#12 bundle of ``key``, ``cert`` and ``chain``, protected by ``password``."""
    if legacy:
        algorithm, mac = PBES.PBESv1SHA1And3KeyTripleDESCBC, hashes.SHA1()
    else:
        algorithm, mac = PBES.PBESv2SHA256AndAES256CBC, hashes.SHA256()
    encryption = (PrivateFormat.PKCS12.encryption_builder()
                  .kdf_rounds(2048).key_cert_algorithm(algorithm).hmac_hash(mac)
                  .build(password.encode()))
    return pkcs12.serialize_key_and_certificates(name.encode(), key, cert, chain, encryption)
