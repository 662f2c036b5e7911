"""Hashes and the IKEv1 PRF: HMAC with the negotiated hash (RFC 2409 §4: "prf" is the HMAC
version of the negotiated hash unless a PRF attribute is negotiated)."""

from __future__ import annotations

import hashlib
import hmac

# canonical name (ikel2tp.ike.suites) -> digest size in bytes
DIGEST_SIZES: dict[str, int] = {"md5": 16, "sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


def hash_(name: str, data: bytes) -> bytes:
    """The plain negotiated hash (used for the phase 1 IV and NAT-D, RFC 2409 App. B, RFC 3947 §3.2)."""
    return hashlib.new(name, data).digest()


def prf(name: str, key: bytes, data: bytes) -> bytes:
    """prf(key, data) = HMAC-<hash>(key, data)."""
    return hmac.digest(key, data, name)


def prf_plus(name: str, key: bytes, seed: bytes, length: int) -> bytes:
    """RFC 2409 §5.5 KEYMAT expansion: K1 = prf(key, seed), Kn = prf(key, Kn-1 | seed)."""
    out = block = prf(name, key, seed)
    while len(out) < length:
        block = prf(name, key, block + seed)
        out += block
    return out[:length]


def extend_key(name: str, skeyid_e: bytes, length: int) -> bytes:
    """RFC 2409 App. B: Ka = K1 | K2 | ..., K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1).

    Used only when SKEYID_e is shorter than the cipher key; otherwise its leading bytes are the key.
    """
    if len(skeyid_e) >= length:
        return skeyid_e[:length]
    out = block = prf(name, skeyid_e, b"\x00")
    while len(out) < length:
        block = prf(name, skeyid_e, block)
        out += block
    return out[:length]
