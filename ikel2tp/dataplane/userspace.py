"""Userspace ESP data plane: ESP in this process, for kernels without ESP (containers, this host).

Two paths carry ESP (RFC 4303, transport mode, payload = one UDP datagram to/from port 1701):

* **ESP-in-UDP on port 4500** (RFC 3948) for clients behind NAT.  The shell owns the 4500 socket it
  shares with IKE; it tells datagrams apart with :func:`ikel2tp.esp.packet.classify_natt` (non-ESP
  marker = IKE, a lone 0xFF = keepalive, ignored) and hands ESP to :meth:`UserspaceDataPlane.receive_udp_esp`.
  Outbound ESP-in-UDP goes through the ``send(data, local, remote)`` callable the shell gives to
  :meth:`UserspaceDataPlane.attach_udp`.
* **Raw IPPROTO_ESP** for clients without NAT: :meth:`UserspaceDataPlane.open_raw` opens the socket
  and reads it with a ``loop.add_reader`` callback that drains it until ``BlockingIOError`` (asyncio's
  datagram transport is several times slower and drops bursts).  An IPv4 raw socket delivers the IP
  header on receive, which is parsed for the source address; on send the kernel adds it.

Inbound SA lookup is by SPI alone, so two clients behind one NAT (same public address, different
NAT-T ports, both inner port 1701) have different SPIs and reach the shell with different
:class:`~ikel2tp.dataplane.base.SaHandle`\\ s; outbound traffic for a handle goes to that SA's own
outer (address, port).  After an authenticated, non-replayed packet arrives from a new outer address
or port (the NAT mapping changed), the SA sends there from then on and logs the move (Linux reports
the same event as XFRM_MSG_MAPPING for its IKE daemon to act on).

The receive path never raises: every bad packet is counted under its
:class:`~ikel2tp.esp.errors.DropReason` (per SA once the SA is known, else in :attr:`drops`) and
logged at most once per peer and reason per ``log_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ikel2tp.dataplane.base import (
    L2tpReceiver,
    SaCounters,
    SaExpired,
    SaHandle,
    SpiAllocator,
    UdpSender,
    grow_receive_buffer,
)
from ikel2tp.esp.errors import DropReason, EspError
from ikel2tp.esp.packet import ESP_PROTO, NextHeader, peek_spi, pull_ipv4, pull_udp, udp_header
from ikel2tp.esp.replay import DEFAULT_WINDOW
from ikel2tp.esp.sa import EspSa, Lifetime
from ikel2tp.esp.transforms import make_transform
from ikel2tp.ike.events import Address, ChildSaKeys

_UDP = int(NextHeader.UDP)  # plain int for the per-packet comparison
DRAIN_BATCH = 256  # datagrams per reader callback before yielding to the event loop
TOMBSTONE_SECONDS = 30.0  # how long a deleted SPI is reported as "sa-deleted" rather than unknown


def add_drain_reader(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                     handler: Callable[[bytes, Address], None], log: logging.Logger,
                     bufsize: int = 65535) -> None:
    """Read ``sock`` from ``loop`` with a callback that drains it (up to :data:`DRAIN_BATCH` per call,
    until ``BlockingIOError``) and calls ``handler(data, address)`` for each datagram."""
    sock.setblocking(False)
    recvfrom = sock.recvfrom

    def readable() -> None:
        for _ in range(DRAIN_BATCH):
            try:
                data, address = recvfrom(bufsize)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # e.g. an ICMP error queued on the socket
                log.debug("receive on %s: %s", sock.getsockname(), error)
                return
            handler(data, address)

    loop.add_reader(sock.fileno(), readable)


@dataclass
class _Sa:
    handle: SaHandle
    esp: EspSa
    keys: ChildSaKeys
    remote: Address
    encap: bool


class UserspaceDataPlane:
    """The :class:`~ikel2tp.dataplane.base.DataPlane` that runs ESP in this process."""

    name = "userspace"

    def __init__(self, *, log: logging.Logger, replay_window: int = DEFAULT_WINDOW,
                 log_interval: float = 10.0, random: Callable[[int], bytes] = os.urandom,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.on_l2tp: L2tpReceiver | None = None
        self.drops: Counter[str] = Counter()  # drops no SA can be charged with
        self._log = log
        self._replay_window = replay_window
        self._log_interval = log_interval
        self._random = random
        self._clock = clock
        self._spis = SpiAllocator(random)
        self._by_spi: dict[int, _Sa] = {}
        self._by_handle: dict[SaHandle, _Sa] = {}
        self._tombstones: dict[int, float] = {}
        self._logged: dict[tuple[str, str], float] = {}
        self._send_udp: UdpSender | None = None
        self._raw: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: list[SaExpired] = []

    # -- sockets -------------------------------------------------------------------------------
    def prepare_ike_socket(self, sock: socket.socket, natt: bool) -> None:
        """Nothing to set: ESP in UDP reaches this process through the shell's socket as it is."""

    def attach(self, loop: asyncio.AbstractEventLoop, send_udp: UdpSender) -> None:
        """ESP-in-UDP through ``send_udp``; raw ESP on a socket of our own when we may open one."""
        self.attach_udp(send_udp)
        try:
            self.open_raw(loop)
        except PermissionError:
            self._log.warning("userspace ESP: no raw ESP socket (needs CAP_NET_RAW): only clients behind "
                              "NAT (ESP in UDP 4500) can be served")

    def attach_udp(self, send: UdpSender) -> None:
        """Give the backend the shell's way to send ESP-in-UDP from port 4500."""
        self._send_udp = send

    def open_raw(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the raw ``IPPROTO_ESP`` socket (needs CAP_NET_RAW), with a large receive buffer,
        and read it from ``loop``."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, ESP_PROTO)
        try:
            grow_receive_buffer(sock)
        except OSError:
            sock.close()
            raise
        self._raw, self._loop = sock, loop
        add_drain_reader(loop, sock, self.receive_raw, self._log)

    # -- DataPlane -----------------------------------------------------------------------------
    def allocate_spi(self) -> int:
        return self._spis.allocate()

    def install(self, keys: ChildSaKeys) -> SaHandle:
        if keys.spi_in in self._by_spi:
            raise ValueError(f"inbound SPI {keys.spi_in:#010x} is already installed")
        if keys.protocol != NextHeader.UDP:
            raise ValueError(f"transport-mode selector protocol {keys.protocol}: only UDP (L2TP) is carried")
        inbound = make_transform(keys.cipher, keys.enc_key_in, keys.integrity, keys.auth_key_in,
                                 icv_bytes=keys.icv_bytes, random=self._random)
        outbound = make_transform(keys.cipher, keys.enc_key_out, keys.integrity, keys.auth_key_out,
                                  icv_bytes=keys.icv_bytes, random=self._random)
        lifetime = Lifetime(seconds=keys.lifetime_seconds, bytes=keys.lifetime_kilobytes * 1024)
        esp = EspSa(spi_in=keys.spi_in, spi_out=keys.spi_out, inbound=inbound, outbound=outbound,
                    now=self._clock(), lifetime=lifetime, replay_window=self._replay_window)
        handle = SaHandle(keys.spi_in, keys.spi_out)
        remote = keys.remote if keys.encap else (keys.remote[0], 0)  # raw ESP has no ports
        sa = _Sa(handle, esp, keys, remote, keys.encap)
        self._spis.in_use.add(keys.spi_in)
        self._tombstones.pop(keys.spi_in, None)
        self._by_spi[keys.spi_in] = sa
        self._by_handle[handle] = sa
        self._log.info("userspace ESP: installed %s with %s, %s %s", handle, keys.remote,
                       "ESP-in-UDP" if keys.encap else "raw ESP", f"{keys.cipher}/{keys.key_bits}/"
                       f"{keys.integrity or 'aead'}")
        return handle

    def delete(self, handle: SaHandle) -> None:
        sa = self._by_handle.pop(handle, None)
        if sa is None:
            return
        del self._by_spi[handle.spi_in]
        self._spis.release(handle.spi_in)
        self._tombstones[handle.spi_in] = self._clock() + TOMBSTONE_SECONDS
        counters = sa.esp.counters
        self._log.info("userspace ESP: deleted %s (in %d packets/%d bytes, out %d packets/%d bytes, "
                       "drops %s)", handle, counters.packets_in, counters.bytes_in, counters.packets_out,
                       counters.bytes_out, dict(counters.drops) or "none")

    def counters(self, handle: SaHandle) -> SaCounters:
        return self._by_handle[handle].esp.counters

    def remote(self, handle: SaHandle) -> Address:
        """The outer (address, port) the SA currently sends to."""
        return self._by_handle[handle].remote

    def expired(self, now: float) -> list[SaExpired]:
        for sa in list(self._by_handle.values()):
            sa.esp.handle_timer(now)
            while (event := sa.esp.next_event()) is not None:
                self._log.log(logging.WARNING if event.hard else logging.INFO,
                              "userspace ESP: %s reached its %s %s lifetime%s", sa.handle,
                              "hard" if event.hard else "soft", event.limit,
                              ", deleting it" if event.hard else " (the peer rekeys)")
                self._events.append(SaExpired(sa.handle, event.hard, event.limit))
                if event.hard:
                    self.delete(sa.handle)
        self._tombstones = {spi: t for spi, t in self._tombstones.items() if t > now}
        events, self._events = self._events, []
        return events

    def get_timer(self) -> float | None:
        """The next seconds-lifetime deadline of any SA (call :meth:`expired` then)."""
        timers = [t for sa in self._by_handle.values() if (t := sa.esp.get_timer()) is not None]
        return min(timers, default=None)

    def send_l2tp(self, handle: SaHandle, payload: bytes, peer_port: int) -> None:
        sa = self._by_handle.get(handle)
        if sa is None:
            self._count(None, ("", 0), DropReason.SA_DELETED, f"L2TP for deleted {handle} not sent")
            return
        try:
            header = udp_header(sa.keys.local_port, peer_port, len(payload))
        except EspError as error:
            self._count(sa, sa.remote, error.drop, f"{handle}: {error.reason}")
            return
        try:
            packet = sa.esp.protect(payload, _UDP, header)
        except EspError as error:  # the SA counted it
            self._note(sa.remote, error.drop, f"{handle}: {error.reason}")
            return
        try:
            if sa.encap:
                if self._send_udp is None:
                    self._count(sa, sa.remote, DropReason.NO_SENDER, "no UDP 4500 socket attached")
                    return
                self._send_udp(packet, sa.keys.local, sa.remote)
            else:
                if self._raw is None:
                    self._count(sa, sa.remote, DropReason.NO_SENDER, "raw ESP socket not open")
                    return
                self._raw.sendto(packet, (sa.remote[0], 0))
        except OSError as error:
            self._count(sa, sa.remote, DropReason.SEND_FAILED, str(error))

    def close(self) -> None:
        for handle in list(self._by_handle):
            self.delete(handle)
        if self._raw is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._raw.fileno())
            self._raw.close()
            self._raw = None
        self._send_udp = None

    # -- inbound -------------------------------------------------------------------------------
    def receive_udp_esp(self, data: bytes, remote: Address, local: Address) -> None:
        """An ESP packet that arrived in UDP on port 4500 (marker and keepalives already told apart)."""
        self._receive(data, remote, True)

    def receive_raw(self, data: bytes, address: Address) -> None:
        """What the raw ``IPPROTO_ESP`` socket delivered: an IPv4 header, then ESP."""
        try:
            header, packet = pull_ipv4(data)
        except EspError as error:
            self._count(None, address, error.drop, error.reason)
            return
        self._receive(packet, (header.source, 0), False)

    def _receive(self, packet: bytes, remote: Address, encap: bool) -> None:
        try:
            spi = peek_spi(packet)
        except EspError as error:
            self._count(None, remote, error.drop, error.reason)
            return
        sa = self._by_spi.get(spi)
        if sa is None:
            reason = DropReason.SA_DELETED if spi in self._tombstones else DropReason.UNKNOWN_SPI
            self._count(None, remote, reason, f"SPI {spi:#010x}")
            return
        if sa.encap != encap:
            self._count(sa, remote, DropReason.WRONG_PATH, "ESP-in-UDP SA reached over raw ESP" if sa.encap
                        else "raw-ESP SA reached over UDP 4500")
            return
        try:
            next_header, payload = sa.esp.unprotect(packet)
        except EspError as error:  # the SA counted it
            self._note(remote, error.drop, f"{sa.handle}: {error.reason}")
            return
        if remote != sa.remote:
            self._log.info("userspace ESP: %s moved from %s to %s (NAT mapping changed)", sa.handle,
                           sa.remote, remote)
            sa.remote = remote
        if next_header != _UDP:
            self._count(sa, remote, DropReason.NEXT_HEADER, f"next header {next_header} in transport mode")
            return
        try:
            udp, data = pull_udp(payload)
        except EspError as error:
            self._count(sa, remote, error.drop, error.reason)
            return
        keys = sa.keys
        if udp.destination_port != keys.local_port or keys.remote_port not in (0, udp.source_port):
            self._count(sa, remote, DropReason.UDP, f"UDP {udp.source_port}->{udp.destination_port} outside "
                        f"the SA's selectors")
            return
        receiver = self.on_l2tp
        if receiver is None:
            self._count(sa, remote, DropReason.NO_SENDER, "no L2TP receiver attached")
            return
        try:
            receiver(sa.handle, data, udp.source_port)
        except Exception:  # the shell's bug must not stop the receive loop; say where it came from
            self._log.exception("userspace ESP: L2TP receiver failed on a datagram from %s", sa.handle)

    def _count(self, sa: _Sa | None, peer: Address, reason: DropReason, text: str) -> None:
        """Count a drop on the SA when known, else on the backend, and log it."""
        if sa is not None:
            sa.esp.counters.drops[reason] += 1
        else:
            self.drops[reason] += 1
        self._note(peer, reason, text)

    def _note(self, peer: Address, reason: DropReason, text: str) -> None:
        """Log a drop at most once per peer and reason per interval."""
        now = self._clock()
        key = (peer[0], reason.value)
        if self._logged.get(key, -1e18) + self._log_interval <= now:
            if len(self._logged) > 4096:
                self._logged = {k: t for k, t in self._logged.items() if t + self._log_interval > now}
            self._logged[key] = now
            self._log.info("userspace ESP: dropped from %s: %s (%s); more such drops from this peer are "
                           "only counted for %gs", peer[0] or "-", reason.value, text, self._log_interval)
