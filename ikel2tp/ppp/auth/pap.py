"""PAP packets (RFC 1334 §2.2): Authenticate-Request, -Ack, -Nak."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ikel2tp.common.buffer import Buffer
from ikel2tp.common.errors import DecodeError


class PapCode(IntEnum):
    AUTHENTICATE_REQUEST = 1
    AUTHENTICATE_ACK = 2
    AUTHENTICATE_NAK = 3


@dataclass(frozen=True)
class PapRequest:
    """RFC 1334 §2.2.1: Peer-ID and Password (plaintext; never in repr)."""

    identifier: int
    peer_id: bytes
    password: bytes

    def __repr__(self) -> str:
        return f"PapRequest(id={self.identifier}, peer_id={self.peer_id!r})"


@dataclass(frozen=True)
class PapReply:
    """RFC 1334 §2.2.2: Authenticate-Ack or -Nak with a message."""

    code: PapCode
    identifier: int
    message: bytes


def pull_pap_packet(data: bytes) -> PapRequest | PapReply:
    buf = Buffer(data)
    code = buf.pull_uint8("pap.code")
    identifier = buf.pull_uint8("pap.identifier")
    length = buf.pull_uint16("pap.length")
    if length < 4:
        raise DecodeError(f"length {length} below the 4-byte header", field="pap.length")
    body = buf.sub(length - 4, "pap.length")
    if code == PapCode.AUTHENTICATE_REQUEST:
        peer_id = body.pull_bytes(body.pull_uint8("pap.peer_id_length"), "pap.peer_id")
        password = body.pull_bytes(body.pull_uint8("pap.password_length"), "pap.password")
        return PapRequest(identifier, peer_id, password)
    if code in (PapCode.AUTHENTICATE_ACK, PapCode.AUTHENTICATE_NAK):
        message = body.pull_bytes(body.pull_uint8("pap.msg_length"), "pap.message") if body.remaining else b""
        return PapReply(PapCode(code), identifier, message)
    raise DecodeError(f"unknown PAP code {code}", field="pap.code")


def push_pap_packet(packet: PapRequest | PapReply) -> bytes:
    body = Buffer()
    if isinstance(packet, PapRequest):
        code = PapCode.AUTHENTICATE_REQUEST
        for field in (packet.peer_id, packet.password):
            body.push_uint8(len(field))
            body.push_bytes(field)
    else:
        code = packet.code
        body.push_uint8(len(packet.message))
        body.push_bytes(packet.message)
    out = Buffer()
    out.push_uint8(code)
    out.push_uint8(packet.identifier)
    out.push_uint16(4 + len(body))
    out.push_bytes(body.data())
    return out.data()
