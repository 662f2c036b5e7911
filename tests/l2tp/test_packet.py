"""L2TP header codec (RFC 2661 §3.1)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.l2tp.errors import L2tpError
from ikel2tp.l2tp.packet import Header, decode_datagram, encode_control, encode_datagram

u16 = st.integers(0, 0xFFFF)


@st.composite
def headers(draw):
    control = draw(st.booleans())
    sequenced = control or draw(st.booleans())
    return Header(
        control=control,
        tunnel_id=draw(u16),
        session_id=draw(u16),
        ns=draw(u16) if sequenced else None,
        nr=draw(u16) if sequenced else None,
        length=control or draw(st.booleans()),
        offset=None if control else draw(st.one_of(st.none(), st.integers(0, 12))),
        priority=False if control else draw(st.booleans()),
    )


@settings(derandomize=True, deadline=None)
@given(headers(), st.binary(max_size=100), st.binary(max_size=8))
def test_header_round_trip(header, payload, trailer):
    data = encode_datagram(header, payload)
    assert decode_datagram(data) == (header, payload)
    if header.length:  # bytes after the Length are not payload
        assert decode_datagram(data + trailer) == (header, payload)


def test_known_zlb_bytes():
    # T L S, Ver 2, Length 12, Tunnel 0x1234, Session 0, Ns 5, Nr 6
    assert encode_control(0x1234, 0, 5, 6, []) == bytes.fromhex("c802000c123400000005 0006".replace(" ", ""))


@pytest.mark.parametrize("raw, why", [
    (bytes.fromhex("c803000c1234000000050006"), "version"),
    (bytes.fromhex("c801000c1234000000050006"), "version"),
    (bytes.fromhex("8002000c1234000000050006"), "flags"),      # control without L/S
    (bytes.fromhex("ca02000e12340000000500060000"), "flags"),  # control with O
    (bytes.fromhex("c80200ff1234000000050006"), "length"),      # Length beyond datagram
    (bytes.fromhex("c80200041234000000050006"), "length"),      # Length inside header
    (bytes.fromhex("0202123400000009"), "offset pad"),           # offset pad overruns
    (bytes.fromhex("020212340000"), "header"),                   # offset size missing
    (bytes.fromhex("c802"), "header"),
])
def test_bad_headers(raw, why):
    with pytest.raises(L2tpError) as err:
        decode_datagram(raw)
    assert err.value.field == why


@settings(derandomize=True, deadline=None)
@given(st.binary(max_size=40))
def test_random_bytes_only_raise_l2tp_error(blob):
    try:
        decode_datagram(blob)
    except L2tpError:
        pass
