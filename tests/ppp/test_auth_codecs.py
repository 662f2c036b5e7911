"""CHAP (RFC 1994) and PAP (RFC 1334) packets and the CHAP-MD5 response."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikel2tp.common.errors import DecodeError
from ikel2tp.ppp.auth.chap import (
    ChapCode,
    ChapMessagePacket,
    ChapValuePacket,
    chap_md5_response,
    pull_chap_packet,
    push_chap_packet,
)
from ikel2tp.ppp.auth.pap import PapCode, PapReply, PapRequest, pull_pap_packet, push_pap_packet

byte = st.integers(0, 255)
short = st.binary(max_size=255)


def test_chap_md5_response_is_md5_of_id_secret_challenge() -> None:
    # RFC 1994 §4.1: the Response Value is the one-way hash over Identifier, secret, Challenge Value.
    challenge = bytes(range(16))
    assert chap_md5_response(7, b"secret", challenge) == hashlib.md5(b"\x07secret" + challenge).digest()


def test_chap_known_packet() -> None:
    packet = ChapValuePacket(ChapCode.CHALLENGE, 1, b"\xaa" * 16, b"ikel2tp")
    wire = push_chap_packet(packet)
    assert wire[:4] == bytes([1, 1, 0, 4 + 1 + 16 + 7]) and wire[4] == 16
    assert pull_chap_packet(wire + b"pad") == packet  # octets past Length are padding


@given(st.sampled_from([ChapCode.CHALLENGE, ChapCode.RESPONSE]), byte, short, st.binary(max_size=100))
def test_chap_value_roundtrip(code: ChapCode, identifier: int, value: bytes, name: bytes) -> None:
    packet = ChapValuePacket(code, identifier, value, name)
    assert pull_chap_packet(push_chap_packet(packet)) == packet


@given(st.sampled_from([ChapCode.SUCCESS, ChapCode.FAILURE]), byte, st.binary(max_size=200))
def test_chap_message_roundtrip(code: ChapCode, identifier: int, message: bytes) -> None:
    packet = ChapMessagePacket(code, identifier, message)
    assert pull_chap_packet(push_chap_packet(packet)) == packet


@given(byte, short, short)
def test_pap_request_roundtrip(identifier: int, peer_id: bytes, password: bytes) -> None:
    packet = PapRequest(identifier, peer_id, password)
    assert pull_pap_packet(push_pap_packet(packet)) == packet


def test_secrets_stay_out_of_repr() -> None:
    assert "hunter2" not in repr(PapRequest(1, b"alice", b"hunter2"))


@given(st.sampled_from([PapCode.AUTHENTICATE_ACK, PapCode.AUTHENTICATE_NAK]), byte, short)
def test_pap_reply_roundtrip(code: PapCode, identifier: int, message: bytes) -> None:
    packet = PapReply(code, identifier, message)
    assert pull_pap_packet(push_pap_packet(packet)) == packet


@given(st.binary(max_size=64))
def test_garbage_raises_only_decode_errors(data: bytes) -> None:
    for pull in (pull_chap_packet, pull_pap_packet):
        try:
            pull(data)
        except DecodeError:
            pass


@pytest.mark.parametrize("wire", [b"\x02\x01\x00\x03", b"\x02\x01\x00\x20\x10", b"\x09\x01\x00\x04"])
def test_bad_chap_packets(wire: bytes) -> None:
    with pytest.raises(DecodeError):
        pull_chap_packet(wire)
