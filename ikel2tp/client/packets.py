"""IPv4 test traffic a synthetic client sends through its PPP link: ICMP echo requests (RFC 792) and
UDP datagrams (RFC 768), with correct checksums (RFC 1071)."""

from __future__ import annotations

import ipaddress
import struct

from ikel2tp.common.inet import internet_checksum

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
ICMP, UDP = 1, 17
ECHO_REQUEST, ECHO_REPLY = 8, 0
HEADERS = {ICMP: 20 + 8, UDP: 20 + 8}  # IPv4 header plus the ICMP echo / UDP header


def ipv4(source: str, destination: str, protocol: int, payload: bytes, ident: int = 0) -> bytes:
    header = _IPV4.pack(0x45, 0, 20 + len(payload), ident & 0xFFFF, 0, 64, protocol, 0,
                        ipaddress.IPv4Address(source).packed, ipaddress.IPv4Address(destination).packed)
    return header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:] + payload


def echo_request(source: str, destination: str, size: int = 84, ident: int = 0x4B4C,
                 sequence: int = 0) -> bytes:
    """An ICMP echo request whose whole IP packet is ``size`` bytes (at least 28)."""
    data = bytes(max(0, size - HEADERS[ICMP]))
    icmp = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, sequence & 0xFFFF) + data
    icmp = icmp[:2] + struct.pack("!H", internet_checksum(icmp)) + icmp[4:]
    return ipv4(source, destination, ICMP, icmp, sequence)


def udp_datagram(source: str, destination: str, port: int, size: int = 64, source_port: int = 40000) -> bytes:
    """A UDP datagram whose whole IP packet is ``size`` bytes (checksum 0: none, allowed in IPv4)."""
    data = bytes(max(0, size - HEADERS[UDP]))
    return ipv4(source, destination, UDP, struct.pack("!HHHH", source_port, port, 8 + len(data), 0) + data)

