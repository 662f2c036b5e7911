"""A small capture reader and writer for IKE traffic (no dependency beyond the standard library).

Reads the classic pcap format (both byte orders, micro- and nanosecond variants) and pcapng
(Section Header, Interface Description, Enhanced / Simple / obsolete Packet blocks), with the link
types Ethernet (VLAN tags skipped), Linux cooked SLL and SLL2, raw IP, IPv4 and IPv6.  From each
packet it keeps UDP datagrams to or from port 500 and 4500; on 4500 the four-byte non-ESP marker
(RFC 3948 §2.2) is stripped, and keepalives and ESP are counted and skipped.  Every length is
checked; a broken file raises :class:`CaptureError`, a broken packet is counted in ``skipped``.
The writer produces classic pcap (Ethernet or raw IP) and pcapng files for tests and exports.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum

from ikel2tp.common.buffer import Buffer
from ikel2tp.common.errors import DecodeError, ProtocolError
from ikel2tp.common.inet import internet_checksum

IKE_PORT, NATT_PORT = 500, 4500
MAX_PACKET = 262144
MAX_BLOCK = 16 * 1024 * 1024


class CaptureError(ProtocolError):
    """The file is not a capture this reader understands, or is cut short."""

    layer = "capture"


class LinkType(IntEnum):
    """tcpdump.org link-layer header types."""

    NULL = 0
    ETHERNET = 1
    RAW = 101
    LINUX_SLL = 113
    IPV4 = 228
    IPV6 = 229
    LINUX_SLL2 = 276


@dataclass(frozen=True)
class Datagram:
    """One IKE message as captured: time, outer addresses (ip, port), the bare ISAKMP bytes."""

    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    data: bytes
    number: int  # packet number in the file, from 1


@dataclass
class Capture:
    datagrams: list[Datagram] = field(default_factory=list)
    packets: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count


# -- link, network and transport layers --------------------------------------------------------
_ETH_IPV4, _ETH_IPV6, _ETH_VLAN, _ETH_QINQ = 0x0800, 0x86DD, 0x8100, 0x88A8


def _ethertype_payload(ethertype: int, buf: Buffer) -> tuple[int, bytes]:
    while ethertype in (_ETH_VLAN, _ETH_QINQ):
        buf.pull_uint16("vlan tag")
        ethertype = buf.pull_uint16("ethertype")
    return ethertype, buf.pull_rest()


def _network(link: int, frame: bytes) -> tuple[int, bytes]:
    """(ethertype, IP packet) of one frame."""
    buf = Buffer(frame)
    if link == LinkType.ETHERNET:
        buf.pull_bytes(12, "ethernet addresses")
        return _ethertype_payload(buf.pull_uint16("ethertype"), buf)
    if link == LinkType.LINUX_SLL:
        buf.pull_bytes(14, "sll header")
        return _ethertype_payload(buf.pull_uint16("sll protocol"), buf)
    if link == LinkType.LINUX_SLL2:
        ethertype = buf.pull_uint16("sll2 protocol")
        buf.pull_bytes(18, "sll2 header")
        return _ethertype_payload(ethertype, buf)
    if link == LinkType.NULL:
        family = int.from_bytes(buf.pull_bytes(4, "null family"), "little")
        if family > 0xFFFF:
            family = int.from_bytes(family.to_bytes(4, "little"), "big")
        return (_ETH_IPV4 if family == 2 else _ETH_IPV6), buf.pull_rest()
    if link in (LinkType.RAW, LinkType.IPV4, LinkType.IPV6):
        version = frame[0] >> 4 if frame else 0
        return (_ETH_IPV4 if version == 4 else _ETH_IPV6 if version == 6 else 0), frame
    raise CaptureError(
        f"link type {link} is not supported (Ethernet, Linux cooked, raw IP)", field="link type"
    )


_IPV6_EXTENSIONS = {0, 43, 60}  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44


def _udp(packet: bytes, ethertype: int) -> tuple[str, str, bytes] | str:
    """(src, dst, UDP segment) or the reason the packet is skipped."""
    buf = Buffer(packet)
    if ethertype == _ETH_IPV4:
        first = buf.pull_uint8("ipv4 version")
        if first >> 4 != 4 or (first & 0x0F) < 5:
            return "bad IPv4 header"
        buf.pull_uint8("tos")
        total = buf.pull_uint16("ipv4 length")
        buf.pull_uint16("ipv4 id")
        frag = buf.pull_uint16("ipv4 fragment")
        buf.pull_uint8("ttl")
        proto = buf.pull_uint8("ipv4 protocol")
        buf.pull_uint16("ipv4 checksum")
        src = str(ipaddress.IPv4Address(buf.pull_bytes(4, "ipv4 source")))
        dst = str(ipaddress.IPv4Address(buf.pull_bytes(4, "ipv4 destination")))
        buf.pull_bytes((first & 0x0F) * 4 - 20, "ipv4 options")
        if frag & 0x3FFF:
            return "IP fragment (not reassembled)"
        if proto != 17:
            return "not UDP"
        body = buf.pull_rest()
        header = (first & 0x0F) * 4
        if total >= header:
            body = body[: total - header]
        return src, dst, body
    if ethertype == _ETH_IPV6:
        if buf.pull_uint8("ipv6 version") >> 4 != 6:
            return "bad IPv6 header"
        buf.pull_bytes(3, "ipv6 flow")
        length = buf.pull_uint16("ipv6 length")
        nxt = buf.pull_uint8("ipv6 next header")
        buf.pull_uint8("hop limit")
        src = str(ipaddress.IPv6Address(buf.pull_bytes(16, "ipv6 source")))
        dst = str(ipaddress.IPv6Address(buf.pull_bytes(16, "ipv6 destination")))
        body = Buffer(buf.pull_rest()[:length])
        for _ in range(8):
            if nxt == _IPV6_FRAGMENT:
                return "IP fragment (not reassembled)"
            if nxt not in _IPV6_EXTENSIONS:
                break
            nxt = body.pull_uint8("extension next header")
            body.pull_bytes(body.pull_uint8("extension length") * 8 + 6, "extension")
        if nxt != 17:
            return "not UDP"
        return src, dst, body.pull_rest()
    return "not IP"


def _ike(time: float, number: int, ethertype: int, packet: bytes) -> Datagram | str:
    found = _udp(packet, ethertype)
    if isinstance(found, str):
        return found
    src, dst, segment = found
    buf = Buffer(segment)
    sport, dport = buf.pull_uint16("udp source port"), buf.pull_uint16("udp destination port")
    length = buf.pull_uint16("udp length")
    buf.pull_uint16("udp checksum")
    payload = buf.pull_rest()
    if 8 <= length <= len(segment):
        payload = payload[: length - 8]
    ports = {sport, dport}
    if NATT_PORT in ports:
        if payload == b"\xff":
            return "NAT-T keepalive"
        if payload[:4] != b"\x00\x00\x00\x00":
            return "ESP in UDP"
        payload = payload[4:]
    elif IKE_PORT not in ports:
        return "not UDP 500/4500"
    return Datagram(time, (src, sport), (dst, dport), payload, number)


# -- file formats ---------------------------------------------------------------------------------
_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BOM = 0x1A2B3C4D


def _frames_pcap(data: bytes) -> Iterator[tuple[float, int, bytes]]:
    order, unit = _PCAP_MAGICS[data[:4]]
    if len(data) < 24:
        raise CaptureError("pcap header cut short", field="pcap header")
    link = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    pos = 24
    record = struct.Struct(order + "IIII")
    while pos < len(data):
        if pos + 16 > len(data):
            raise CaptureError(f"packet record at byte {pos} cut short", field="pcap record")
        seconds, fraction, caplen, _ = record.unpack_from(data, pos)
        if caplen > MAX_PACKET:
            raise CaptureError(f"packet record at byte {pos} claims {caplen} bytes", field="pcap record")
        if pos + 16 + caplen > len(data):
            raise CaptureError(f"packet at byte {pos} cut short", field="pcap record")
        yield seconds + fraction * unit, link, data[pos + 16 : pos + 16 + caplen]
        pos += 16 + caplen


def _frames_pcapng(data: bytes) -> Iterator[tuple[float, int, bytes]]:
    pos = 0
    order = "<"
    interfaces: list[tuple[int, float]] = []  # (link type, seconds per timestamp unit)
    while pos < len(data):
        if pos + 12 > len(data):
            raise CaptureError(f"pcapng block at byte {pos} cut short", field="pcapng block")
        kind = struct.unpack_from(order + "I", data, pos)[0]
        if kind == _PCAPNG_SHB or int.from_bytes(data[pos : pos + 4], "big") == _PCAPNG_SHB:
            bom = data[pos + 8 : pos + 12]
            if bom == _PCAPNG_BOM.to_bytes(4, "little"):
                order = "<"
            elif bom == _PCAPNG_BOM.to_bytes(4, "big"):
                order = ">"
            else:
                raise CaptureError("pcapng section header with a bad byte-order magic", field="pcapng SHB")
            interfaces = []
            kind = _PCAPNG_SHB
        length = struct.unpack_from(order + "I", data, pos + 4)[0]
        if length < 12 or length % 4 or length > MAX_BLOCK or pos + length > len(data):
            raise CaptureError(f"pcapng block at byte {pos} has length {length}", field="pcapng block")
        body = data[pos + 8 : pos + length - 4]
        pos += length
        if kind == 1:  # Interface Description Block
            if len(body) < 8:
                raise CaptureError("interface description cut short", field="pcapng IDB")
            link = struct.unpack_from(order + "H", body, 0)[0]
            interfaces.append((link, _if_tsresol(body[8:], order)))
        elif kind in (6, 2):  # Enhanced Packet Block, obsolete Packet Block
            if len(body) < 20:
                raise CaptureError("packet block cut short", field="pcapng EPB")
            if kind == 6:
                iface, high, low, caplen = struct.unpack_from(order + "IIII", body, 0)
            else:
                iface, _, high, low, caplen = struct.unpack_from(order + "HHIII", body, 0)
            if iface >= len(interfaces) or caplen > len(body) - 20:
                raise CaptureError("packet block names an unknown interface or overruns", field="pcapng EPB")
            link, unit = interfaces[iface]
            yield ((high << 32) | low) * unit, link, body[20 : 20 + caplen]
        elif kind == 3:  # Simple Packet Block: interface 0, no timestamp
            if not interfaces or len(body) < 4:
                raise CaptureError("simple packet block without an interface", field="pcapng SPB")
            yield 0.0, interfaces[0][0], body[4:]


def _if_tsresol(options: bytes, order: str) -> float:
    """The if_tsresol option (code 9) of an interface; microseconds by default."""
    buf = Buffer(options)
    try:
        while buf.remaining >= 4:
            code = int.from_bytes(buf.pull_bytes(2, "option code"), "little" if order == "<" else "big")
            size = int.from_bytes(buf.pull_bytes(2, "option length"), "little" if order == "<" else "big")
            value = buf.pull_bytes(size, "option value")
            buf.pull_bytes((-size) % 4, "option padding")
            if code == 0:
                break
            if code == 9 and size == 1:
                return 2.0 ** -(value[0] & 0x7F) if value[0] & 0x80 else 10.0 ** -value[0]
    except DecodeError:
        pass
    return 1e-6


def read_capture(data: bytes) -> Capture:
    """Every IKE datagram of a pcap or pcapng file, in file order."""
    if data[:4] in _PCAP_MAGICS:
        frames = _frames_pcap(data)
    elif len(data) >= 12 and data[:4] in (b"\x0a\x0d\x0d\x0a",):
        frames = _frames_pcapng(data)
    else:
        raise CaptureError("not a pcap or pcapng file (unknown magic number)", field="magic")
    capture = Capture()
    for number, (time, link, frame) in enumerate(frames, 1):
        capture.packets = number
        try:
            ethertype, packet = _network(link, frame)
            found = _ike(time, number, ethertype, packet)
        except DecodeError as exc:
            found = f"truncated packet ({exc.field})"
        if isinstance(found, str):
            capture.skipped[found] += 1
        else:
            capture.datagrams.append(found)
    return capture


# -- writing --------------------------------------------------------------------------------------
def ip_udp(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    """An IPv4 or IPv6 packet carrying one UDP datagram (a non-ESP marker is the caller's)."""
    s, d = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    if s.version == 4:
        header = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, s.packed, d.packed
        )
        header = header[:10] + internet_checksum(header).to_bytes(2, "big") + header[12:]
        return header + udp
    return struct.pack("!IHBB16s16s", 0x60000000, len(udp), 17, 64, s.packed, d.packed) + udp


def frame(src: tuple[str, int], dst: tuple[str, int], payload: bytes, link: int = LinkType.ETHERNET) -> bytes:
    packet = ip_udp(src, dst, payload)
    if link == LinkType.RAW:
        return packet
    ethertype = _ETH_IPV4 if ipaddress.ip_address(src[0]).version == 4 else _ETH_IPV6
    return bytes(6) + b"\x02\x00\x00\x00\x00\x01" + ethertype.to_bytes(2, "big") + packet


def ike_payload(src: tuple[str, int], dst: tuple[str, int], message: bytes) -> bytes:
    """The UDP payload that carries an ISAKMP message: with the non-ESP marker on port 4500."""
    return b"\x00\x00\x00\x00" + message if NATT_PORT in (src[1], dst[1]) else message


def write_pcap(records: list[tuple[float, bytes]], link: int = LinkType.ETHERNET) -> bytes:
    """Classic little-endian microsecond pcap of (time, frame) records."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link)]
    for time, data in records:
        seconds = int(time)
        out.append(struct.pack("<IIII", seconds, round((time - seconds) * 1e6), len(data), len(data)) + data)
    return b"".join(out)


def _block(kind: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def write_pcapng(records: list[tuple[float, bytes]], link: int = LinkType.ETHERNET) -> bytes:
    """pcapng: one section, one interface (microseconds), one Enhanced Packet Block per record."""
    out = [
        _block(_PCAPNG_SHB, struct.pack("<IHHq", _PCAPNG_BOM, 1, 0, -1)),
        _block(1, struct.pack("<HHI", link, 0, 0)),
    ]
    for time, data in records:
        stamp = round(time * 1e6)
        out.append(
            _block(6, struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(data), len(data)) + data)
        )
    return b"".join(out)
