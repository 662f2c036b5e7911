"""TCP MSS clamping on the PPP path (the "connects but pages do not load" fix).

A SYN whose MSS option exceeds what fits the link is rewritten to ``mtu - 40`` (20 bytes of IPv4
header and 20 of TCP header).  The TCP checksum is updated incrementally (RFC 1624 eqn. 3,
HC' = ~(~HC + ~m + m')), so a SYN that arrived with a bad checksum still has a bad one.
"""

from __future__ import annotations

import struct

_TCP = 6
_SYN = 0x02
_MSS_KIND = 2
_MSS_LENGTH = 4


def mss_for_mtu(mtu: int) -> int:
    return mtu - 40


def _ones_add(a: int, b: int) -> int:
    total = a + b
    return (total & 0xFFFF) + (total >> 16)


def clamp_mss(packet: bytes, max_mss: int) -> bytes:
    """Return ``packet`` with its TCP MSS option lowered to ``max_mss`` if it is an IPv4 TCP SYN
    carrying a larger one; any other packet (or a malformed one) comes back unchanged."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != _TCP:
        return packet
    ihl = (packet[0] & 0x0F) * 4
    flags_fragment = struct.unpack_from("!H", packet, 6)[0]
    if ihl < 20 or flags_fragment & 0x1FFF:  # not the first fragment: no TCP header here
        return packet
    if len(packet) < ihl + 20 or not packet[ihl + 13] & _SYN:
        return packet
    data_offset = (packet[ihl + 12] >> 4) * 4
    if data_offset <= 20 or len(packet) < ihl + data_offset:
        return packet
    offset = ihl + 20
    end = ihl + data_offset
    while offset < end:
        kind = packet[offset]
        if kind == 0:  # End of Option List
            return packet
        if kind == 1:  # No-Operation
            offset += 1
            continue
        if offset + 1 >= end or packet[offset + 1] < 2 or offset + packet[offset + 1] > end:
            return packet
        if kind == _MSS_KIND and packet[offset + 1] == _MSS_LENGTH:
            return _rewrite(packet, ihl, offset + 2, max_mss)
        offset += packet[offset + 1]
    return packet


def _rewrite(packet: bytes, ihl: int, value_offset: int, max_mss: int) -> bytes:
    old = struct.unpack_from("!H", packet, value_offset)[0]
    if old <= max_mss:
        return packet
    out = bytearray(packet)
    struct.pack_into("!H", out, value_offset, max_mss)
    # The checksum sums 16-bit words from the start of the TCP header; the MSS value may straddle two.
    first = ihl + ((value_offset - ihl) & ~1)
    last = ihl + ((value_offset + 1 - ihl) & ~1)
    # An odd-length segment is summed as if padded with a zero octet (RFC 793 §3.1).
    old_padded, new_padded = packet + b"\x00", bytes(out) + b"\x00"
    checksum = struct.unpack_from("!H", packet, ihl + 16)[0]
    total = ~checksum & 0xFFFF
    for word in range(first, last + 2, 2):
        old_word = struct.unpack_from("!H", old_padded, word)[0]
        new_word = struct.unpack_from("!H", new_padded, word)[0]
        total = _ones_add(_ones_add(total, ~old_word & 0xFFFF), new_word)
    struct.pack_into("!H", out, ihl + 16, ~total & 0xFFFF)
    return bytes(out)
