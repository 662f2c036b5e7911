"""UDP sockets for IKE (500), NAT-T (4500) and the test-only plaintext L2TP (1701).

Each socket is read by a ``loop.add_reader`` callback that drains it until ``BlockingIOError``:
asyncio's ``DatagramProtocol`` receives a fraction of the rate and drops bursts (LAB-NOTES).

On the NAT-T port one socket carries three kinds of datagram (RFC 3948 §2):

* a 4-byte zero non-ESP marker, then an IKE message: the marker is stripped on input and added on
  output;
* a single 0xFF byte: a NAT-keepalive (RFC 3948 §2.3): it only tells the IKE core the peer is alive;
* anything else: an ESP packet in UDP, handed to the data plane.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from ikel2tp.dataplane.base import grow_receive_buffer
from ikel2tp.esp.packet import NON_ESP_MARKER, NattKind, classify_natt

Address = tuple[str, int]

# Datagrams drained per readiness callback before the loop gets a turn (fairness between sockets).
DRAIN_LIMIT = 256
RECV_SIZE = 65535
# linux/in.h and linux/in6.h: ask for the destination address of datagrams on wildcard sockets, so the
# IKE core sees its real local address (NAT-D hashes, RFC 3947 §3.2) and replies leave from it.
IP_PKTINFO = 8
_IN_PKTINFO = struct.Struct("=i4s4s")  # ifindex, spec_dst, addr
_IN6_PKTINFO = struct.Struct("=16si")  # addr, ifindex
_CMSG_SPACE = socket.CMSG_SPACE(max(_IN_PKTINFO.size, _IN6_PKTINFO.size))


class Kind(enum.Enum):
    IKE = "ike"  # UDP 500: bare ISAKMP
    NATT = "natt"  # UDP 4500: marker + ISAKMP, keepalives, ESP in UDP
    L2TP = "l2tp"  # UDP 1701: plaintext L2TP (require_ipsec = false only)


@dataclass(frozen=True)
class Datagram:
    """A classified input datagram: ``kind`` is ``"ike"``, ``"esp"``, ``"keepalive"`` (RFC 3948 §2.3,
    no data) or ``"l2tp"``."""

    kind: str
    data: bytes
    local: Address
    remote: Address


_NATT_KINDS = {NattKind.ESP: "esp", NattKind.IKE: "ike", NattKind.KEEPALIVE: "keepalive"}


def classify(kind: Kind, data: bytes, local: Address, remote: Address) -> Datagram | None:
    """Sort one received datagram by what it carries; ``None`` for what is none of them."""
    if kind is Kind.IKE:
        return Datagram("ike", data, local, remote)
    if kind is Kind.L2TP:
        return Datagram("l2tp", data, local, remote)
    what = _NATT_KINDS.get(classify_natt(data))
    if what is None:
        return None
    if what == "ike":
        return Datagram("ike", data[4:], local, remote) if len(data) > 4 else None
    return Datagram(what, data if what == "esp" else b"", local, remote)


class UdpEndpoint:
    """One bound, non-blocking UDP socket and what it carries."""

    def __init__(self, kind: Kind, address: str, port: int) -> None:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        self.kind = kind
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:  # no SO_REUSEADDR: on UDP it would let a second server bind the same port
            self.sock.setblocking(False)
            self.sock.bind((address, port))
        except OSError:
            self.sock.close()
            raise
        if kind is not Kind.IKE:
            grow_receive_buffer(self.sock)  # NAT-T and L2TP sockets carry data traffic
        bound = self.sock.getsockname()
        self.local: Address = (address, bound[1])
        self.family = family
        self.wildcard = ipaddress.ip_address(address).is_unspecified
        if self.wildcard:
            if family == socket.AF_INET:
                self.sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            else:
                self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)

    def send(self, data: bytes, remote: Address, source: str | None = None) -> None:
        """Send an ISAKMP message; on the NAT-T port behind the non-ESP marker."""
        if self.kind is Kind.NATT:
            data = NON_ESP_MARKER + data
        self.send_raw(data, remote, source)

    def send_raw(self, data: bytes, remote: Address, source: str | None = None) -> None:
        """Send ``data`` as is (ESP in UDP, NAT-keepalives, plaintext L2TP), from ``source`` when the
        socket is a wildcard one."""
        try:
            if self.wildcard and source and source != self.local[0]:
                self.sock.sendmsg([data], [self._source_cmsg(source)], 0, remote)
            else:
                self.sock.sendto(data, remote)
        except (BlockingIOError, InterruptedError):
            pass  # send buffer full: a datagram protocol above retransmits
        except OSError as exc:  # e.g. no route to the peer any more
            logging.getLogger("ikel2tp.server").debug("send to %s:%d failed: %s", *remote, exc.strerror)

    def _source_cmsg(self, source: str) -> tuple[int, int, bytes]:
        packed = socket.inet_pton(self.family, source)
        if self.family == socket.AF_INET:
            return socket.IPPROTO_IP, IP_PKTINFO, _IN_PKTINFO.pack(0, packed, b"\0" * 4)
        return socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, _IN6_PKTINFO.pack(packed, 0)

    def _destination(self, ancillary: list[tuple[int, int, bytes]]) -> Address:
        for level, kind, value in ancillary:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= _IN_PKTINFO.size:
                return socket.inet_ntop(socket.AF_INET, _IN_PKTINFO.unpack_from(value)[2]), self.local[1]
            if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and \
                    len(value) >= _IN6_PKTINFO.size:
                return socket.inet_ntop(socket.AF_INET6, _IN6_PKTINFO.unpack_from(value)[0]), self.local[1]
        return self.local

    def drain(self) -> list[Datagram]:
        """Read what is waiting (up to :data:`DRAIN_LIMIT` datagrams) and classify it."""
        out: list[Datagram] = []
        for _ in range(DRAIN_LIMIT):
            try:
                if self.wildcard:
                    data, ancillary, _flags, remote = self.sock.recvmsg(RECV_SIZE, _CMSG_SPACE)
                    local = self._destination(ancillary)
                else:
                    data, remote = self.sock.recvfrom(RECV_SIZE)
                    local = self.local
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # ICMP errors surface here (ECONNREFUSED): nothing to read
                continue
            item = classify(self.kind, data, local, (remote[0], remote[1]))
            if item is not None:
                out.append(item)
        return out

    def close(self) -> None:
        self.sock.close()


class Transport:
    """Every UDP endpoint of the server, registered with the event loop.

    ``on_input(datagrams)`` is called once per readiness callback with the classified batch, so the
    caller can drain the cores' outputs and re-arm its timer once per batch.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, on_input: Callable[[list[Datagram]], None]) -> None:
        self.loop = loop
        self._on_input = on_input
        self.endpoints: list[UdpEndpoint] = []
        self._by_local: dict[tuple[Kind, Address], UdpEndpoint] = {}

    def open(self, kind: Kind, address: str, port: int) -> UdpEndpoint:
        endpoint = UdpEndpoint(kind, address, port)
        self.endpoints.append(endpoint)
        self._by_local[(kind, endpoint.local)] = endpoint
        self.loop.add_reader(endpoint.sock.fileno(), self._readable, endpoint)
        return endpoint

    def _readable(self, endpoint: UdpEndpoint) -> None:
        batch = endpoint.drain()
        if batch:
            self._on_input(batch)

    def _endpoint(self, kinds: tuple[Kind, ...], local: Address) -> UdpEndpoint | None:
        """The socket bound to ``local`` (exactly, or a wildcard socket on its port)."""
        for kind in kinds:
            found = self._by_local.get((kind, local))
            if found is not None:
                return found
        for endpoint in self.endpoints:
            if endpoint.kind in kinds and endpoint.wildcard and endpoint.local[1] == local[1]:
                return endpoint
        return None

    def send_ike(self, data: bytes, local: Address, remote: Address) -> None:
        """Send an ISAKMP message from ``local``: bare from port 500, behind the marker from 4500."""
        endpoint = self._endpoint((Kind.IKE, Kind.NATT), local)
        if endpoint is None:
            logging.getLogger("ikel2tp.server").warning("no IKE socket for %s:%d, message dropped", *local)
            return
        endpoint.send(data, remote, local[0])

    def send_esp_udp(self, data: bytes, local: Address, remote: Address) -> None:
        """Send an ESP packet in UDP (RFC 3948) from the NAT-T socket at ``local``."""
        endpoint = self._endpoint((Kind.NATT,), local)
        if endpoint is not None:
            endpoint.send_raw(data, remote, local[0])

    def send_l2tp(self, data: bytes, local: Address, remote: Address) -> None:
        """Send a plaintext L2TP datagram (``require_ipsec = false`` only)."""
        endpoint = self._endpoint((Kind.L2TP,), local)
        if endpoint is not None:
            endpoint.send_raw(data, remote, local[0])

    def close(self) -> None:
        for endpoint in self.endpoints:
            self.loop.remove_reader(endpoint.sock.fileno())
            endpoint.close()
        self.endpoints.clear()
        self._by_local.clear()
