"""PPP frame, control packet and configuration option codecs (RFC 1661 §2, §5, §6)."""

from __future__ import annotations

from dataclasses import dataclass

from ikel2tp.common.buffer import Buffer
from ikel2tp.common.errors import DecodeError, ProtocolError


class PppError(ProtocolError):
    """A PPP packet is malformed or illegal; ``code`` is the LCP code we answer with, if any."""

    layer = "ppp"


def pull_frame(frame: bytes) -> tuple[int, bytes]:
    """Split a PPP frame (FF 03 already stripped) into protocol and information.

    RFC 1661 §2 / §6.5: a protocol field whose first octet is odd is the one-octet compressed form
    (PFC); the last octet of every protocol number is odd.
    """
    # Every data packet passes here, so it slices directly instead of copying into a Buffer.
    if not frame:
        raise DecodeError("empty frame", field="ppp.protocol")
    first = frame[0]
    if first & 1:
        return first, frame[1:]
    if len(frame) < 2:
        raise DecodeError("needs 2 bytes, 1 left", field="ppp.protocol")
    protocol = (first << 8) | frame[1]
    if not protocol & 1:
        raise DecodeError(f"protocol {protocol:#06x} has an even last octet", field="ppp.protocol")
    return protocol, frame[2:]


def push_frame(protocol: int, information: bytes) -> bytes:
    """We always send the two-octet protocol field (RFC 1661 §6.5 allows it even with PFC)."""
    return protocol.to_bytes(2, "big") + information


@dataclass(frozen=True)
class ControlPacket:
    """RFC 1661 §5: Code, Identifier, Length, Data (the same header for LCP and every NCP)."""

    code: int
    identifier: int
    data: bytes


def pull_control_packet(information: bytes) -> ControlPacket:
    buf = Buffer(information)
    code = buf.pull_uint8("cp.code")
    identifier = buf.pull_uint8("cp.identifier")
    length = buf.pull_uint16("cp.length")
    if length < 4:
        raise DecodeError(f"length {length} below the 4-byte header", field="cp.length")
    # Octets beyond Length are padding and MUST be ignored (RFC 1661 §5).
    return ControlPacket(code, identifier, buf.pull_bytes(length - 4, "cp.length"))


def push_control_packet(packet: ControlPacket) -> bytes:
    buf = Buffer()
    buf.push_uint8(packet.code)
    buf.push_uint8(packet.identifier)
    buf.push_uint16(4 + len(packet.data))
    buf.push_bytes(packet.data)
    return buf.data()


@dataclass(frozen=True)
class Option:
    """One configuration option (RFC 1661 §6): Type, Length (covering both header octets), Data."""

    type: int
    data: bytes = b""


def pull_options(data: bytes) -> list[Option]:
    buf = Buffer(data)
    options = []
    while not buf.eof():
        kind = buf.pull_uint8("option.type")
        length = buf.pull_uint8("option.length")
        if length < 2:
            raise DecodeError(f"option {kind} length {length} below 2", field="option.length")
        options.append(Option(kind, buf.pull_bytes(length - 2, "option.length")))
    return options


def push_options(options: list[Option] | tuple[Option, ...]) -> bytes:
    buf = Buffer()
    for option in options:
        buf.push_uint8(option.type)
        buf.push_uint8(2 + len(option.data))
        buf.push_bytes(option.data)
    return buf.data()
