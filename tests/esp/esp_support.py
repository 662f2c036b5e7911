"""Support for the ESP tests: SA pairs over every suite, and an independent ESP implementation
written straight from RFC 4303/3602/2451/4106 with plain ``cryptography`` calls to check the
production code against (one cipher object per packet, no tricks)."""

from __future__ import annotations

import hmac
import os
import struct

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ikel2tp.esp.sa import EspSa, Lifetime
from ikel2tp.esp.transforms import make_transform

HASH = {"sha1": ("sha1", 12), "sha256": ("sha256", 16), "sha384": ("sha384", 24),
        "sha512": ("sha512", 32), "md5": ("md5", 12)}
BLOCK = {"aes-cbc": 16, "3des-cbc": 8, "aes-gcm": 4}


def _cipher(name: str, key: bytes, iv: bytes) -> Cipher:
    algorithm = algorithms.AES(key) if name == "aes-cbc" else TripleDES(key)
    return Cipher(algorithm, modes.CBC(iv))


def seal(cipher: str, key: bytes, integrity: str | None, auth_key: bytes, spi: int, seq: int,
         payload: bytes, next_header: int, iv: bytes) -> bytes:
    """RFC 4303 §3.3: header, IV, E(payload | 1,2,3.. | pad length | next header), ICV."""
    block = BLOCK[cipher]
    pad = (-(len(payload) + 2)) % block
    plain = payload + bytes(range(1, pad + 1)) + bytes([pad, next_header])
    header = struct.pack("!II", spi, seq)
    if cipher == "aes-gcm":  # RFC 4106 §3-5: nonce = salt | IV, AAD = SPI | seq
        return header + iv + AESGCM(key[:-4]).encrypt(key[-4:] + iv, plain, header)
    encryptor = _cipher(cipher, key, iv).encryptor()
    body = header + iv + encryptor.update(plain) + encryptor.finalize()
    digest, icv = HASH[integrity]
    return body + hmac.new(auth_key, body, digest).digest()[:icv]


def open_(cipher: str, key: bytes, integrity: str | None, auth_key: bytes,
          packet: bytes) -> tuple[int, bytes]:
    """Inverse of :func:`seal`; asserts on any error (the reference only sees good packets)."""
    if cipher == "aes-gcm":
        plain = AESGCM(key[:-4]).decrypt(key[-4:] + packet[8:16], packet[16:], packet[:8])
    else:
        digest, icv = HASH[integrity]
        body, tag = packet[:-icv], packet[-icv:]
        assert hmac.compare_digest(hmac.new(auth_key, body, digest).digest()[:icv], tag)
        block = BLOCK[cipher]
        decryptor = _cipher(cipher, key, body[8 : 8 + block]).decryptor()
        plain = decryptor.update(body[8 + block :]) + decryptor.finalize()
    pad = plain[-2]
    assert plain[-2 - pad : -2] == bytes(range(1, pad + 1))
    return plain[-1], plain[: -2 - pad]




# (cipher, encryption key bytes incl. GCM salt, integrity, auth key bytes)
SUITES = [
    ("aes-cbc", 16, "sha1", 20),
    ("aes-cbc", 24, "sha256", 32),
    ("aes-cbc", 32, "sha384", 48),
    ("aes-cbc", 32, "sha512", 64),
    ("aes-cbc", 16, "md5", 16),
    ("3des-cbc", 24, "sha1", 20),
    ("aes-gcm", 20, None, 0),
    ("aes-gcm", 28, None, 0),
    ("aes-gcm", 36, None, 0),
]
SUITE_IDS = [f"{c}{k * 8}-{i}" for c, k, i, _ in SUITES]


class Keys:
    """Key material of one SA pair as seen from side A."""

    def __init__(self, cipher: str, key_len: int, integrity: str | None, auth_len: int) -> None:
        self.cipher, self.integrity = cipher, integrity
        self.enc_ab, self.enc_ba = os.urandom(key_len), os.urandom(key_len)
        self.auth_ab, self.auth_ba = os.urandom(auth_len), os.urandom(auth_len)


def make_pair(keys: Keys, *, lifetime: Lifetime | None = None, window: int = 1024) -> tuple[EspSa, EspSa]:
    """Two ends of one SA pair: A sends with SPI 0x2000 (B's inbound), B with 0x1000."""
    lifetime = lifetime or Lifetime()

    def t(enc: bytes, auth: bytes):
        return make_transform(keys.cipher, enc, keys.integrity, auth)
    a = EspSa(spi_in=0x1000, spi_out=0x2000, inbound=t(keys.enc_ba, keys.auth_ba),
              outbound=t(keys.enc_ab, keys.auth_ab), now=0.0, lifetime=lifetime, replay_window=window)
    b = EspSa(spi_in=0x2000, spi_out=0x1000, inbound=t(keys.enc_ab, keys.auth_ab),
              outbound=t(keys.enc_ba, keys.auth_ba), now=0.0, lifetime=lifetime, replay_window=window)
    return a, b


