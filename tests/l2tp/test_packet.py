"""L2TP header codec (RFC 2661 §3.1)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.l2tp.errors import L2tpError
from ikel2tp.l2tp.packet import (
    Header,
    decode_datagram,
    decode_datagram_general,
    encode_control,
    encode_datagram,
    encode_datagram_general,
)

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


def _outcome(decode, data):
    try:
        return decode(data)
    except L2tpError as exc:
        return ("error", type(exc), exc.field, exc.error, exc.reason)


data_flags = st.sampled_from([0x0002, 0x4002, 0x0802, 0x4802, 0x0102, 0x4902, 0x0a02, 0x0003, 0x8002, 0xc802])


@settings(derandomize=True, deadline=None, max_examples=400)
@given(st.one_of(
    st.binary(max_size=24),
    st.tuples(data_flags, st.binary(max_size=20)).map(lambda t: t[0].to_bytes(2, "big") + t[1]),
    st.tuples(headers(), st.binary(max_size=30), st.integers(0, 40)).map(
        lambda t: encode_datagram_general(t[0], t[1])[: t[2]]),
))
def test_fast_and_general_decode_agree(data):
    """The data-message fast path gives the same header and payload, or the same error (type,
    field, result code and reason), as the general pull_header path."""
    assert _outcome(decode_datagram, data) == _outcome(decode_datagram_general, data)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(headers(), st.binary(max_size=60), st.one_of(st.none(), u16))
def test_fast_and_general_encode_agree(header, payload, stray_nr):
    if header.ns is None:  # an Nr without Ns is not encoded by either path
        header = header._replace(nr=stray_nr)
    assert encode_datagram(header, payload) == encode_datagram_general(header, payload)
