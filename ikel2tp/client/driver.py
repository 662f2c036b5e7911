"""The asyncio driver of many synthetic L2TP/IPsec clients in one process.

One :class:`~ikel2tp.ike.manager.IkeManager` (initiator role) and one userspace ESP data plane serve
every client: IKE SAs are told apart by their IKE SA ID, ESP SAs by their
:class:`~ikel2tp.dataplane.base.SaHandle`.  Each client has its own source address (UDP 500 and
4500 bound on it, so NAT-T floats the way a real client's does) and its own
:class:`~ikel2tp.client.session.ClientSession` (LAC + PPP).  ESP always rides UDP 4500 when the
server forces encapsulation or a NAT is in between; without either the initiator would pick raw
ESP, which this driver reads only when ``raw_esp`` is set (one raw socket for all clients).

    pool = ClientPool(loop, ClientConfig(server="192.0.2.1", psk=b"...", user="u", password="p"))
    session = pool.add("198.51.100.10")
    pool.connect(session)
    await pool.wait_up([session], timeout=30)
    pool.send_ip(session, echo_request(session.address, session.gateway))
    pool.disconnect(session)
    pool.close()
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from ikel2tp.client.lac import LacSettings
from ikel2tp.client.session import ClientSession, State, Step
from ikel2tp.dataplane.base import SaHandle
from ikel2tp.dataplane.userspace import UserspaceDataPlane
from ikel2tp.ike.constants import IKE_PORT, NATT_PORT
from ikel2tp.ike.events import (
    ChildSaDeleted,
    ChildSaEstablished,
    PeerDead,
    Phase1Deleted,
    Phase1Established,
    QuickModeFailed,
)
from ikel2tp.ike.manager import IkeManager
from ikel2tp.ike.settings import IkeSettings
from ikel2tp.ppp.auth.credentials import ClientLogin
from ikel2tp.ppp.settings import PppSettings
from ikel2tp.server.transport import Datagram, Kind, Transport

TICK = 0.05  # seconds between timer checks
L2TP_PORT = 1701


@dataclass(frozen=True)
class ClientConfig:
    """What every client of a pool shares.  ``psk`` and ``password`` never appear in repr."""

    server: str
    psk: bytes = field(repr=False)
    user: str
    password: str = field(repr=False)
    phase1: tuple[str, ...] = ("aes128-sha1-modp2048",)
    phase2: tuple[str, ...] = ("aes128-sha1",)
    connect_timeout: float = 30.0
    raw_esp: bool = False
    lac: LacSettings = field(default_factory=LacSettings)
    ppp: PppSettings = field(default_factory=lambda: PppSettings(echo_interval=30.0))


class ClientPool:
    """N clients driven by one event loop.  See the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop, config: ClientConfig, *,
                 log: logging.Logger | None = None, random: Callable[[int], bytes] = os.urandom) -> None:
        self.loop = loop
        self.config = config
        self.log = log or logging.getLogger("ikel2tp.client")
        self.random = random
        self.sessions: list[ClientSession] = []
        self.transport = Transport(loop, self._on_datagrams)
        self.dataplane = UserspaceDataPlane(log=self.log.getChild("esp"), random=random, clock=loop.time)
        self.dataplane.attach_udp(self.transport.send_esp_udp)
        if config.raw_esp:
            self.dataplane.open_raw(loop)
        self.dataplane.on_l2tp = self._on_l2tp
        settings = IkeSettings(psk=config.psk, phase1=config.phase1, phase2=config.phase2, dpd_delay=0.0,
                               half_open_timeout=config.connect_timeout, max_half_open=1 << 20,
                               max_half_open_per_source=1 << 20)
        self.ike = IkeManager(settings, spi_allocator=self.dataplane.allocate_spi,
                              log=self.log.getChild("ike"), random=random)
        self._by_ike: dict[int, ClientSession] = {}
        self._by_handle: dict[SaHandle, ClientSession] = {}
        self._dirty: set[int] = set()
        self._connecting: set[int] = set()
        self._deadlines: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []
        self._waiters: list[asyncio.Future] = []
        self._ticker: asyncio.TimerHandle | None = loop.call_later(TICK, self._tick)

    # -- clients ---------------------------------------------------------------------------------
    def add(self, local_ip: str, login: ClientLogin | None = None) -> ClientSession:
        """A client on ``local_ip`` (UDP 500 and 4500 are bound there now)."""
        self.transport.open(Kind.IKE, local_ip, IKE_PORT)
        self.transport.open(Kind.NATT, local_ip, NATT_PORT)
        c = self.config
        session = ClientSession(len(self.sessions), local_ip, login or ClientLogin(c.user, c.password),
                                lac_settings=c.lac, ppp_settings=c.ppp, log=self.log, random=self.random)
        self.sessions.append(session)
        return session

    def connect(self, session: ClientSession) -> None:
        """Start Main Mode to the server; the other layers follow as each completes."""
        now = self.loop.time()
        session.started = now
        server = (self.config.server, IKE_PORT)
        session.ike_sa_id = self.ike.initiate((session.local_ip, IKE_PORT), server, now)
        self._by_ike[session.ike_sa_id] = session
        self._connecting.add(session.index)
        self._pump(now)

    def send_ip(self, session: ClientSession, packet: bytes) -> None:
        """Send one IP packet through the client's PPP link (dropped until IPCP is up)."""
        session.send_ip(packet)
        self._send(session, session.pump(self.loop.time()))

    def disconnect(self, session: ClientSession, reason: str = "load generator done") -> None:
        """PPP Terminate, CDN and StopCCN, then Delete for the IPsec and IKE SAs."""
        now = self.loop.time()
        session.close(reason, now)
        self._send(session, session.pump(now))
        if session.ike_sa_id is not None:
            self.ike.delete_ike_sa(session.ike_sa_id)
        self._pump(now)

    def connecting(self) -> int:
        """How many clients are still connecting."""
        self._connecting = {i for i in self._connecting if self.sessions[i].state is State.CONNECTING}
        return len(self._connecting)

    async def changed(self, timeout: float) -> None:
        """Until the next batch of input or timers was handled (or ``timeout``)."""
        future = self.loop.create_future()
        self._waiters.append(future)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            pass

    async def wait_done(self, sessions: list[ClientSession], timeout: float) -> None:
        """Until every session is up or failed (those still connecting then fail as timed out)."""
        deadline = self.loop.time() + timeout
        while any(s.state is State.CONNECTING for s in sessions) and self.loop.time() < deadline:
            await self.changed(max(0.0, deadline - self.loop.time()))
        for session in sessions:
            session.fail(f"not connected within {timeout:g} s")

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        self.dataplane.close()
        self.transport.close()

    # -- input -----------------------------------------------------------------------------------
    def _on_datagrams(self, batch: list[Datagram]) -> None:
        now = self.loop.time()
        for item in batch:
            if item.kind == "ike":
                self.ike.receive_datagram(item.data, item.local, item.remote, now)
            elif item.kind == "esp":
                self.dataplane.receive_udp_esp(item.data, item.remote, item.local)
        self._pump(now)

    def _on_l2tp(self, handle: SaHandle, payload: bytes, peer_port: int) -> None:
        session = self._by_handle.get(handle)
        if session is not None:
            session.l2tp_input(payload, self.loop.time())
            self._dirty.add(session.index)
            if len(self._dirty) == 1:  # raw ESP arrives outside _on_datagrams: pump soon
                self.loop.call_soon(self._pump_soon)

    def _pump_soon(self) -> None:
        if self._dirty:
            self._pump(self.loop.time())

    # -- output and events -----------------------------------------------------------------------
    def _send(self, session: ClientSession, datagrams: list[bytes]) -> None:
        if session.handle is None:
            return
        for data in datagrams:
            self.dataplane.send_l2tp(session.handle, data, L2TP_PORT)

    def _pump(self, now: float) -> None:
        for data, local, remote in self.ike.datagrams_to_send():
            self.transport.send_ike(data, local, remote)
        while (event := self.ike.next_event()) is not None:
            self._ike_event(event, now)
        for data, local, remote in self.ike.datagrams_to_send():
            self.transport.send_ike(data, local, remote)
        dirty, self._dirty = self._dirty, set()
        for index in dirty:
            session = self.sessions[index]
            self._send(session, session.pump(now))
            self._schedule(session)
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for future in waiters:
                if not future.done():
                    future.set_result(None)

    def _ike_event(self, event: object, now: float) -> None:
        if isinstance(event, Phase1Established):
            session = self._by_ike.get(event.ike_sa_id)
            if session is not None:
                session.reached(Step.PHASE1, now)
        elif isinstance(event, ChildSaEstablished):
            child = event.child
            session = self._by_ike.get(child.ike_sa_id)
            if session is None or session.state is not State.CONNECTING:
                return
            try:
                handle = self.dataplane.install(child)
            except ValueError as exc:
                session.fail(f"ESP SA not installable: {exc}")
                return
            self._by_handle[handle] = session
            first = session.handle is None
            session.handle = handle
            if first:
                session.ipsec_up(handle, now)
                self._dirty.add(session.index)
        elif isinstance(event, QuickModeFailed):
            session = self._by_ike.get(event.ike_sa_id)
            if session is not None:
                session.fail(f"Quick Mode failed: {event.reason}")
        elif isinstance(event, ChildSaDeleted | Phase1Deleted | PeerDead):
            session = self._by_ike.get(event.ike_sa_id)
            if session is None:
                return
            reason = getattr(event, "reason", "peer dead")
            if isinstance(event, ChildSaDeleted):
                handle = SaHandle(event.spi_in, event.spi_out)
                self._by_handle.pop(handle, None)
                self.dataplane.delete(handle)
                if session.handle == handle:
                    session.handle = None
            if session.state is State.CONNECTING:
                session.fail(f"IKE: {reason}")
            elif session.state is State.UP and isinstance(event, Phase1Deleted | PeerDead):
                session.state = State.CLOSED
                self.log.info("%s: server ended the connection: %s", session, reason)

    # -- timers ----------------------------------------------------------------------------------
    def _schedule(self, session: ClientSession) -> None:
        deadline = session.get_timer()
        if deadline is None:
            self._deadlines.pop(session.index, None)
        elif self._deadlines.get(session.index) != deadline:
            self._deadlines[session.index] = deadline
            heapq.heappush(self._heap, (deadline, session.index))

    def _tick(self) -> None:
        now = self.loop.time()
        try:
            deadline = self.ike.get_timer()
            if deadline is not None and deadline <= now:
                self.ike.handle_timer(now)
            while self._heap and self._heap[0][0] <= now:
                when, index = heapq.heappop(self._heap)
                if self._deadlines.get(index) != when:
                    continue
                del self._deadlines[index]
                self.sessions[index].handle_timer(now)
                self._dirty.add(index)
            timeout = self.config.connect_timeout
            for index in list(self._connecting):
                session = self.sessions[index]
                if session.state is not State.CONNECTING:
                    self._connecting.discard(index)
                elif session.started is not None and now > session.started + timeout:
                    session.fail(f"not connected within {timeout:g} s")
            self._pump(now)
        finally:
            self._ticker = self.loop.call_later(TICK, self._tick)
