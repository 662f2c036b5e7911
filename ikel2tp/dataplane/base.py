"""The data-plane contract between the shell and an ESP backend, and the backend registry.

The IKE core hands a :class:`~ikel2tp.ike.events.ChildSaKeys` to :meth:`DataPlane.install`, which
returns a hashable :class:`SaHandle` naming both directions of the SA pair.  Every decrypted L2TP
datagram reaches the shell tagged with the handle of the SA it came through, and every reply leaves
through the SA its handle names: that is how two clients behind one NAT (same public address, same
inner port 1701) stay apart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from ikel2tp.esp.sa import SaCounters
from ikel2tp.ike.events import Address, ChildSaKeys

__all__ = ["DataPlane", "L2tpReceiver", "SaCounters", "SaExpired", "SaHandle", "SpiAllocator", "UdpSender",
           "create_dataplane", "grow_receive_buffer", "KINDS"]


class SaHandle(NamedTuple):
    """Names an installed SA pair: our inbound SPI (unique, we allocated it) and the peer's.

    A NamedTuple, not a frozen dataclass: it is hashed and compared per packet (dictionary keys of
    the data plane and the gateway), which a tuple does in C.  Handles are only ever compared with
    other handles."""

    spi_in: int
    spi_out: int

    def __str__(self) -> str:
        return f"SA {self.spi_in:08x}/{self.spi_out:08x}"


@dataclass(frozen=True)
class SaExpired:
    """A lifetime limit was reached.  ``hard``: the SA is gone (the backend deleted it already)."""

    handle: SaHandle
    hard: bool
    limit: str  # "seconds", "bytes", "packets" or "sequence"


L2tpReceiver = Callable[[SaHandle, bytes, int], None]
"""``on_l2tp(handle, payload, peer_port)``: an L2TP datagram arrived through SA ``handle``."""

UdpSender = Callable[[bytes, Address, Address], None]
"""``send(data, local, remote)``: the shell sends one datagram from its port-4500 socket at ``local``."""


@runtime_checkable
class DataPlane(Protocol):
    """What the shell needs from an ESP backend.

    The shell connects any backend the same way, never by its ``name``: it calls
    :meth:`prepare_ike_socket` on each of its UDP 500/4500 sockets, then :meth:`attach`, and hands
    every ESP-in-UDP datagram from port 4500 to :meth:`receive_udp_esp`.
    """

    name: str
    on_l2tp: L2tpReceiver | None

    def prepare_ike_socket(self, sock: socket.socket, natt: bool) -> None:
        """Set what the backend needs on one of the shell's IKE sockets (``natt``: the port-4500
        one): the kernel backend exempts IKE from IPsec policy and makes the kernel take ESP off the
        NAT-T socket; backends that do ESP in this process need nothing."""
        ...

    def attach(self, loop: asyncio.AbstractEventLoop, send_udp: UdpSender) -> None:
        """Start reading the backend's own sockets from ``loop``; ``send_udp`` sends ESP-in-UDP
        through the shell's port-4500 socket (backends that let the kernel send ignore it)."""
        ...

    def receive_udp_esp(self, data: bytes, remote: Address, local: Address) -> None:
        """An ESP packet the shell read from port 4500 (after telling it from IKE and keepalives)."""
        ...

    def allocate_spi(self) -> int:
        """A fresh inbound SPI, unique among ours, never 0..255 (RFC 4303 §2.1)."""
        ...

    def install(self, keys: ChildSaKeys) -> SaHandle:
        """Install both directions; ``ValueError`` for parameters the backend cannot hold."""
        ...

    def delete(self, handle: SaHandle) -> None:
        """Remove both directions; deleting an unknown or already deleted handle does nothing."""
        ...

    def counters(self, handle: SaHandle) -> SaCounters:
        """Packets/bytes each way and drops by reason; ``KeyError`` for an unknown handle."""
        ...

    def expired(self, now: float) -> list[SaExpired]:
        """Lifetime events since the last call (hard-expired SAs are already deleted)."""
        ...

    def get_timer(self) -> float | None:
        """The next seconds-lifetime deadline the backend tracks itself (call :meth:`expired`
        then); None when it has none (the kernel tracks XFRM lifetimes and notifies)."""
        ...

    def send_l2tp(self, handle: SaHandle, payload: bytes, peer_port: int) -> None:
        """Send one L2TP datagram from port 1701 to the peer's ``peer_port`` through ``handle``."""
        ...

    def close(self) -> None:
        """Remove everything this backend installed and release its sockets."""
        ...


RECEIVE_BUFFER = 4 * 1024 * 1024  # bytes of socket receive buffer for sockets that carry ESP
SO_RCVBUFFORCE = 33  # asm-generic/socket.h (not exported by Python's socket module)


def grow_receive_buffer(sock: socket.socket, size: int = RECEIVE_BUFFER) -> int:
    """Room for a burst of ESP: the default (~200 KiB, ~150 full-size packets) drops bursts before
    the loop gets to them.  SO_RCVBUFFORCE (root, CAP_NET_ADMIN) passes ``net.core.rmem_max``;
    without it SO_RCVBUF is used, which the kernel caps at that limit.  Returns the size in force
    (the kernel reports twice what was asked: it counts its bookkeeping, socket(7))."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


class SpiAllocator:
    """Random 32-bit SPIs from 256 upwards (RFC 4303 §2.1), unique among the ones in use."""

    def __init__(self, random: Callable[[int], bytes] = os.urandom) -> None:
        self._random = random
        self.in_use: set[int] = set()

    def allocate(self) -> int:
        while True:
            spi = int.from_bytes(self._random(4), "big")
            if spi >= 256 and spi not in self.in_use:
                self.in_use.add(spi)
                return spi

    def release(self, spi: int) -> None:
        self.in_use.discard(spi)


def _userspace(**options) -> DataPlane:
    from ikel2tp.dataplane.userspace import UserspaceDataPlane

    return UserspaceDataPlane(**options)


def _xfrm(**options) -> DataPlane:
    from ikel2tp.dataplane.xfrm import XfrmDataPlane

    return XfrmDataPlane(**options)


def _fake(**options) -> DataPlane:
    from ikel2tp.dataplane.fake import FakeDataPlane

    return FakeDataPlane(**options)


# Backends by ``[server] dataplane`` name (imported on demand: xfrm needs pyroute2's netlink layer).
_BACKENDS: dict[str, Callable[..., DataPlane]] = {"xfrm": _xfrm, "userspace": _userspace, "fake": _fake}
KINDS = ("auto", *_BACKENDS)


def create_dataplane(kind: str, *, log: logging.Logger, **options) -> DataPlane:
    """The backend ``kind`` names (``[server] dataplane``); ``options`` go to its constructor.

    ``auto`` takes ``xfrm`` when the kernel can hold an ESP state (a throwaway probe, see
    :func:`ikel2tp.dataplane.xfrm_netlink.probe_esp_state`), else ``userspace``, and logs which it
    chose and why.
    """
    if kind == "auto":
        from ikel2tp.dataplane.xfrm_netlink import probe_esp_state

        usable, why = probe_esp_state()
        kind = "xfrm" if usable else "userspace"
        log.info("data plane: %s (%s)", kind, why)
    factory = _BACKENDS.get(kind)
    if factory is None:
        raise ValueError(f"unknown data plane {kind!r} (allowed: {', '.join(KINDS)})")
    return factory(log=log, **options)
