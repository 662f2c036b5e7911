"""The TUN device: one point-to-multipoint interface for every client.

The device carries the gateway address as a /32 and one /32 route per assigned client address
(added when IPCP brings the client's network up, removed when its session ends).  The device is
created non-persistent, so closing its file descriptor removes it together with its address and
routes even if the process dies; :meth:`Tun.close` also removes them explicitly.
"""

from __future__ import annotations

import fcntl
import logging
import os
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
_RT_SCOPE_LINK = 253  # linux/rtnetlink.h
NETLINK_TIMEOUT = 10.0
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
        try:
            self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise TunError(f"cannot open /dev/net/tun: {exc.strerror}") from exc
        # pyroute2's synchronous IPRoute runs an asyncio loop of its own, which cannot happen on the
        # thread of the server's running loop: every netlink call goes to one worker thread.
        self._netlink = ThreadPoolExecutor(1, thread_name_prefix="netlink")
        try:
            ifr = struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI)
            fcntl.ioctl(self.fd, TUNSETIFF, ifr)
            self._ipr = self._call(IPRoute)
            try:
                self.index = self._call(self._ipr.link_lookup, ifname=name)[0]
                self._call(self._ipr.link, "set", index=self.index, mtu=mtu, txqlen=TX_QUEUE, state="up")
                self._call(self._ipr.addr, "add", index=self.index, address=gateway, prefixlen=32)
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
        """Route ``address``/32 to this device, preferring the gateway as source."""
        self._call(self._ipr.route, "replace", dst=address, dst_len=32, oif=self.index, prefsrc=self.gateway,
                        scope=_RT_SCOPE_LINK)
        self._routes.add(address)

    def remove_route(self, address: str) -> None:
        if address not in self._routes:
            return
        self._routes.discard(address)
        try:
            self._call(self._ipr.route, "del", dst=address, dst_len=32, oif=self.index, scope=_RT_SCOPE_LINK)
        except Exception as exc:  # already gone with the device, or removed by an admin
            self._log.debug("tun %s: route %s not removed: %s", self.name, address, exc)

    @property
    def routes(self) -> frozenset[str]:
        return frozenset(self._routes)

    def close(self) -> None:
        """Remove the routes and the device."""
        if self.fd < 0:
            return
        for address in sorted(self._routes):
            self.remove_route(address)
        self._call(self._ipr.close)
        self._netlink.shutdown()
        os.close(self.fd)
        self.fd = -1
        self._log.info("tun %s removed", self.name)
