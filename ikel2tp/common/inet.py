"""Internet checksum (RFC 1071), for the IPv4/ICMP/UDP headers ikel2tp builds itself."""

from __future__ import annotations

import struct


def internet_checksum(data: bytes) -> int:
    """The one's-complement of the one's-complement sum of ``data`` as 16-bit words (RFC 1071 §4.1)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
