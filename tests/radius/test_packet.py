"""The packet codec (RFC 2865 §3, §5): round trips, bounds, fuzzing."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikel2tp.radius.constants import VENDOR_MICROSOFT, Attr, MsAttr
from ikel2tp.radius.errors import RadiusError
from ikel2tp.radius.packet import (
    RadiusPacket,
    check_attributes,
    decode_value,
    encode_value,
    pull_packet,
    pull_vendor_specific,
    push_packet,
    vendor_attribute,
)

# RFC 2865 §7.1: the example Access-Request (User-Name "nemo", hidden "arctangent",
# NAS-IP-Address 192.168.1.16, NAS-Port 3).
RFC2865_REQUEST = bytes.fromhex(
    "01000038" "0f403f9473978057bd83d5cb98f4227a"
    "01066e656d6f" "02120dbe708d93d413ce3196e43f782a0aee" "0406c0a80110" "050600000003")

attributes = st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=60)), max_size=20)
packets = st.builds(RadiusPacket, st.integers(0, 255), st.integers(0, 255),
                    st.binary(min_size=16, max_size=16), attributes.map(tuple))


@given(packets)
def test_round_trip(packet: RadiusPacket) -> None:
    assert pull_packet(push_packet(packet)) == packet


def test_rfc2865_example_decodes() -> None:
    packet = pull_packet(RFC2865_REQUEST)
    assert (packet.code, packet.identifier) == (1, 0)
    assert packet.text(Attr.USER_NAME) == "nemo"
    assert packet.address(Attr.NAS_IP_ADDRESS) == IPv4Address("192.168.1.16")
    assert packet.integer(Attr.NAS_PORT) == 3
    assert push_packet(packet) == RFC2865_REQUEST


def test_octets_past_length_are_padding() -> None:
    assert pull_packet(RFC2865_REQUEST + b"\x00\x01\x02") == pull_packet(RFC2865_REQUEST)


@pytest.mark.parametrize(("data", "field"), [
    (RFC2865_REQUEST[:19], "radius.length"),  # short header
    (RFC2865_REQUEST[:-1], "radius.length"),  # Length says more than the datagram has
    (bytes.fromhex("01000013") + bytes(16), "radius.length"),  # Length below 20
    (bytes.fromhex("01001001") + bytes(4097), "radius.length"),  # Length above 4096
    (bytes.fromhex("01000016") + bytes(16) + b"\x01\x01", "radius.USER_NAME"),  # attribute length 1
    (bytes.fromhex("01000017") + bytes(16) + b"\x01\x05ab", "radius.USER_NAME"),  # overruns the packet
    (bytes.fromhex("01000015") + bytes(16) + b"\x01", "radius.attribute.length"),  # truncated header
    (RFC2865_REQUEST[:3], "radius.length"),
], ids=["short-header", "length-past-datagram", "length-below-20", "length-above-4096", "attribute-length-1",
        "attribute-overruns", "attribute-header-cut", "three-octets"])
def test_truncated_and_wrong_lengths_are_rejected(data: bytes, field: str) -> None:
    with pytest.raises(RadiusError) as caught:
        pull_packet(data)
    assert caught.value.field == field


def test_typed_values_check_their_size() -> None:
    assert decode_value(Attr.FRAMED_IP_ADDRESS, b"\x0a\x00\x00\x01") == IPv4Address("10.0.0.1")
    with pytest.raises(RadiusError, match="expected 4"):
        decode_value(Attr.SESSION_TIMEOUT, b"\x00\x01")
    assert encode_value(Attr.FRAMED_MTU, 1400) == (Attr.FRAMED_MTU, b"\x00\x00\x05\x78")


def test_microsoft_vendor_attributes() -> None:
    kind, value = vendor_attribute(VENDOR_MICROSOFT, MsAttr.MS_CHAP2_SUCCESS, b"\x00S=AB")
    assert kind == Attr.VENDOR_SPECIFIC
    assert value == bytes.fromhex("00000137") + b"\x1a\x07\x00S=AB"
    packet = RadiusPacket(2, 1, bytes(16), ((kind, value),))
    assert packet.vendor(VENDOR_MICROSOFT, MsAttr.MS_CHAP2_SUCCESS) == b"\x00S=AB"
    assert packet.vendor(VENDOR_MICROSOFT, MsAttr.MS_CHAP_ERROR) is None
    assert pull_vendor_specific(bytes.fromhex("00000009") + b"opaque") == [(9, -1, b"opaque")]
    with pytest.raises(RadiusError):
        pull_vendor_specific(bytes.fromhex("00000137") + b"\x1a\x09\x00")


def test_repr_hides_values() -> None:
    assert "0dbe" not in repr(pull_packet(RFC2865_REQUEST))
    assert "arctangent" not in repr(pull_packet(RFC2865_REQUEST))


@given(st.binary(max_size=300), st.data())
def test_fuzz_only_radius_error_escapes(noise: bytes, data: st.DataObject) -> None:
    """Mutations of a real packet (and plain noise) parse or raise RadiusError, nothing else."""
    mutated = bytearray(RFC2865_REQUEST)
    for _ in range(data.draw(st.integers(1, 6))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    for candidate in (bytes(mutated), noise, bytes(mutated[: data.draw(st.integers(0, len(mutated)))])):
        try:
            packet = pull_packet(candidate)
        except RadiusError:
            continue
        try:
            check_attributes(packet)
        except RadiusError:
            pass


@given(st.integers(0, 255), st.binary(max_size=240))
def test_vendor_attribute_round_trip(vendor_type: int, data: bytes) -> None:
    kind, value = vendor_attribute(VENDOR_MICROSOFT, vendor_type, data)
    assert pull_vendor_specific(value) == [(VENDOR_MICROSOFT, vendor_type, data)]
