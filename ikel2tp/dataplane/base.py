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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ikel2tp.esp.sa import SaCounters
from ikel2tp.ike.events import Address, ChildSaKeys

__all__ = ["DataPlane", "L2tpReceiver", "SaCounters", "SaExpired", "SaHandle", "SpiAllocator", "UdpSender",
           "create_dataplane", "KINDS"]


@dataclass(frozen=True)
class SaHandle:
    """Names an installed SA pair: our inbound SPI (unique, we allocated it) and the peer's."""

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
    """What the shell needs from an ESP backend."""

    name: str
    on_l2tp: L2tpReceiver | None

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

    def send_l2tp(self, handle: SaHandle, payload: bytes, peer_port: int) -> None:
        """Send one L2TP datagram from port 1701 to the peer's ``peer_port`` through ``handle``."""
        ...

    def close(self) -> None:
        """Remove everything this backend installed and release its sockets."""
        ...


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
