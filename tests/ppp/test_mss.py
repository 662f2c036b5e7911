"""MSS clamping: rewritten SYNs carry a checksum that verifies independently."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from hypothesis import given
from hypothesis import strategies as st

from ikel2tp.ppp.mss import clamp_mss

SRC, DST = IPv4Address("10.9.0.7"), IPv4Address("192.0.2.1")


def ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def tcp_checksum_ok(packet: bytes) -> bool:
    """RFC 793 §3.1 over pseudo header + segment, computed from scratch."""
    ihl = (packet[0] & 0x0F) * 4
    segment = packet[ihl:]
    pseudo = packet[12:20] + struct.pack("!BBH", 0, 6, len(segment))
    return ones_sum(pseudo + segment) == 0xFFFF


def make_syn(options: bytes, payload: bytes = b"", flags: int = 0x02, fragment: int = 0) -> bytes:
    assert len(options) % 4 == 0
    offset = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", 40000, 443, 7, 0, offset << 4, flags, 65535, 0, 0) + options + payload
    total = 20 + len(tcp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, fragment, 64, 6, 0, SRC.packed, DST.packed)
    pseudo = SRC.packed + DST.packed + struct.pack("!BBH", 0, 6, len(tcp))
    checksum = ~ones_sum(pseudo + tcp) & 0xFFFF
    tcp = tcp[:16] + struct.pack("!H", checksum) + tcp[18:]
    return ip + tcp


def mss_of(packet: bytes) -> int:
    index = packet.index(b"\x02\x04", 40)
    return struct.unpack_from("!H", packet, index + 2)[0]


def test_aligned_mss_is_clamped() -> None:
    packet = make_syn(b"\x02\x04\x05\xb4" + b"\x01\x03\x03\x07")
    assert tcp_checksum_ok(packet)
    out = clamp_mss(packet, 1360)
    assert mss_of(out) == 1360 and tcp_checksum_ok(out) and len(out) == len(packet)


def test_odd_offset_mss_is_clamped() -> None:
    # NOP first: the MSS value straddles two 16-bit checksum words.
    packet = make_syn(b"\x01\x02\x04\x05\xb4\x01\x01\x00")
    out = clamp_mss(packet, 1360)
    assert struct.unpack_from("!H", out, 40 + 3)[0] == 1360 and tcp_checksum_ok(out)


def test_small_mss_untouched_and_non_syn_untouched() -> None:
    small = make_syn(b"\x02\x04\x04\x00")
    assert clamp_mss(small, 1360) is small
    ack = make_syn(b"\x02\x04\x05\xb4", flags=0x10)
    assert clamp_mss(ack, 1360) is ack
    fragment = make_syn(b"\x02\x04\x05\xb4", fragment=5)
    assert clamp_mss(fragment, 1360) is fragment


def test_syn_ack_is_clamped_too() -> None:
    out = clamp_mss(make_syn(b"\x02\x04\x23\x28", flags=0x12), 1360)
    assert mss_of(out) == 1360 and tcp_checksum_ok(out)


@given(st.integers(1361, 65535), st.integers(0, 3), st.binary(max_size=9))
def test_clamped_checksum_always_verifies(mss: int, nops: int, payload: bytes) -> None:
    options = b"\x01" * nops + struct.pack("!BBH", 2, 4, mss)
    options += b"\x00" * (-len(options) % 4)
    out = clamp_mss(make_syn(options, payload), 1360)
    assert tcp_checksum_ok(out) and struct.unpack_from("!H", out, 40 + nops + 2)[0] == 1360


@given(st.binary(max_size=80))
def test_garbage_never_raises(data: bytes) -> None:
    clamp_mss(data, 1360)
    clamp_mss(b"\x45" + data, 1360)
