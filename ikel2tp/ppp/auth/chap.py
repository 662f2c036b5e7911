"""CHAP (RFC 1994) and MS-CHAPv2 (RFC 2759 §3-6) packets: Challenge, Response, Success, Failure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum

from ikel2tp.common.buffer import Buffer
from ikel2tp.common.errors import DecodeError


class ChapCode(IntEnum):
    """RFC 1994 §4."""

    CHALLENGE = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


class ChapAlgorithm(IntEnum):
    """The CHAP Algorithm octet of the LCP Authentication-Protocol option (RFC 1994 §3, RFC 2759 §2)."""

    MD5 = 5
    MSCHAPV2 = 0x81


@dataclass(frozen=True)
class ChapValuePacket:
    """RFC 1994 §4.1 Challenge or Response: Value-Size, Value, Name."""

    code: ChapCode
    identifier: int
    value: bytes
    name: bytes

    def __repr__(self) -> str:
        return f"ChapValuePacket({self.code.name}, id={self.identifier}, name={self.name!r})"


@dataclass(frozen=True)
class ChapMessagePacket:
    """RFC 1994 §4.2 Success or Failure: a message."""

    code: ChapCode
    identifier: int
    message: bytes


ChapPacket = ChapValuePacket | ChapMessagePacket


def pull_chap_packet(data: bytes) -> ChapPacket:
    """Decode one CHAP packet (the PPP payload of protocol 0xC223)."""
    buf = Buffer(data)
    code = buf.pull_uint8("chap.code")
    identifier = buf.pull_uint8("chap.identifier")
    length = buf.pull_uint16("chap.length")
    if length < 4:
        raise DecodeError(f"length {length} below the 4-byte header", field="chap.length")
    body = buf.sub(length - 4, "chap.length")  # octets past Length are padding (RFC 1994 §4)
    if code in (ChapCode.CHALLENGE, ChapCode.RESPONSE):
        size = body.pull_uint8("chap.value_size")
        value = body.pull_bytes(size, "chap.value")
        return ChapValuePacket(ChapCode(code), identifier, value, body.pull_rest())
    if code in (ChapCode.SUCCESS, ChapCode.FAILURE):
        return ChapMessagePacket(ChapCode(code), identifier, body.pull_rest())
    raise DecodeError(f"unknown CHAP code {code}", field="chap.code")


def push_chap_packet(packet: ChapPacket) -> bytes:
    body = Buffer()
    if isinstance(packet, ChapValuePacket):
        body.push_uint8(len(packet.value))
        body.push_bytes(packet.value)
        body.push_bytes(packet.name)
    else:
        body.push_bytes(packet.message)
    out = Buffer()
    out.push_uint8(packet.code)
    out.push_uint8(packet.identifier)
    out.push_uint16(4 + len(body))
    out.push_bytes(body.data())
    return out.data()


def chap_md5_response(identifier: int, secret: bytes, challenge: bytes) -> bytes:
    """RFC 1994 §4.1 with algorithm 5 (MD5): MD5(Identifier | secret | Challenge-Value)."""
    return hashlib.md5(bytes([identifier]) + secret + challenge).digest()
