"""The TUN device: one point-to-multipoint interface for every client.

The device carries the gateway address as a /32 and one /32 route per assigned client address
(added when IPCP brings the client's network up, removed when its session ends).  The device is
created non-persistent, so closing its file descriptor removes it together with its address and
routes even if the process dies; :meth:`Tun.close` also removes them explicitly.

Route changes go out on a raw rtnetlink socket of our own, from the event loop's thread: the kernel
applies RTM_NEWROUTE/RTM_DELROUTE while ``send`` runs and queues its acknowledgement at once
(rtnetlink(7)), so a change costs two system calls and is done, in order, when the call returns.
Handing each change to pyroute2 on a worker thread and waiting cost ~13 % of a connect's CPU;
submitting without waiting would lose a client's first packets (the kernel's answer has no route
yet).  Routing the whole pool to the device once at start-up would save even these calls, but static
addresses (users file, RADIUS Framed-IP-Address) may lie outside the pool and still need their own
routes, and a pool route would also take traffic for unassigned pool addresses that today follows
the host's routing table; so the per-client /32 stays.  pyroute2 still sets the device up.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyroute2 import IPRoute

# linux/if_tun.h
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFNAMSIZ = 16
MAX_PACKET = 65535
NETLINK_TIMEOUT = 10.0
# linux/netlink.h, linux/rtnetlink.h
_NLMSG_ERROR = 2
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_REPLACE, _NLM_F_CREATE = 0x1, 0x4, 0x100, 0x400
_RTM_NEWROUTE, _RTM_DELROUTE = 24, 25
_RT_TABLE_MAIN, _RTPROT_STATIC, _RT_SCOPE_LINK, _RTN_UNICAST = 254, 4, 253, 1
_RTA_DST, _RTA_OIF, _RTA_PREFSRC = 1, 4, 7
_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port ID
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTATTR = struct.Struct("=HH")  # length, type (then the value, 4-byte aligned)
# Packets the kernel queues for us (default 500): room for a burst from the LAN while the loop is
# busy with a batch of ESP.
TX_QUEUE = 4096


class TunError(OSError):
    """The TUN device could not be created or configured."""


class Tun:
    """An open TUN device in non-blocking mode, its gateway address and client routes."""

    def __init__(self, name: str, gateway: str, *, mtu: int, log: logging.Logger) -> None:
        if not name or len(name.encode()) >= IFNAMSIZ:
            raise TunError(f"TUN name {name!r} must be 1..{IFNAMSIZ - 1} bytes")
        self.name = name
        self.gateway = gateway
        self._log = log
        self._routes: set[str] = set()
        self._seq = 0
        try:
            self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise TunError(f"cannot open /dev/net/tun: {exc.strerror}") from exc
        # pyroute2's synchronous IPRoute runs an asyncio loop of its own, which cannot happen on the
        # thread of the server's running loop: its calls (set-up, close) go to one worker thread.
        self._netlink = ThreadPoolExecutor(1, thread_name_prefix="netlink")
        try:
            ifr = struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI)
            fcntl.ioctl(self.fd, TUNSETIFF, ifr)
            self._ipr = self._call(IPRoute)
            try:
                self.index = self._call(self._ipr.link_lookup, ifname=name)[0]
                self._call(self._ipr.link, "set", index=self.index, mtu=mtu, txqlen=TX_QUEUE, state="up")
                self._call(self._ipr.addr, "add", index=self.index, address=gateway, prefixlen=32)
                self._rtnl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                           socket.NETLINK_ROUTE)
                self._rtnl.settimeout(NETLINK_TIMEOUT)
                self._rtnl.bind((0, 0))
            except Exception:
                self._call(self._ipr.close)
                raise
        except Exception as exc:
            os.close(self.fd)
            self._netlink.shutdown()
            raise TunError(f"cannot set up TUN device {name}: {exc}") from exc
        log.info("tun %s up: gateway %s, mtu %d", name, gateway, mtu)

    def _call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._netlink.submit(function, *args, **kwargs).result(NETLINK_TIMEOUT)

    # -- packets ---------------------------------------------------------------------------
    def read(self) -> bytes | None:
        """One IP packet, or None when nothing is waiting."""
        try:
            return os.read(self.fd, MAX_PACKET)
        except BlockingIOError:
            return None

    def write(self, packet: bytes) -> None:
        try:
            os.write(self.fd, packet)
        except BlockingIOError:
            self._log.debug("tun %s: queue full, packet dropped", self.name)
        except OSError as exc:  # e.g. EINVAL for a packet that is not IP
            self._log.debug("tun %s: write refused (%s), packet dropped", self.name, exc.strerror)

    # -- routes ----------------------------------------------------------------------------
    def add_route(self, address: str) -> None:
        """Route ``address``/32 to this device, preferring the gateway as source (``ip route replace
        <address>/32 dev <tun> proto static scope link src <gateway>``); OSError if the kernel refuses."""
        attributes = [(_RTA_DST, socket.inet_aton(address)), (_RTA_OIF, struct.pack("=I", self.index)),
                      (_RTA_PREFSRC, socket.inet_aton(self.gateway))]
        self._route(_RTM_NEWROUTE, _NLM_F_CREATE | _NLM_F_REPLACE, _RTPROT_STATIC, attributes)
        self._routes.add(address)

    def remove_route(self, address: str) -> None:
        if address not in self._routes:
            return
        self._routes.discard(address)
        attributes = [(_RTA_DST, socket.inet_aton(address)), (_RTA_OIF, struct.pack("=I", self.index))]
        try:
            self._route(_RTM_DELROUTE, 0, 0, attributes)
        except OSError as exc:  # already gone with the device, or removed by an admin
            self._log.debug("tun %s: route %s not removed: %s", self.name, address, exc)

    def _route(self, kind: int, flags: int, protocol: int, attributes: list[tuple[int, bytes]]) -> None:
        """One RTM_NEWROUTE/RTM_DELROUTE for an IPv4 /32 in the main table, and its acknowledgement."""
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        body = _RTMSG.pack(socket.AF_INET, 32, 0, 0, _RT_TABLE_MAIN, protocol, _RT_SCOPE_LINK,
                           _RTN_UNICAST, 0)
        body += b"".join(_RTATTR.pack(_RTATTR.size + len(value), attribute) + value
                         for attribute, value in attributes)
        header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, _NLM_F_REQUEST | _NLM_F_ACK | flags,
                                self._seq, 0)
        self._rtnl.send(header + body)
        while True:  # the answer is queued before send returns; skip any stale one of an earlier call
            reply = self._rtnl.recv(65536)
            if len(reply) < _NLMSGHDR.size + 4:
                raise OSError(f"short netlink answer ({len(reply)} bytes)")
            _, answer_type, _, seq, _ = _NLMSGHDR.unpack_from(reply)
            if seq != self._seq or answer_type != _NLMSG_ERROR:
                continue
            error = struct.unpack_from("=i", reply, _NLMSGHDR.size)[0]
            if error:
                raise OSError(-error, os.strerror(-error))
            return

    @property
    def routes(self) -> frozenset[str]:
        return frozenset(self._routes)

    def close(self) -> None:
        """Remove the routes and the device."""
        if self.fd < 0:
            return
        for address in sorted(self._routes):
            self.remove_route(address)
        self._rtnl.close()
        self._call(self._ipr.close)
        self._netlink.shutdown()
        os.close(self.fd)
        self.fd = -1
        self._log.info("tun %s removed", self.name)
