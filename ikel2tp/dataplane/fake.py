"""In-memory data plane for tests of the layers above: records installs, deletes and sends, and lets a
test inject inbound L2TP through an SA or make an SA expire."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

from ikel2tp.dataplane.base import L2tpReceiver, SaCounters, SaExpired, SaHandle, SpiAllocator, UdpSender
from ikel2tp.ike.events import Address, ChildSaKeys


class FakeDataPlane:
    """A :class:`~ikel2tp.dataplane.base.DataPlane` with no crypto and no sockets."""

    name = "fake"

    def __init__(self, *, log: logging.Logger, random: Callable[[int], bytes] = os.urandom) -> None:
        self.on_l2tp: L2tpReceiver | None = None
        self.installed: dict[SaHandle, ChildSaKeys] = {}
        self.installs: list[ChildSaKeys] = []
        self.deleted: list[SaHandle] = []
        self.sent: list[tuple[SaHandle, bytes, int]] = []
        self.esp_received: list[tuple[bytes, Address, Address]] = []
        self.closed = False
        self._log = log
        self._spis = SpiAllocator(random)
        self._counters: dict[SaHandle, SaCounters] = {}
        self._events: list[SaExpired] = []

    def prepare_ike_socket(self, sock: socket.socket, natt: bool) -> None:
        """Nothing to set: no ESP reaches a socket."""

    def attach(self, loop: asyncio.AbstractEventLoop, send_udp: UdpSender) -> None:
        """Nothing to read: tests inject with :meth:`inject_l2tp`."""

    def receive_udp_esp(self, data: bytes, remote: Address, local: Address) -> None:
        self.esp_received.append((data, remote, local))

    def allocate_spi(self) -> int:
        return self._spis.allocate()

    def install(self, keys: ChildSaKeys) -> SaHandle:
        handle = SaHandle(keys.spi_in, keys.spi_out)
        if handle in self.installed:
            raise ValueError(f"{handle} is already installed")
        self.installed[handle] = keys
        self.installs.append(keys)
        self._counters[handle] = SaCounters()
        self._log.debug("fake data plane: installed %s", handle)
        return handle

    def delete(self, handle: SaHandle) -> None:
        if self.installed.pop(handle, None) is not None:
            self.deleted.append(handle)
            self._spis.release(handle.spi_in)

    def counters(self, handle: SaHandle) -> SaCounters:
        return self._counters[handle]

    def expired(self, now: float) -> list[SaExpired]:
        events, self._events = self._events, []
        return events

    def get_timer(self) -> float | None:
        """No lifetimes of its own: tests make SAs expire with :meth:`expire`."""
        return None

    def send_l2tp(self, handle: SaHandle, payload: bytes, peer_port: int) -> None:
        if handle not in self.installed:
            self._log.debug("fake data plane: send through deleted %s dropped", handle)
            return
        self.sent.append((handle, payload, peer_port))
        self._counters[handle].packets_out += 1
        self._counters[handle].bytes_out += len(payload)

    def close(self) -> None:
        for handle in list(self.installed):
            self.delete(handle)
        self.closed = True

    # -- test controls ---------------------------------------------------------------------------
    def inject_l2tp(self, handle: SaHandle, payload: bytes, peer_port: int = 1701) -> None:
        """Deliver ``payload`` to the shell as if it had arrived through ``handle``."""
        if handle not in self.installed:
            raise KeyError(f"{handle} is not installed")
        self._counters[handle].packets_in += 1
        self._counters[handle].bytes_in += len(payload)
        if self.on_l2tp is not None:
            self.on_l2tp(handle, payload, peer_port)

    def expire(self, handle: SaHandle, *, hard: bool, limit: str = "seconds") -> None:
        """Queue a lifetime event; a hard one deletes the SA like a real backend."""
        self._events.append(SaExpired(handle, hard, limit))
        if hard:
            self.delete(handle)
