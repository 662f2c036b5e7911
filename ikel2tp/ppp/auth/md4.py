"""MD4 message digest (RFC 1320), in pure Python.

MS-CHAPv2 (RFC 2759 §8.3) needs MD4 for the NT password hash, and OpenSSL 3 no longer offers it
through :mod:`hashlib` (it lives in the "legacy" provider).  The inputs here are a password or a
16-byte hash, so speed does not matter.
"""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF


def _rotl(x: int, s: int) -> int:
    x &= _MASK
    return ((x << s) | (x >> (32 - s))) & _MASK


def _f(x: int, y: int, z: int) -> int:
    return (x & y) | (~x & z)


def _g(x: int, y: int, z: int) -> int:
    return (x & y) | (x & z) | (y & z)


def _h(x: int, y: int, z: int) -> int:
    return x ^ y ^ z


# RFC 1320 §3.4: the order in which each round reads the 16 words of a block, and the shifts.
_ROUND1 = (range(16), (3, 7, 11, 19), 0, _f)
_ROUND2 = ((0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), (3, 5, 9, 13), 0x5A827999, _g)
_ROUND3 = ((0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15), (3, 9, 11, 15), 0x6ED9EBA1, _h)


def md4(data: bytes) -> bytes:
    """The 16-byte MD4 digest of ``data`` (RFC 1320 §3)."""
    # §3.1-3.2: pad with 0x80, zeros to 56 mod 64, then the bit length as a 64-bit little-endian.
    bit_length = (len(data) * 8) & 0xFFFFFFFFFFFFFFFF
    message = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack("<Q", bit_length)
    state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]  # §3.3
    for offset in range(0, len(message), 64):
        x = struct.unpack_from("<16I", message, offset)
        a, b, c, d = state
        for order, shifts, constant, func in (_ROUND1, _ROUND2, _ROUND3):
            for i, k in enumerate(order):
                a = _rotl(a + func(b, c, d) + x[k] + constant, shifts[i % 4])
                a, b, c, d = d, a, b, c
        state = [(s + v) & _MASK for s, v in zip(state, (a, b, c, d), strict=True)]
    return struct.pack("<4I", *state)
