"""PPP frame, control packet and option codecs: round trips and bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikel2tp.common.errors import DecodeError
from ikel2tp.ppp.packet import (
    ControlPacket,
    Option,
    pull_control_packet,
    pull_frame,
    pull_options,
    push_control_packet,
    push_frame,
    push_options,
)

options = st.lists(st.builds(Option, st.integers(0, 255), st.binary(max_size=253)), max_size=8)
# Valid PPP protocol numbers: first octet even, last octet odd (RFC 1661 §2).
protocols = st.tuples(st.integers(0, 127), st.integers(0, 127)).map(lambda t: t[0] << 9 | (t[1] * 2 + 1))


@given(protocols, st.binary(max_size=64))
def test_frame_roundtrip(protocol: int, info: bytes) -> None:
    assert pull_frame(push_frame(protocol, info)) == (protocol, info)


def test_compressed_protocol_field() -> None:
    assert pull_frame(b"\x21abc") == (0x21, b"abc")
    with pytest.raises(DecodeError):
        pull_frame(b"\x80\x20")  # even last octet
    with pytest.raises(DecodeError):
        pull_frame(b"")


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300))
def test_control_packet_roundtrip(code: int, identifier: int, data: bytes) -> None:
    packet = ControlPacket(code, identifier, data)
    assert pull_control_packet(push_control_packet(packet) + b"\x00\x00") == packet


@given(options)
def test_options_roundtrip(opts: list[Option]) -> None:
    assert pull_options(push_options(opts)) == opts


@pytest.mark.parametrize("data", [b"\x01", b"\x01\x01", b"\x01\x05\x00", b"\x03\x04\xc0"])
def test_bad_options(data: bytes) -> None:
    with pytest.raises(DecodeError):
        pull_options(data)


@pytest.mark.parametrize("data", [b"\x01\x01\x00", b"\x01\x01\x00\x03", b"\x01\x01\x00\x09abc"])
def test_bad_control_packets(data: bytes) -> None:
    with pytest.raises(DecodeError):
        pull_control_packet(data)
