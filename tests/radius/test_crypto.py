"""Authenticators and hiding against RFC 2865 §7.1 and constructions written out here independently."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikel2tp.radius.constants import Attr, Code
from ikel2tp.radius.crypto import (
    hide_password,
    sign_access_request,
    sign_computed_request,
    sign_response,
    verify_computed_request,
    verify_response,
)
from ikel2tp.radius.errors import RadiusError
from ikel2tp.radius.packet import RadiusPacket, pull_packet

SECRET = b"xyzzy5461"
RFC_AUTHENTICATOR = bytes.fromhex("0f403f9473978057bd83d5cb98f4227a")
# RFC 2865 §7.1: the Access-Accept answering the example request.
RFC_ACCEPT = bytes.fromhex("02000026" "86fe220e7624ba2a1005f6bf9b55e0b2"
                           "060600000001" "0f0600000000" "0e06c0a80103")


def test_rfc2865_password_hiding() -> None:
    hidden = hide_password(b"arctangent", SECRET, RFC_AUTHENTICATOR)
    assert hidden == bytes.fromhex("0dbe708d93d413ce3196e43f782a0aee")


def _reveal(hidden: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 §5.2 read backwards, written independently of the code under test."""
    plain, previous = b"", authenticator
    for i in range(0, len(hidden), 16):
        block = hidden[i : i + 16]
        plain += bytes(a ^ b for a, b in zip(block, hashlib.md5(secret + previous).digest(), strict=True))
        previous = block
    return plain.rstrip(b"\x00")


@given(st.binary(max_size=128).filter(lambda p: not p.endswith(b"\x00")), st.binary(min_size=1, max_size=40),
       st.binary(min_size=16, max_size=16))
def test_hiding_round_trips_in_16_octet_blocks(password: bytes, secret: bytes, authenticator: bytes) -> None:
    hidden = hide_password(password, secret, authenticator)
    assert len(hidden) % 16 == 0 and len(hidden) >= 16
    assert _reveal(hidden, secret, authenticator) == password


def test_password_over_128_octets_is_refused() -> None:
    with pytest.raises(ValueError):
        hide_password(bytes(129), SECRET, RFC_AUTHENTICATOR)


def test_rfc2865_response_authenticator() -> None:
    pull_packet(RFC_ACCEPT)
    verify_response(RFC_ACCEPT, RFC_AUTHENTICATOR, SECRET, require_message_authenticator=False)
    with pytest.raises(RadiusError, match="shared secret"):
        verify_response(RFC_ACCEPT, RFC_AUTHENTICATOR, b"other", require_message_authenticator=False)
    with pytest.raises(RadiusError, match="no Message-Authenticator"):
        verify_response(RFC_ACCEPT, RFC_AUTHENTICATOR, SECRET, require_message_authenticator=True)


def _independent_message_authenticator(data: bytes, authenticator: bytes, secret: bytes) -> bytes:
    """RFC 3579 §3.2 from scratch: the MA is the last attribute of the packets we build."""
    zeroed = data[:4] + authenticator + data[20:-16] + bytes(16)
    return hmac.new(secret, zeroed, hashlib.md5).digest()


def test_access_request_message_authenticator() -> None:
    packet = RadiusPacket(Code.ACCESS_REQUEST, 7, RFC_AUTHENTICATOR, ((Attr.USER_NAME, b"nemo"),))
    data = sign_access_request(packet, SECRET)
    assert data[-18:-16] == bytes([Attr.MESSAGE_AUTHENTICATOR, 18])
    assert data[4:20] == RFC_AUTHENTICATOR
    assert data[-16:] == _independent_message_authenticator(data, RFC_AUTHENTICATOR, SECRET)


def test_accounting_request_authenticators() -> None:
    packet = RadiusPacket(Code.ACCOUNTING_REQUEST, 9, bytes(16), ((Attr.ACCT_SESSION_ID, b"s1"),))
    data = sign_computed_request(packet, SECRET)
    # RFC 3579 §3.2 over the zero authenticator, then RFC 2866 §3 over the packet with that MA.
    assert data[-16:] == _independent_message_authenticator(data, bytes(16), SECRET)
    assert data[4:20] == hashlib.md5(data[:4] + bytes(16) + data[20:] + SECRET).digest()
    verify_computed_request(data, SECRET, require_message_authenticator=True)
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(RadiusError):
        verify_computed_request(tampered, SECRET, require_message_authenticator=True)


def test_response_with_message_authenticator_verifies_and_tampering_fails() -> None:
    answer = RadiusPacket(Code.ACCESS_ACCEPT, 7, bytes(16), ((Attr.REPLY_MESSAGE, b"hi"),))
    data = sign_response(answer, RFC_AUTHENTICATOR, SECRET)
    assert data[-16:] == _independent_message_authenticator(data, RFC_AUTHENTICATOR, SECRET)
    verify_response(data, RFC_AUTHENTICATOR, SECRET, require_message_authenticator=True)
    # A right Response Authenticator over a wrong Message-Authenticator (an attacker who knows
    # neither cannot do this, but a buggy server can): the MA check is separate.
    bad = bytearray(data)
    bad[-1] ^= 1
    bad[4:20] = hashlib.md5(bytes(bad[:4]) + RFC_AUTHENTICATOR + bytes(bad[20:]) + SECRET).digest()
    with pytest.raises(RadiusError, match="bad Message-Authenticator"):
        verify_response(bytes(bad), RFC_AUTHENTICATOR, SECRET, require_message_authenticator=True)


def test_two_message_authenticators_are_refused() -> None:
    answer = RadiusPacket(Code.ACCESS_ACCEPT, 7, bytes(16), ((Attr.MESSAGE_AUTHENTICATOR, bytes(16)),))
    data = sign_response(answer, RFC_AUTHENTICATOR, SECRET)
    with pytest.raises(RadiusError, match="more than one"):
        verify_response(data, RFC_AUTHENTICATOR, SECRET, require_message_authenticator=True)
