"""CBC ciphers for ISAKMP message encryption (RFC 2409 App. B): AES-CBC, 3DES-CBC, and DES-CBC
(weak; only when a configuration lists it) as 3DES with one 8-byte key (K1 = K2 = K3)."""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_SIZES: dict[str, int] = {"3des-cbc": 8, "aes-cbc": 16, "des-cbc": 8}


def _algorithm(name: str, key: bytes):
    if name == "aes-cbc":
        return algorithms.AES(key)
    if name == "3des-cbc":
        return TripleDES(key)
    if name == "des-cbc":
        return TripleDES(key * 3)
    raise ValueError(f"unsupported cipher {name}")


def cbc_encrypt(name: str, key: bytes, iv: bytes, data: bytes) -> bytes:
    """Encrypt ``data`` (a multiple of the block size) in CBC mode."""
    encryptor = Cipher(_algorithm(name, key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def cbc_decrypt(name: str, key: bytes, iv: bytes, data: bytes) -> bytes:
    """Decrypt ``data`` (a multiple of the block size) in CBC mode."""
    decryptor = Cipher(_algorithm(name, key), modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()
