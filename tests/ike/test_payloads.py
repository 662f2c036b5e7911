"""Codec round trips (hypothesis) and strictness of the ISAKMP payload and header codecs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.common.buffer import Buffer
from ikel2tp.ike.constants import Flag, NotifyType, PayloadType
from ikel2tp.ike.errors import IkeError
from ikel2tp.ike.message import (
    Header,
    decode_plain,
    decrypt_body,
    encode,
    encode_encrypted,
    pull_header,
    split,
)
from ikel2tp.ike.payloads import (
    MAX_PAYLOADS,
    Attribute,
    CertPayload,
    CertReqPayload,
    DeletePayload,
    FragmentPayload,
    HashPayload,
    IdPayload,
    KePayload,
    NatDPayload,
    NatOaPayload,
    NoncePayload,
    NotifyPayload,
    Proposal,
    SaPayload,
    SigPayload,
    Transform,
    UnknownPayload,
    VendorIdPayload,
    pull_payloads,
    push_payloads,
)

blob = st.binary(max_size=64)
u8, u16, u32 = st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
attribute = st.one_of(
    st.builds(Attribute, st.integers(0, 0x7FFF), u16, st.just(True)),
    st.builds(Attribute, st.integers(0, 0x7FFF), st.binary(max_size=16), st.just(False)),
)
transform = st.builds(Transform, u8, u8, st.lists(attribute, max_size=6).map(tuple))
proposal = st.builds(
    Proposal,
    u8,
    u8,
    st.sampled_from([b"", b"\x00\x01\x02\x03", bytes(16)]),
    st.lists(transform, min_size=1, max_size=4).map(tuple),
)
sa = st.builds(SaPayload, st.lists(proposal, min_size=1, max_size=3).map(tuple))
payload = st.one_of(
    sa,
    st.builds(KePayload, blob),
    st.builds(IdPayload, u8, blob, u8, u16),
    st.builds(CertPayload, u8, blob),
    st.builds(CertReqPayload, u8, blob),
    st.builds(HashPayload, blob),
    st.builds(SigPayload, blob),
    st.builds(NoncePayload, blob),
    st.builds(NotifyPayload, u16, u8, st.binary(max_size=16), blob, st.just(1)),
    st.builds(
        DeletePayload,
        u8,
        st.integers(0, 4).flatmap(
            lambda n: st.lists(st.binary(min_size=4, max_size=4), max_size=n).map(tuple)
        ),
    ),
    st.builds(VendorIdPayload, blob),
    st.builds(NatDPayload, blob, st.sampled_from([PayloadType.NAT_D, PayloadType.NAT_D_DRAFT])),
    st.builds(NatOaPayload, u8, blob, st.sampled_from([PayloadType.NAT_OA, PayloadType.NAT_OA_DRAFT])),
    st.builds(FragmentPayload, u16, u8, st.booleans(), blob),
    st.builds(UnknownPayload, st.sampled_from([14, 15, 33, 200]), blob),
)
header = st.builds(
    Header,
    st.binary(min_size=8, max_size=8),
    st.binary(min_size=8, max_size=8),
    u8,
    u8,
    u8,
    u32,
    u32,
    st.integers(0x10, 0x1F),
)


@settings(max_examples=300)
@given(st.lists(payload, max_size=8))
def test_payload_chain_round_trip(payloads):
    first, data = push_payloads(payloads)
    decoded = [r.payload for r in pull_payloads(data, first)]
    assert decoded == payloads
    assert push_payloads(decoded) == (first, data)


@given(header)
def test_header_round_trip(h):
    from ikel2tp.ike.message import push_header

    buf = Buffer()
    push_header(buf, h)
    assert pull_header(Buffer(buf.data())) == h


@given(
    st.lists(payload, max_size=4), st.sampled_from(["aes-cbc", "3des-cbc"]), st.binary(min_size=8, max_size=8)
)
def test_encrypted_message_round_trip(payloads, cipher, cookie):
    key = bytes(range(32))[: 16 if cipher == "aes-cbc" else 24]
    iv = bytes(16 if cipher == "aes-cbc" else 8)
    h = Header(cookie, cookie, 0, 2, 0, 0)
    data, last = encode_encrypted(h, payloads, cipher, key, iv)
    got, body = split(data)
    assert got.flags & Flag.ENCRYPTION and got.length == len(data)
    assert body[-len(last) :] == last
    plain = decrypt_body(body, cipher, key, iv)
    assert len(plain) > len(push_payloads(payloads)[1])  # at least one byte of padding
    assert [r.payload for r in decode_plain(got, plain).payloads] == payloads


def test_attribute_shortest_form():
    assert Attribute.of(12, 28800) == Attribute(12, 28800, True)
    assert Attribute.of(12, 86400) == Attribute(12, (86400).to_bytes(4, "big"), False)
    assert Attribute.of(12, 86400).as_int() == 86400


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00\x03",  # length < 4
        b"\x00\x00\x00\x10abc",  # overruns
        b"\x00\x00\x00\x08\x00\x00\x00\x02",  # SA: DOI 2
    ],
)
def test_malformed_chains_raise_ike_error(data):
    first = PayloadType.SA if data.endswith(b"\x02") else PayloadType.NONCE
    with pytest.raises(IkeError):
        pull_payloads(data, first)


def test_payload_count_is_bounded():
    _, data = push_payloads([VendorIdPayload(b"x")] * (MAX_PAYLOADS + 1))
    with pytest.raises(IkeError, match="more than"):
        pull_payloads(data, PayloadType.VID)


def test_trailing_padding_is_ignored():
    first, data = push_payloads([NoncePayload(b"12345678")])
    assert [r.payload for r in pull_payloads(data + bytes(7), first)] == [NoncePayload(b"12345678")]


def test_header_length_and_version_checked():
    h = Header(bytes(8), bytes(8), 0, 2, 0, 0)
    data = encode(h, [NoncePayload(b"12345678")])
    with pytest.raises(IkeError):
        split(data[:-1])
    with pytest.raises(IkeError) as info:
        split(data[:17] + b"\x20" + data[18:])
    assert info.value.code == NotifyType.INVALID_MAJOR_VERSION
    assert split(data + b"\x00")[0].length == len(data)  # UDP padding beyond the header length


def test_id_payload_helpers():
    ident = IdPayload.from_address("192.0.2.1", 17, 1701)
    assert ident.address() == "192.0.2.1" and ident.describe() == "192.0.2.1[17/1701]"
    assert IdPayload.from_address("2001:db8::1").address() == "2001:db8::1"
    assert IdPayload(2, b"vpn.example").describe() == "vpn.example"
    assert IdPayload(4, bytes([192, 0, 2, 0, 255, 255, 255, 255])).address() == "192.0.2.0"
