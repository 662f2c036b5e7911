"""One PPP link (RFC 1661 §3 phases) over one L2TP session: LCP, authentication, IPCP/IPv6CP and
the IP data path, sans-I/O.

Frames in and out start with the PPP protocol field (the L2TP layer strips and adds FF 03).  The
link emits events (:mod:`ikel2tp.ppp.events`) and never decides a password or an address itself:
the shell answers ``AuthRequested`` with :meth:`PppLink.auth_result` and hands the pool's address in
with :meth:`PppLink.set_addresses`.

CCP and ECP get an LCP Protocol-Reject: the L2TP session already runs inside IPsec, so MPPE adds
nothing but CPU cost, and a Protocol-Reject makes the peer stop CCP at once (RFC 1661 §5.7) instead of
retransmitting Configure-Requests.  A Windows client set to "optional encryption" connects; one set
to "require encryption" hangs up (Windows error 742), and the log says so.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, cast

from ikel2tp.common.errors import DecodeError
from ikel2tp.ppp.auth.credentials import AuthResult, ClientLogin, Credentials
from ikel2tp.ppp.auth.session import AuthClient, AuthServer, Phase
from ikel2tp.ppp.constants import Code, Protocol
from ikel2tp.ppp.cp import ControlProtocol, Timing
from ikel2tp.ppp.events import (
    AuthFailed,
    AuthRequested,
    AuthSucceeded,
    IpPacketReceived,
    Ipv6Up,
    LinkDown,
    LinkUp,
    NetworkUp,
    PppEvent,
)
from ikel2tp.ppp.fsm import State
from ikel2tp.ppp.ipcp import Ipcp
from ikel2tp.ppp.ipv6cp import Ipv6cp
from ikel2tp.ppp.lcp import Lcp
from ikel2tp.ppp.mss import clamp_mss, mss_for_mtu
from ikel2tp.ppp.packet import PppError, pull_frame, push_frame
from ikel2tp.ppp.settings import PppSettings, Role

# Protocols that get a Protocol-Reject, and why (logged once per link).
_REFUSED = {
    Protocol.CCP: "CCP/MPPE refused: the session is already encrypted by IPsec "
                  "(a client that requires encryption will hang up with error 742)",
    Protocol.ECP: "ECP refused: the session is already encrypted by IPsec",
}
_NEGOTIATING = (State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT, State.OPENED)
_LOGGED_DROPS = 5
_IPV4 = int(Protocol.IPV4)


@dataclass
class PppCounters:
    frames_in: int = 0
    frames_out: int = 0
    malformed: int = 0
    spoofed: int = 0
    not_ready: int = 0
    mss_clamped: int = 0
    protocol_rejects: int = 0


class _Prefixed(logging.LoggerAdapter):
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return f"{self.extra['name']}: {msg}", kwargs


class PppLink:
    """The PPP side of one L2TP session."""

    def __init__(
        self,
        settings: PppSettings,
        *,
        log: logging.Logger,
        random: Callable[[int], bytes] = os.urandom,
        name: str = "ppp",
        role: Role = Role.SERVER,
        login: ClientLogin | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.role = role
        # Every line of this link starts with its name (the shell's session id).
        self.log = cast(logging.Logger, _Prefixed(log, {"name": name}))
        self._random = random
        self._login = login
        timing = Timing(settings.restart_interval, settings.max_configure, settings.max_terminate,
                        settings.max_failure)
        self.lcp = Lcp(self, settings=settings, role=role, random=random, timing=timing, log=self.log)
        self.ipcp = Ipcp(self, role=role, timing=timing, log=self.log, first_id=random(1)[0])
        self.ipv6cp = Ipv6cp(self, random=random, timing=timing, log=self.log) if settings.ipv6 else None
        self._ncps: dict[int, ControlProtocol] = {Protocol.IPCP: self.ipcp}
        if self.ipv6cp is not None:
            self._ncps[Protocol.IPV6CP] = self.ipv6cp
        self.auth: AuthServer | AuthClient | None = None
        self.counters = PppCounters()
        self.user = ""
        self._out: list[bytes] = []
        self._events: deque[PppEvent] = deque()
        self._deferred: deque[Callable[[float], None]] = deque()
        self._network_phase = False
        self._addresses_set = False
        self._down_reason: str | None = None
        self._refused_logged: set[int] = set()
        self._echo_deadline: float | None = None
        self._echo_outstanding = 0
        self._peer_packed = b""  # the peer's IPv4 address once IPCP is up (anti-spoofing)

    # -- shell API -----------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """The L2TP session is up: begin LCP (RFC 1661 §3.2 Link Establishment)."""
        self.lcp.open(now)
        self.lcp.up(now)
        self._run_deferred(now)

    def receive_frame(self, frame: bytes, now: float) -> None:
        self.counters.frames_in += 1
        try:
            protocol, information = pull_frame(frame)
        except DecodeError as exc:
            self._dropped("frame", exc)
            return
        self._echo_outstanding = 0  # any frame proves the peer alive
        try:
            self._dispatch(protocol, information, now)
        except PppError as exc:
            self._dropped(f"{_protocol_name(protocol)} packet", exc)
        self._run_deferred(now)

    def _dropped(self, what: str, exc: Exception) -> None:
        """Count a malformed input; the first few per link are logged at INFO, the rest at DEBUG."""
        self.counters.malformed += 1
        level = logging.INFO if self.counters.malformed <= _LOGGED_DROPS else logging.DEBUG
        self.log.log(level, "%s dropped: %s", what, exc)

    def frames_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> PppEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        deadlines = [self.lcp.fsm.deadline, self._echo_deadline, self.auth.deadline if self.auth else None]
        deadlines += [ncp.fsm.deadline for ncp in self._ncps.values()]
        pending = [d for d in deadlines if d is not None]
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> None:
        self.lcp.fsm.handle_timer(now)
        for ncp in self._ncps.values():
            ncp.fsm.handle_timer(now)
        if self.auth is not None:
            self.auth.handle_timer(now)
        if self._echo_deadline is not None and now >= self._echo_deadline:
            self._echo_tick(now)
        self._run_deferred(now)

    def send_ip(self, packet: bytes) -> None:
        """Send an IP packet to the peer; dropped (and counted) until the NCP for it is Opened."""
        version = packet[0] >> 4 if packet else 0
        if self._down_reason is None and version == 4 and self.ipcp.is_open:
            self._send_data(Protocol.IPV4, self._clamp(packet))
        elif self._down_reason is None and version == 6 and self.ipv6cp is not None and self.ipv6cp.is_open:
            self._send_data(Protocol.IPV6, packet)
        else:
            self.counters.not_ready += 1

    def auth_result(self, result: AuthResult, now: float) -> None:
        """The user backend's answer to our last ``AuthRequested`` (ignored once the link is down:
        a RADIUS answer may arrive after the client gave up)."""
        if self._down_reason is not None:
            self.log.debug("auth result for %r after the link went down, ignored", result.user)
        elif isinstance(self.auth, AuthServer):
            self.auth.result(result, now)
        else:
            self.log.warning("auth result for %r with no authentication in progress, ignored", result.user)
        self._run_deferred(now)

    def set_addresses(self, local: IPv4Address, peer: IPv4Address, *, dns: Iterable[IPv4Address] = (),
                      wins: Iterable[IPv4Address] = (), now: float) -> None:
        """Server role: our gateway address and the peer's (from the pool), name servers for IPCP."""
        self.ipcp.set_addresses(local, peer, list(dns), list(wins))
        self._addresses_set = True
        if self._network_phase and self._down_reason is None:
            self.ipcp.up(now)
        self._run_deferred(now)

    def close(self, reason: str, now: float) -> None:
        """Administrative close: Terminate-Request to the peer; ``LinkDown(reason)`` at once."""
        self._go_down(reason, now)
        self._run_deferred(now)

    @property
    def is_down(self) -> bool:
        return self._down_reason is not None

    @property
    def terminating(self) -> bool:
        """Down, with our LCP Terminate-Request not yet acknowledged nor given up on (RFC 1661 §3.7):
        the lower layer should stay up so the peer still sees the last frames (an MS-CHAPv2 Failure)."""
        return self.is_down and self.lcp.state in (State.CLOSING, State.STOPPING)

    # -- input dispatch ------------------------------------------------------------------------
    def _dispatch(self, protocol: int, information: bytes, now: float) -> None:
        if protocol == _IPV4:  # the common case first; IPCP is only open while LCP is and not down
            self._receive_ipv4(information)
            return
        if protocol == Protocol.LCP:
            if self._down_reason is None or self.lcp.state in (State.CLOSING, State.STOPPING):
                self.lcp.receive(information, now)  # once down, only the Terminate exchange finishes
            return
        if not self.lcp.is_open or self._down_reason is not None:
            # RFC 1661 §3.4: non-LCP packets before LCP is Opened are silently discarded.
            self.counters.not_ready += 1
            return
        if protocol in (Protocol.PAP, Protocol.CHAP):
            if self.auth is None:
                raise PppError(f"{_protocol_name(protocol)} packet but no authentication was negotiated")
            self.auth.receive(protocol, information, now)
        elif protocol in self._ncps:
            if not self._network_phase:
                self.counters.not_ready += 1  # RFC 1661 §3.5: NCPs wait for authentication
                return
            self._ncps[protocol].receive(information, now)
        elif protocol == Protocol.IPV6 and self.ipv6cp is not None:
            if self.ipv6cp.is_open:
                self._events.append(IpPacketReceived(information))
            else:
                self.counters.not_ready += 1
        else:
            self._protocol_reject(protocol, information)

    def _protocol_reject(self, protocol: int, information: bytes) -> None:
        """RFC 1661 §5.7: a protocol we do not run gets an LCP Protocol-Reject."""
        if protocol not in self._refused_logged:
            self._refused_logged.add(protocol)
            self.log.info("%s", _REFUSED.get(protocol, f"Protocol-Reject for {_protocol_name(protocol)}"))
        self.counters.protocol_rejects += 1
        self.lcp.send_protocol_reject(protocol, information)

    def _receive_ipv4(self, packet: bytes) -> None:
        if not self.ipcp.is_open:
            self.counters.not_ready += 1
            return
        if len(packet) < 20 or packet[0] >> 4 != 4:
            self.counters.malformed += 1
            return
        if self.role is Role.SERVER and packet[12:16] != self._peer_packed:
            # Anti-spoofing: a session may only send from the address it was given.
            if not self.counters.spoofed:
                self.log.warning("dropping packets from %s: the peer's address is %s",
                                 IPv4Address(packet[12:16]), self.ipcp.peer_address)
            self.counters.spoofed += 1
            return
        self._events.append(IpPacketReceived(self._clamp(packet)))

    def _clamp(self, packet: bytes) -> bytes:
        if not self.settings.mss_clamp:
            return packet
        clamped = clamp_mss(packet, mss_for_mtu(min(self.settings.mtu, self.settings.mru, self.lcp.peer_mru)))
        if clamped is not packet:
            self.counters.mss_clamped += 1
        return clamped

    def _send_data(self, protocol: int, information: bytes) -> None:
        self.counters.frames_out += 1
        self._out.append(push_frame(protocol, information))

    # -- LayerOwner / AuthOwner ----------------------------------------------------------------
    def send_frame(self, protocol: int, information: bytes) -> None:
        self._send_data(protocol, information)

    def layer_up(self, layer: ControlProtocol, now: float) -> None:
        if layer is self.lcp:
            self.log.info("LCP up (peer MRU %d, auth %s)", self.lcp.peer_mru,
                          self.lcp.auth.value if self.lcp.auth else "none")
            self._events.append(LinkUp())
            if self.settings.echo_interval > 0:
                self._echo_deadline = now + self.settings.echo_interval
            self._deferred.append(self._begin_authentication)
        elif layer is self.ipcp:
            self._peer_packed = self.ipcp.peer_address.packed
            self.log.info("IPCP up: peer %s, local %s", self.ipcp.peer_address, self.ipcp.local_address)
            self._events.append(NetworkUp(self.ipcp.peer_address, self.ipcp.local_address, self.ipcp.dns))
        elif self.ipv6cp is not None and layer is self.ipv6cp:
            self._events.append(Ipv6Up(self.ipv6cp.local_identifier, self.ipv6cp.peer_identifier))

    def layer_down(self, layer: ControlProtocol, now: float) -> None:
        if layer is self.lcp:
            received = self.lcp._last_received
            code = received.code if received is not None else 0
            reason = {
                Code.TERMINATE_REQUEST: "peer sent LCP Terminate-Request",
                Code.CONFIGURE_REQUEST: "peer restarted LCP negotiation",
            }.get(code, "LCP went down")
            self._go_down(reason, now)
        else:
            self.log.info("%s down", layer.name)

    def layer_finished(self, layer: ControlProtocol, now: float) -> None:
        if layer is self.lcp:
            reason = "LCP negotiation failed: the peer did not complete it"
            if self.lcp.peer_offered and self.role is Role.SERVER and self.lcp.auth is None:
                reason = self.lcp.auth_refused_reason()
            self._go_down(reason, now)
        elif layer is self.ipcp and self._down_reason is None:
            self._go_down("IPCP finished: no IPv4 network on this link", now)

    def layer_failed(self, layer: ControlProtocol, reason: str) -> None:
        if layer is self.ipv6cp and self.ipv6cp is not None:
            self.log.info("%s", reason)
            self._deferred.append(self.ipv6cp.close)
        else:
            self._deferred.append(lambda now: self._go_down(reason, now))

    def protocol_rejected(self, protocol: int, now: float) -> None:
        ncp = self._ncps.get(protocol)
        self.log.info("peer Protocol-Rejected %s", _protocol_name(protocol))
        if ncp is self.ipcp:
            self._deferred.append(lambda now: self._go_down("peer refused IPCP (no IPv4 network)", now))
        elif ncp is not None:
            self._deferred.append(ncp.protocol_rejected)

    def auth_requested(self, credentials: Credentials) -> None:
        self.user = credentials.user
        self._events.append(AuthRequested(credentials))

    def auth_done(self, success: bool, user: str, reason: str, now: float) -> None:
        self.user = user
        if not success:
            self.log.warning("authentication of %r failed: %s", user, reason)
            self._events.append(AuthFailed(user, reason))
            message = f"authentication failed for {user!r}: {reason}"
            self._deferred.append(lambda now: self._go_down(message, now))
            return
        self.log.info("user %r authenticated", user)
        self._events.append(AuthSucceeded(user))
        self._deferred.append(self._begin_network)

    # -- phases --------------------------------------------------------------------------------
    def _begin_authentication(self, now: float) -> None:
        """RFC 1661 §3.5: authenticate right after LCP is Opened, before any network protocol."""
        method = self.lcp.auth
        if method is None:
            if self.role is Role.SERVER:
                self._go_down("LCP opened without an authentication protocol", now)
            else:
                self._begin_network(now)
            return
        if self.role is Role.SERVER:
            self.auth = AuthServer(method, settings=self.settings, random=self._random, log=self.log,
                                   owner=self)
        elif self._login is None:
            self._go_down(f"peer requires {method.value} authentication and we have no login", now)
            return
        else:
            self.auth = AuthClient(method, self._login, settings=self.settings, random=self._random,
                                   log=self.log, owner=self)
        self.auth.start(now)

    def _begin_network(self, now: float) -> None:
        """RFC 1661 §3.6 Network-Layer Protocol phase."""
        self._network_phase = True
        self.ipcp.open(now)
        if self.role is Role.CLIENT or self._addresses_set:
            self.ipcp.up(now)
        if self.ipv6cp is not None:
            self.ipv6cp.open(now)
            self.ipv6cp.up(now)

    def _echo_tick(self, now: float) -> None:
        """LCP keepalive (RFC 1661 §5.8): the peer is dead after ``echo_failures`` unanswered echoes."""
        if not self.lcp.is_open or self._down_reason is not None:
            self._echo_deadline = None
            return
        if self._echo_outstanding >= self.settings.echo_failures:
            self._echo_deadline = None
            self._go_down(f"peer dead: {self._echo_outstanding} LCP Echo-Requests unanswered", now)
            return
        self._echo_outstanding += 1
        self.lcp.send_echo_request()
        self._echo_deadline = now + self.settings.echo_interval

    def _go_down(self, reason: str, now: float) -> None:
        """End the link once: LinkDown(reason), NCPs down, LCP Terminate-Request if still negotiating."""
        if self._down_reason is not None:
            return
        self._down_reason = reason
        self.log.info("link down: %s", reason)
        self._events.append(LinkDown(reason))
        self._echo_deadline = None
        if self.auth is not None and self.auth.phase is not Phase.DONE:
            self.auth.deadline = None
        for ncp in self._ncps.values():
            ncp.down(now)
        self._deferred.append(self._close_lcp)

    def _close_lcp(self, now: float) -> None:
        if self.lcp.state in _NEGOTIATING:
            self.lcp.close(now)

    def _run_deferred(self, now: float) -> None:
        """Run the work a layer callback asked for, outside that layer's automaton."""
        while self._deferred:
            self._deferred.popleft()(now)


def _protocol_name(protocol: int) -> str:
    try:
        return Protocol(protocol).name
    except ValueError:
        return f"protocol {protocol:#06x}"
