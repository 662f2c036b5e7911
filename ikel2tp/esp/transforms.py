"""ESP transforms: the cipher and integrity registry and the per-direction packet transforms.

Registry (names from :mod:`ikel2tp.ike.suites`):

==========  ==================================  =========================================
cipher      RFC                                 wire format after SPI and sequence number
==========  ==================================  =========================================
aes-cbc     RFC 3602 (128/192/256-bit keys)     16-byte IV, ciphertext, truncated HMAC ICV
3des-cbc    RFC 2451                            8-byte IV, ciphertext, truncated HMAC ICV
aes-gcm     RFC 4106 (ICV 16, 4-byte salt)      8-byte explicit IV, ciphertext, 16-byte tag
==========  ==================================  =========================================

Speed (measured by ``tools/bench_esp.py``; per-call costs below from scratch timing on this machine):

* CBC encryption keeps **one running CBC encryptor per SA**.  Each packet's plaintext is prefixed with a
  fresh random block R; the encryptor outputs ``C0 = E(K, C_prev xor R)``, which is unpredictable and is
  sent as the packet's IV, and the following blocks chain from C0 exactly as RFC 3602 CBC with IV C0.
  Creating a cipher context per packet costs about as much as encrypting the packet.  ``seal`` takes
  the plaintext in pieces and joins them with R in one copy.
* CBC decryption uses the same idea: a running decryptor is fed ``IV || ciphertext``; the first output
  block (``D(IV) xor C_prev``, garbage) is not payload and every other block is ``D(C_i) xor C_{i-1}``
  with ``C_0 = IV``, so packets decrypt independently of each other.  Only packets whose ICV verified
  reach the decryptor, and their length is a whole number of blocks, so its chaining state is always
  the last block of a whole packet.  ``open`` returns the garbage block too (``skip``): the caller cuts
  the payload out in one slice instead of two.
* HMAC: one keyed ``cryptography`` HMAC per direction, copied per packet (saves the two key-pad
  compressions of a fresh HMAC).  Copying it costs ~0.37 µs; the stdlib ``hmac`` object's copy costs
  ~0.6 µs and a hand-made ipad/opad pair of ``hashlib`` objects (two copies, two digests) is no faster.
* AES-GCM: one ``AESGCM`` object per direction.  The explicit IV is the 64-bit big-endian sequence
  number, which RFC 4106 §3.1 allows (a counter is unique per key because sequence numbers never wrap).
  The nonce must be contiguous (salt + IV: one 12-byte concatenation); slicing the ciphertext out of
  the packet as ``bytes`` is cheaper than making a ``memoryview`` of it, and ``decrypt_into`` (which
  needs an exactly sized buffer) is slower than ``decrypt``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from hmac import compare_digest
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as chmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ikel2tp.esp.errors import DropReason, EspError
from ikel2tp.esp.packet import ESP_HEADER_LEN

Random = Callable[[int], bytes]


@dataclass(frozen=True)
class CipherSpec:
    """One ESP encryption algorithm: block (alignment), IV and key sizes."""

    block: int
    iv: int
    key_bytes: frozenset[int]
    algorithm: type | None  # a cryptography block cipher; None for AEAD
    aead: bool = False
    salt: int = 0
    icv: int = 0


@dataclass(frozen=True)
class IntegritySpec:
    """One HMAC integrity algorithm: hash, key length and truncated ICV length."""

    hash: type[hashes.HashAlgorithm]
    key_bytes: int
    icv: int


CIPHERS: dict[str, CipherSpec] = {
    "aes-cbc": CipherSpec(16, 16, frozenset({16, 24, 32}), algorithms.AES),            # RFC 3602
    "3des-cbc": CipherSpec(8, 8, frozenset({24}), TripleDES),                            # RFC 2451
    "aes-gcm": CipherSpec(4, 8, frozenset({16, 24, 32}), None, aead=True, salt=4, icv=16),  # RFC 4106
}

INTEGRITY: dict[str, IntegritySpec] = {
    "sha1": IntegritySpec(hashes.SHA1, 20, 12),      # RFC 2404 HMAC-SHA1-96
    "sha256": IntegritySpec(hashes.SHA256, 32, 16),  # RFC 4868 HMAC-SHA256-128
    "sha384": IntegritySpec(hashes.SHA384, 48, 24),  # RFC 4868 HMAC-SHA384-192
    "sha512": IntegritySpec(hashes.SHA512, 64, 32),  # RFC 4868 HMAC-SHA512-256
    "md5": IntegritySpec(hashes.MD5, 16, 12),        # RFC 2403 HMAC-MD5-96
}

_IV64 = struct.Struct("!Q")


class Transform:
    """One direction of an SA's cryptography.  ``block`` is the alignment the trailer pads to;
    :meth:`open` returns ``skip`` bytes before the payload (CBC: the discarded IV block)."""

    block: int
    skip: int
    min_length: int  # shortest packet that can carry a one-byte-aligned trailer

    def seal(self, header: bytes, sequence: int, *plain: bytes) -> bytes:
        """The whole ESP packet for ``header`` (SPI, sequence) and the padded plaintext, the
        concatenation of ``plain`` (pieces, so that the transform joins them in one copy)."""
        raise NotImplementedError

    def open(self, packet: bytes) -> bytes:
        """Verify and decrypt a whole ESP packet: ``skip`` bytes, then the padded plaintext.  Raises
        :class:`EspError`.  Returning the skipped bytes saves a copy: the caller slices once."""
        raise NotImplementedError


class CbcHmac(Transform):
    """CBC cipher + truncated HMAC (RFC 4303 §3.3.2: encrypt, then ICV over SPI..ciphertext)."""

    def __init__(self, spec: CipherSpec, key: bytes, integrity: IntegritySpec, auth_key: bytes,
                 icv: int, random: Random) -> None:
        self.block = self.skip = spec.block
        self._icv = icv
        self.min_length = ESP_HEADER_LEN + spec.iv + spec.block + icv
        cipher = Cipher(spec.algorithm(key), modes.CBC(random(spec.block)))
        self._encrypt = cipher.encryptor().update
        self._decrypt = cipher.decryptor().update
        self._mac_copy = chmac.HMAC(auth_key, integrity.hash()).copy
        self._random = random

    def seal(self, header: bytes, sequence: int, *plain: bytes) -> bytes:
        packet = header + self._encrypt(b"".join((self._random(self.block), *plain)))
        mac = self._mac_copy()
        mac.update(packet)
        return packet + mac.finalize()[: self._icv]

    def open(self, packet: bytes) -> bytes:
        icv = self._icv
        end = len(packet) - icv
        if end < self.min_length - icv or (end - ESP_HEADER_LEN) % self.block:
            self._refuse(end + icv)
        mac = self._mac_copy()
        mac.update(packet[:end])  # measured: slicing bytes is cheaper than making a memoryview
        if not compare_digest(mac.finalize()[:icv], packet[end:]):
            raise EspError(DropReason.ICV, "integrity check failed", field="icv")
        return self._decrypt(packet[ESP_HEADER_LEN:end])  # IV block first: ``skip`` drops it

    def _refuse(self, size: int) -> NoReturn:
        if size < self.min_length:
            raise EspError(DropReason.SHORT, f"{size} bytes, needs at least {self.min_length}")
        raise EspError(DropReason.LENGTH, f"ciphertext of {size - self._icv - ESP_HEADER_LEN} bytes is "
                       f"not a multiple of {self.block}", field="payload")


class AesGcm(Transform):
    """AES-GCM with a 16-byte ICV (RFC 4106): nonce = salt || explicit IV, AAD = SPI || sequence."""

    def __init__(self, key: bytes, salt: bytes) -> None:
        self.block = 4
        self.skip = 0
        self.min_length = ESP_HEADER_LEN + 8 + 4 + 16  # a multiple of 4, like every well-formed packet
        aead = AESGCM(key)
        self._encrypt = aead.encrypt
        self._decrypt = aead.decrypt
        self._salt = salt

    def seal(self, header: bytes, sequence: int, *plain: bytes) -> bytes:
        iv = _IV64.pack(sequence)
        return header + iv + self._encrypt(self._salt + iv, b"".join(plain), header)

    def open(self, packet: bytes) -> bytes:
        size = len(packet)
        if size < self.min_length or size & 3:
            if size < self.min_length:
                raise EspError(DropReason.SHORT, f"{size} bytes, needs at least {self.min_length}")
            raise EspError(DropReason.LENGTH, "ciphertext is not 4-byte aligned", field="payload")
        try:
            return self._decrypt(self._salt + packet[8:16], packet[16:], packet[:8])
        except InvalidTag:
            raise EspError(DropReason.ICV, "integrity check failed", field="icv") from None


def make_transform(cipher: str, enc_key: bytes, integrity: str | None, auth_key: bytes, *,
                   icv_bytes: int = 0, random: Random = os.urandom) -> Transform:
    """Build one direction's transform; ``ValueError`` names what is wrong with the parameters.

    ``icv_bytes`` overrides the integrity algorithm's standard truncation (0 = standard), for peers
    with the Android SHA-256/96 truncation bug.  For AES-GCM ``enc_key`` ends with the 4-byte salt.
    """
    spec = CIPHERS.get(cipher)
    if spec is None:
        raise ValueError(f"unknown ESP cipher {cipher!r} (allowed: {', '.join(sorted(CIPHERS))})")
    if spec.aead:
        if integrity is not None:
            raise ValueError(f"{cipher} is AEAD and takes no integrity algorithm, got {integrity!r}")
        if icv_bytes not in (0, spec.icv):
            raise ValueError(f"{cipher}: only a {spec.icv}-byte ICV is supported, got {icv_bytes}")
        key, salt = enc_key[: -spec.salt], enc_key[-spec.salt :]
        if len(key) not in spec.key_bytes:
            raise ValueError(f"{cipher}: key material of {len(enc_key)} bytes is not key + 4-byte salt")
        return AesGcm(key, salt)
    if len(enc_key) not in spec.key_bytes:
        raise ValueError(f"{cipher}: {len(enc_key)}-byte key (allowed: {sorted(spec.key_bytes)})")
    mac = INTEGRITY.get(integrity or "")
    if mac is None:
        raise ValueError(f"{cipher} needs an integrity algorithm (allowed: {', '.join(sorted(INTEGRITY))}),"
                         f" got {integrity!r}")
    if len(auth_key) != mac.key_bytes:
        raise ValueError(f"HMAC-{integrity}: {len(auth_key)}-byte key, needs {mac.key_bytes}")
    icv = icv_bytes or mac.icv
    if not 12 <= icv <= mac.hash.digest_size:
        raise ValueError(f"HMAC-{integrity}: ICV of {icv} bytes is out of range")
    return CbcHmac(spec, enc_key, mac, auth_key, icv, random)
