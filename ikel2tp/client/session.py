"""One synthetic L2TP/IPsec client above its IPsec SA: the LAC (:mod:`ikel2tp.client.lac`) and a
client-role :class:`~ikel2tp.ppp.link.PppLink`, with the time each connection step completed.

The IKE initiator and the ESP data plane are shared by every client of a process
(:mod:`ikel2tp.client.driver`): they tell clients apart by IKE SA ID and SA handle.  A session is
sans-I/O like the cores it chains: ``now`` in; L2TP datagrams for its SA out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from ikel2tp.client.lac import (
    Lac,
    LacSettings,
    PppFrameReceived,
    SessionClosed,
    SessionEstablished,
    TunnelClosed,
    TunnelEstablished,
)
from ikel2tp.ppp.auth.credentials import ClientLogin
from ikel2tp.ppp.events import AuthFailed, AuthSucceeded, IpPacketReceived, LinkDown, LinkUp, NetworkUp
from ikel2tp.ppp.link import PppLink
from ikel2tp.ppp.settings import PppSettings, Role


class Step(Enum):
    """The steps of a connection, in order; a failed client is reported at the first one it missed."""

    PHASE1 = "ike-phase1"
    PHASE2 = "ike-phase2"
    TUNNEL = "l2tp-tunnel"
    SESSION = "l2tp-session"
    LCP = "ppp-lcp"
    AUTH = "ppp-auth"
    IPCP = "ppp-ipcp"


STEPS = tuple(Step)


class State(Enum):
    CONNECTING = "connecting"
    UP = "up"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass
class Traffic:
    """IP packets and bytes through this client's PPP link."""

    sent: int = 0
    sent_bytes: int = 0
    received: int = 0
    received_bytes: int = 0


@dataclass
class ClientSession:
    """The layers of one client above IPsec; ``index`` names it in logs and tables."""

    index: int
    local_ip: str
    login: ClientLogin
    lac_settings: LacSettings = field(default_factory=LacSettings)
    ppp_settings: PppSettings = field(default_factory=lambda: PppSettings(echo_interval=30.0))
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("ikel2tp.client"))
    random: Callable[[int], bytes] = os.urandom
    on_packet: Callable[[ClientSession, bytes], None] | None = None

    def __post_init__(self) -> None:
        self.lac = Lac(self.lac_settings, log=self.log, random=self.random)
        self.ppp = PppLink(self.ppp_settings, log=self.log, random=self.random, name=f"client{self.index}",
                           role=Role.CLIENT, login=self.login)
        self.state = State.CONNECTING
        self.started: float | None = None
        self.steps: dict[Step, float] = {}
        self.failure: tuple[Step, str] | None = None
        self.ike_sa_id: int | None = None
        self.handle: object | None = None
        self.address: str | None = None
        self.gateway: str | None = None
        self.traffic = Traffic()

    def __str__(self) -> str:
        return f"client {self.index} ({self.local_ip})"

    # -- progress --------------------------------------------------------------------------------
    def reached(self, step: Step, now: float) -> None:
        self.steps.setdefault(step, now)

    @property
    def next_step(self) -> Step | None:
        """The first step not yet completed."""
        return next((step for step in STEPS if step not in self.steps), None)

    @property
    def connect_time(self) -> float | None:
        """Seconds from the first IKE message to IPCP Opened."""
        done = self.steps.get(Step.IPCP)
        return None if done is None or self.started is None else done - self.started

    def fail(self, reason: str) -> None:
        """Give up connecting: charged to the first step not completed."""
        if self.state is State.CONNECTING:
            self.state = State.FAILED
            self.failure = (self.next_step or Step.IPCP, reason)
            self.log.info("%s failed at %s: %s", self, self.failure[0].value, reason)

    # -- the layers ------------------------------------------------------------------------------
    def ipsec_up(self, handle: object, now: float) -> None:
        """The ESP SA pair is installed: open the L2TP tunnel through it."""
        self.handle = handle
        self.reached(Step.PHASE1, now)  # no-op when the driver saw Phase1Established
        self.reached(Step.PHASE2, now)
        self.lac.start(now)

    def l2tp_input(self, data: bytes, now: float) -> None:
        self.lac.receive_datagram(data, now)

    def send_ip(self, packet: bytes) -> None:
        self.ppp.send_ip(packet)
        self.traffic.sent += 1
        self.traffic.sent_bytes += len(packet)

    def close(self, reason: str, now: float) -> None:
        """PPP Terminate-Request, then CDN and StopCCN (the caller pumps, sends, and deletes the SAs)."""
        self.state = State.CLOSED
        if not self.ppp.is_down:
            self.ppp.close(reason, now)
        for frame in self.ppp.frames_to_send():
            self.lac.send_ppp(frame)
        self.lac.close(reason, now)

    def get_timer(self) -> float | None:
        times = [t for t in (self.lac.get_timer(), self.ppp.get_timer()) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        if (deadline := self.lac.get_timer()) is not None and deadline <= now:
            self.lac.handle_timer(now)
        if (deadline := self.ppp.get_timer()) is not None and deadline <= now:
            self.ppp.handle_timer(now)

    def pump(self, now: float) -> list[bytes]:
        """Move frames and events between LAC and PPP until both are quiet; the L2TP datagrams to
        send through this client's SA."""
        lac, ppp = self.lac, self.ppp
        for _ in range(8):
            moved = False
            while (event := lac.next_event()) is not None:
                moved = True
                if isinstance(event, PppFrameReceived):
                    ppp.receive_frame(event.frame, now)
                elif isinstance(event, TunnelEstablished):
                    self.reached(Step.TUNNEL, now)
                elif isinstance(event, SessionEstablished):
                    self.reached(Step.SESSION, now)
                    ppp.start(now)
                elif isinstance(event, SessionClosed | TunnelClosed):
                    self.fail(event.reason)
                    if not ppp.is_down:
                        ppp.close(event.reason, now)
            for frame in ppp.frames_to_send():
                lac.send_ppp(frame)
            while (event := ppp.next_event()) is not None:
                moved = True
                if isinstance(event, IpPacketReceived):
                    self.traffic.received += 1
                    self.traffic.received_bytes += len(event.packet)
                    if self.on_packet is not None:
                        self.on_packet(self, event.packet)
                elif isinstance(event, LinkUp):
                    self.reached(Step.LCP, now)
                elif isinstance(event, AuthSucceeded):
                    self.reached(Step.AUTH, now)
                elif isinstance(event, NetworkUp):
                    self.reached(Step.AUTH, now)  # a server that asks no authentication skips it
                    self.reached(Step.IPCP, now)
                    self.address, self.gateway = str(event.local_address), str(event.peer_address)
                    if self.state is State.CONNECTING:
                        self.state = State.UP
                elif isinstance(event, AuthFailed):
                    self.fail(f"authentication failed: {event.reason}")
                elif isinstance(event, LinkDown):
                    self.fail(f"PPP down: {event.reason}")
                    lac.close(event.reason, now)
            if not moved:
                break
        for frame in ppp.frames_to_send():
            lac.send_ppp(frame)
        return lac.datagrams_to_send()
