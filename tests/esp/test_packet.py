"""Codecs around ESP: port-4500 framing, trailer, inner UDP header, raw-socket IPv4 header."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikel2tp.esp.errors import DropReason, EspError
from ikel2tp.esp.packet import (
    NattKind,
    classify_natt,
    peek_spi,
    pull_ipv4,
    pull_udp,
    push_udp,
    strip_trailer,
    trailer,
)


@pytest.mark.parametrize("data,kind", [
    (b"\xff", NattKind.KEEPALIVE),
    (b"\x00\x00\x00\x00" + bytes(28), NattKind.IKE),
    (b"\x00\x00\x10\x00" + bytes(20), NattKind.ESP),
    (b"", NattKind.INVALID),
    (b"\x00\x00\x00", NattKind.INVALID),
    (b"\xff\xff", NattKind.INVALID),
])
def test_classify_natt(data, kind):
    assert classify_natt(data) is kind


def test_peek_spi():
    assert peek_spi(struct.pack("!II", 0xDEADBEEF, 1)) == 0xDEADBEEF
    with pytest.raises(EspError) as info:
        peek_spi(b"\x00\x00\x01")
    assert info.value.drop == DropReason.SHORT


@given(st.binary(max_size=300), st.integers(0, 255), st.sampled_from([4, 8, 16]))
def test_trailer_round_trip(payload, next_header, block):
    plain = payload + trailer(len(payload), next_header, block)
    assert len(plain) % block == 0 and len(plain) - len(payload) < block + 2
    assert strip_trailer(plain) == (next_header, payload)


@pytest.mark.parametrize("plain,field", [
    (b"", "pad_length"),
    (b"\x11", "pad_length"),
    (b"ab\x05\x11", "pad_length"),
    (b"ab\x01\x03\x02\x11", "padding"),
])
def test_trailer_errors(plain, field):
    with pytest.raises(EspError) as info:
        strip_trailer(plain)
    assert (info.value.drop, info.value.field) == (DropReason.PADDING, field)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=200))
def test_udp_round_trip(sport, dport, payload):
    datagram = push_udp(sport, dport, payload)
    header, data = pull_udp(datagram + b"trailing")  # the length field cuts
    assert (header.source_port, header.destination_port, header.length, header.checksum, data) == (
        sport, dport, 8 + len(payload), 0, payload)


@pytest.mark.parametrize("datagram", [b"", bytes(7), struct.pack("!HHHH", 1701, 1701, 7, 0),
                                      struct.pack("!HHHH", 1701, 1701, 20, 0) + bytes(4)])
def test_udp_errors(datagram):
    with pytest.raises(EspError) as info:
        pull_udp(datagram)
    assert info.value.drop == DropReason.UDP


def test_udp_too_long():
    with pytest.raises(EspError):
        push_udp(1701, 1701, bytes(0xFFFF))


def _ipv4(payload: bytes, ihl: int = 5, total: int | None = None) -> bytes:
    total = 4 * ihl + len(payload) if total is None else total
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, 0, 64, 50, 0,
                         bytes([192, 0, 2, 7]), bytes([198, 51, 100, 1]))
    return header + bytes(4 * ihl - 20) + payload


def test_ipv4():
    header, esp = pull_ipv4(_ipv4(b"espdata"))
    assert (header.source, header.destination, header.protocol, esp) == ("192.0.2.7", "198.51.100.1", 50,
                                                                         b"espdata")
    _, esp = pull_ipv4(_ipv4(b"espdata", ihl=6))  # options skipped
    assert esp == b"espdata"
    _, esp = pull_ipv4(_ipv4(b"espdata", total=24))  # total length cuts trailing bytes
    assert esp == b"espd"


@pytest.mark.parametrize("data", [b"", bytes(19), b"\x60" + bytes(39), _ipv4(b"", ihl=15)[:40]])
def test_ipv4_errors(data):
    with pytest.raises(EspError):
        pull_ipv4(data)
