"""The RADIUS packet codec (RFC 2865 §3 and §5): header, attributes, Vendor-Specific (§5.26).

A packet is kept as its attributes in wire order, ``(type, value)`` pairs; typed access goes
through :data:`ikel2tp.radius.constants.KIND`.  Decoding never trusts a length: the header
length must lie in 20..4096 and within the datagram (octets past it are padding, RFC 2865 §3),
every attribute length in 2..(what is left).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address

from ikel2tp.common.buffer import Buffer
from ikel2tp.common.errors import DecodeError
from ikel2tp.radius.constants import (
    AUTHENTICATOR_LENGTH,
    HEADER_LENGTH,
    KIND,
    MAX_ATTRIBUTE_VALUE,
    MAX_PACKET_LENGTH,
    VENDOR_MICROSOFT,
    Attr,
    Kind,
)
from ikel2tp.radius.errors import RadiusError

Attribute = tuple[int, bytes]


@dataclass(frozen=True)
class RadiusPacket:
    """RFC 2865 §3: Code, Identifier, Authenticator, Attributes (Length is computed)."""

    code: int
    identifier: int
    authenticator: bytes
    attributes: tuple[Attribute, ...] = ()

    def __repr__(self) -> str:  # values may hold hidden passwords: show types only
        types = ",".join(str(kind) for kind, _ in self.attributes)
        return f"RadiusPacket(code={self.code}, id={self.identifier}, attrs=[{types}])"

    def get(self, attr: int) -> bytes | None:
        """The first value of ``attr``, or None."""
        for kind, value in self.attributes:
            if kind == attr:
                return value
        return None

    def get_all(self, attr: int) -> list[bytes]:
        return [value for kind, value in self.attributes if kind == attr]

    def text(self, attr: int) -> str | None:
        """A text attribute (RFC 2865 §5: UTF-8; undecodable octets are replaced, never fatal)."""
        value = self.get(attr)
        return None if value is None else value.decode("utf-8", "replace")

    def integer(self, attr: int) -> int | None:
        value = self.get(attr)
        return None if value is None else int.from_bytes(_four(attr, value), "big")

    def address(self, attr: int) -> IPv4Address | None:
        value = self.get(attr)
        return None if value is None else IPv4Address(_four(attr, value))

    def vendor(self, vendor_id: int, vendor_type: int) -> bytes | None:
        """The first Vendor-Specific sub-attribute ``vendor_type`` of ``vendor_id``, or None."""
        for value in self.get_all(Attr.VENDOR_SPECIFIC):
            for vid, vtype, data in pull_vendor_specific(value):
                if vid == vendor_id and vtype == vendor_type:
                    return data
        return None


def _four(attr: int, value: bytes) -> bytes:
    """RFC 2865 §5: integer and address values are exactly 4 octets."""
    if len(value) != 4:
        raise RadiusError(f"value of {len(value)} octets, expected 4", field=_name(attr))
    return value


def decode_value(attr: int, value: bytes) -> str | int | IPv4Address | bytes:
    """Convert an attribute value by its :data:`KIND` (RFC 2865 §5); a wrong size is an error."""
    kind = KIND.get(attr, Kind.STRING)
    if kind is Kind.TEXT:
        return value.decode("utf-8", "replace")
    if kind is Kind.STRING:
        return value
    if kind is Kind.ADDRESS:
        return IPv4Address(_four(attr, value))
    return int.from_bytes(_four(attr, value), "big")


def check_attributes(packet: RadiusPacket) -> None:
    """Decode every attribute by its :data:`KIND` and every Vendor-Specific sub-attribute, so that a
    malformed value fails the whole (authentic) packet in one place, before anything is used."""
    for kind, value in packet.attributes:
        decode_value(kind, value)
        if kind == Attr.VENDOR_SPECIFIC:
            pull_vendor_specific(value)


def encode_value(attr: int, value: str | int | IPv4Address | bytes) -> Attribute:
    """The wire form of a typed value (the inverse of :func:`decode_value`)."""
    if isinstance(value, IPv4Address):
        data = value.packed
    elif isinstance(value, int):
        data = value.to_bytes(4, "big")
    elif isinstance(value, str):
        data = value.encode("utf-8")
    else:
        data = bytes(value)
    return (int(attr), data)


def _name(attr: int) -> str:
    try:
        return f"radius.{Attr(attr).name}"
    except ValueError:
        return f"radius.attribute[{attr}]"


def pull_attributes(buf: Buffer) -> tuple[Attribute, ...]:
    """RFC 2865 §5: Type(1) Length(1) Value(Length-2) until the buffer ends."""
    out = []
    while not buf.eof():
        kind = buf.pull_uint8("radius.attribute.type")
        length = buf.pull_uint8("radius.attribute.length")
        if length < 2:
            raise DecodeError(f"attribute {kind} has length {length}, below 2", field=_name(kind))
        out.append((kind, buf.pull_bytes(length - 2, _name(kind))))
    return tuple(out)


def push_attributes(buf: Buffer, attributes: Iterable[Attribute]) -> None:
    for kind, value in attributes:
        if not 0 < kind < 256 or len(value) > MAX_ATTRIBUTE_VALUE:
            raise ValueError(f"attribute {kind} with {len(value)} octets does not fit RFC 2865 §5")
        buf.push_uint8(kind)
        buf.push_uint8(len(value) + 2)
        buf.push_bytes(value)


def pull_packet(data: bytes) -> RadiusPacket:
    """Decode one datagram; any defect raises :class:`RadiusError` naming the field."""
    try:
        buf = Buffer(data)
        code = buf.pull_uint8("radius.code")
        identifier = buf.pull_uint8("radius.identifier")
        length = buf.pull_uint16("radius.length")
        if not HEADER_LENGTH <= length <= MAX_PACKET_LENGTH:
            raise DecodeError(f"length {length} outside 20..4096", field="radius.length")
        if length > len(data):
            raise DecodeError(f"length {length} but the datagram has {len(data)} octets",
                              field="radius.length")
        authenticator = buf.pull_bytes(AUTHENTICATOR_LENGTH, "radius.authenticator")
        attributes = pull_attributes(buf.sub(length - HEADER_LENGTH, "radius.attributes"))
    except DecodeError as exc:
        raise RadiusError(exc.reason, field=exc.field) from exc
    return RadiusPacket(code, identifier, authenticator, attributes)


def push_packet(packet: RadiusPacket) -> bytes:
    """Encode ``packet`` with its Length; the caller signs it (:mod:`ikel2tp.radius.crypto`)."""
    body = Buffer()
    push_attributes(body, packet.attributes)
    length = HEADER_LENGTH + len(body)
    if length > MAX_PACKET_LENGTH or len(packet.authenticator) != AUTHENTICATOR_LENGTH:
        raise ValueError(f"packet of {length} octets or a bad authenticator does not fit RFC 2865 §3")
    out = Buffer()
    out.push_uint8(packet.code)
    out.push_uint8(packet.identifier)
    out.push_uint16(length)
    out.push_bytes(packet.authenticator)
    out.push_bytes(body.data())
    return out.data()


def pull_vendor_specific(value: bytes) -> list[tuple[int, int, bytes]]:
    """RFC 2865 §5.26 Vendor-Id(4) then, for the RFC's recommended format (RFC 2548 §2 uses it),
    Vendor-Type(1) Vendor-Length(1) Data; a vendor whose format differs yields one opaque item
    with type -1 so that it never fails the whole packet."""
    buf = Buffer(value)
    try:
        vendor_id = buf.pull_uint32("radius.vendor_id")
        if vendor_id != VENDOR_MICROSOFT:
            return [(vendor_id, -1, buf.pull_rest())]
        out = []
        while not buf.eof():
            vtype = buf.pull_uint8("radius.vendor_type")
            vlength = buf.pull_uint8("radius.vendor_length")
            if vlength < 2:
                raise DecodeError(f"vendor attribute {vtype} has length {vlength}",
                                  field="radius.vendor_length")
            out.append((vendor_id, vtype, buf.pull_bytes(vlength - 2, "radius.vendor_data")))
    except DecodeError as exc:
        raise RadiusError(exc.reason, field=exc.field) from exc
    return out


def vendor_attribute(vendor_id: int, vendor_type: int, data: bytes) -> Attribute:
    """One Vendor-Specific attribute holding one sub-attribute (RFC 2865 §5.26, RFC 2548 §2)."""
    buf = Buffer()
    buf.push_uint32(vendor_id)
    buf.push_uint8(vendor_type)
    buf.push_uint8(len(data) + 2)
    buf.push_bytes(data)
    return (Attr.VENDOR_SPECIFIC, buf.data())
