"""Wire structures around ESP: the ESP header and trailer (RFC 4303 §2), the port-4500 framing
(RFC 3948 §2), the inner UDP header of transport-mode L2TP (RFC 768) and the IPv4 header a raw
``IPPROTO_ESP`` socket delivers (RFC 791).

These parsers run once per packet at line rate, so they work on ``bytes`` with precompiled
:mod:`struct` formats and explicit bounds checks rather than on :class:`~ikel2tp.common.buffer.Buffer`
(which copies its input); every length is checked before it is used and a failure is an
:class:`~ikel2tp.esp.errors.EspError` naming the counter.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

from ikel2tp.esp.errors import DropReason, EspError


class NextHeader(IntEnum):
    """IANA protocol numbers ESP's Next Header field carries here (RFC 4303 §2.6)."""

    UDP = 17
    NO_NEXT_HEADER = 59  # RFC 4303 §2.6: dummy packet, discarded silently


class NattKind(IntEnum):
    """What a datagram on UDP port 4500 is (RFC 3948 §2.2, §2.3)."""

    ESP = 0        # first four bytes are a (non-zero) SPI
    IKE = 1        # non-ESP marker 0x00000000 followed by an ISAKMP message
    KEEPALIVE = 2  # the single byte 0xFF (RFC 3948 §2.3)
    INVALID = 3    # too short to be any of them


ESP_PROTO = 50            # IANA protocol number of ESP
ESP_HEADER = struct.Struct("!II")  # RFC 4303 §2: SPI, sequence number
ESP_HEADER_LEN = ESP_HEADER.size
NON_ESP_MARKER = b"\x00\x00\x00\x00"
NATT_KEEPALIVE = b"\xff"
MAX_SEQUENCE = 0xFFFFFFFF  # RFC 4303 §3.3.3: a 32-bit counter never cycles (no ESN here)
L2TP_PORT = 1701

UDP_HEADER = struct.Struct("!HHHH")  # RFC 768: source port, destination port, length, checksum
UDP_HEADER_LEN = UDP_HEADER.size

# RFC 4303 §2.4: the default padding is the monotonic series 1, 2, 3, ...
_PAD = bytes(range(1, 256))
_TRAILERS: dict[int, tuple[bytes, ...]] = {}
# What the plaintext must end with (before Next Header) for each Pad Length: padding, then the length.
PAD_ENDINGS = tuple(_PAD[:n] + bytes((n,)) for n in range(256))


def classify_natt(data: bytes) -> NattKind:
    """Tell ESP, IKE (non-ESP marker) and NAT-T keepalives apart on port 4500 (RFC 3948 §2)."""
    if data == NATT_KEEPALIVE:
        return NattKind.KEEPALIVE
    if len(data) < 4:
        return NattKind.INVALID
    if data[:4] == NON_ESP_MARKER:
        return NattKind.IKE
    return NattKind.ESP


def peek_spi(packet: bytes) -> int:
    """The SPI of an ESP packet; SPIs 1..255 are reserved (RFC 4303 §2.1) and 0 is never an SA."""
    if len(packet) < ESP_HEADER_LEN:
        raise EspError(DropReason.SHORT, f"{len(packet)} bytes, no room for the ESP header", field="spi")
    return ESP_HEADER.unpack_from(packet)[0]


def trailers(next_header: int) -> tuple[bytes, ...]:
    """Padding, Pad Length and Next Header (RFC 4303 §2.4-2.6) indexed by pad length."""
    table = _TRAILERS.get(next_header)
    if table is None:
        table = _TRAILERS[next_header] = tuple(_PAD[:n] + bytes((n, next_header)) for n in range(256))
    return table


def trailer(payload_len: int, next_header: int, block: int) -> bytes:
    """The trailer that aligns ``payload_len`` bytes of payload to ``block``."""
    return trailers(next_header)[-(payload_len + 2) % block]


def strip_trailer(plain: bytes, start: int = 0) -> tuple[int, bytes]:
    """Check and remove the padding trailer of ``plain[start:]``: ``(next_header, payload)``
    (RFC 4303 §2.4, §3.4.4.1).  ``start`` lets a caller skip a prefix without copying it first."""
    size = len(plain)
    if size - start < 2:
        raise EspError(DropReason.PADDING, "no room for pad length and next header", field="pad_length")
    pad_len = plain[-2]
    end = size - 2 - pad_len
    if end < start:
        raise EspError(DropReason.PADDING, f"pad length {pad_len} exceeds the payload", field="pad_length")
    if plain[end:-1] != PAD_ENDINGS[pad_len]:  # measured: a short slice compares faster than endswith
        raise EspError(DropReason.PADDING, "padding bytes are not 1, 2, 3, ...", field="padding")
    return plain[-1], plain[start:end]


_new_tuple = tuple.__new__  # builds a NamedTuple from a tuple without the keyword machinery


class UdpHeader(NamedTuple):
    """RFC 768 header of the transport-mode payload (a NamedTuple: built once per packet)."""

    source_port: int
    destination_port: int
    length: int
    checksum: int


def pull_udp(datagram: bytes) -> tuple[UdpHeader, bytes]:
    """Parse the inner UDP header; the payload is cut to the header's length field.

    The checksum is not verified: ESP has already authenticated these bytes end to end, and after NAT
    the pseudo-header addresses are not the ones the sender used (RFC 3948 §3.1.2 lets a receiver skip
    the check for transport-mode UDP behind ESP).
    """
    if len(datagram) < UDP_HEADER_LEN:
        raise EspError(DropReason.UDP, f"{len(datagram)} bytes, no room for a UDP header", field="udp")
    header = _new_tuple(UdpHeader, UDP_HEADER.unpack_from(datagram))
    if header.length < UDP_HEADER_LEN or header.length > len(datagram):
        raise EspError(DropReason.UDP, f"UDP length {header.length} for {len(datagram)} bytes",
                       field="udp.length")
    return header, datagram[UDP_HEADER_LEN : header.length]


def udp_header(source_port: int, destination_port: int, payload_len: int) -> bytes:
    """A UDP header with checksum 0 for ``payload_len`` bytes of payload.

    RFC 768 lets IPv4 senders leave the checksum out (0); we do because after NAT the client checks
    against its private address, which we only know if it sent NAT-OA, and because ESP's ICV already
    protects the datagram.  Linux's own L2TP sends IPv4 data packets without UDP checksums by default,
    so clients accept it.
    """
    length = UDP_HEADER_LEN + payload_len
    if length > 0xFFFF:
        raise EspError(DropReason.UDP, f"{payload_len} bytes do not fit in a UDP datagram",
                       field="udp.length")
    return UDP_HEADER.pack(source_port, destination_port, length, 0)


def push_udp(source_port: int, destination_port: int, payload: bytes) -> bytes:
    """A whole UDP datagram (header from :func:`udp_header`, then ``payload``)."""
    return udp_header(source_port, destination_port, len(payload)) + payload


class Ipv4Header(NamedTuple):
    """The part of an RFC 791 header a raw-socket receiver needs."""

    header_length: int
    total_length: int
    protocol: int
    source: str
    destination: str


_IPV4 = struct.Struct("!BBHHHBBH4s4s")


def _dotted(raw: bytes) -> str:
    return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"


def pull_ipv4(packet: bytes) -> tuple[Ipv4Header, bytes]:
    """Split what a raw IPv4 socket delivers into its header and the ESP packet behind it."""
    if len(packet) < _IPV4.size:
        raise EspError(DropReason.SHORT, f"{len(packet)} bytes, no room for an IPv4 header", field="ipv4")
    ver_ihl, _tos, total, _ident, _frag, _ttl, proto, _csum, src, dst = _IPV4.unpack_from(packet)
    ihl = (ver_ihl & 0x0F) * 4
    if ver_ihl >> 4 != 4 or ihl < _IPV4.size or ihl > len(packet):
        raise EspError(DropReason.SHORT, f"IPv4 version/IHL byte {ver_ihl:#04x}", field="ipv4.ihl")
    # Linux raw sockets hand over total_length as sent; cut trailing bytes but never trust it to grow.
    end = min(total, len(packet)) if total >= ihl else len(packet)
    header = Ipv4Header(ihl, total, proto, _dotted(src), _dotted(dst))
    return header, packet[ihl:end]
