"""How the layers are wired: IKE → data plane → L2TP → PPP → pool / TUN, in one place.

:class:`Gateway` owns no sockets and no clock: the daemon (or a test) feeds it input with ``now``
and gives it a :class:`ServerIO` for what leaves the process (UDP, the TUN, routes).  After every
batch of input the caller runs :meth:`Gateway.pump`, which moves every core's output to the next
layer until all are quiet, and then re-arms one timer at :meth:`Gateway.next_deadline`.

The wiring, event by event:

=====================================  ====================================================
IKE ``Phase1Established``              a client timeline starts (debug: the SA's key exported)
IKE ``Phase1Failed``,                  explained in the timeline and kept in ``refusals``
``QuickModeFailed``                    (``ikel2tp proposals last``)
IKE ``ChildSaEstablished``             data plane ``install``; the SA joins its client's channel
data plane inbound (handle, L2TP)      ``Lns.receive_datagram(peer=(channel, udp port))``
LNS datagrams out                      data plane ``send_l2tp(newest handle, payload, port)``
LNS ``SessionUp``                      a new ``PppLink``, started
LNS ``PppFrameReceived``               ``link.receive_frame``; link frames → ``Lns.send_ppp``
PPP ``AuthRequested``                  failed-login limiter, user backend → ``link.auth_result``
PPP ``AuthFailed``, ``LinkDown``       wrong password, no shared method, MPPE → ``refusals``
PPP ``AuthSucceeded``                  pool ``allocate`` → ``link.set_addresses``
PPP ``NetworkUp``                      route to the address on the TUN
PPP ``IpPacketReceived``               TUN write (the link checked the source address)
TUN read                               session by destination → ``link.send_ip``
IKE ``ChildSaDeleted`` (also after     data plane ``delete``; the channel's last SA gone:
``PeerDead``, ``InitialContact``)      ``Lns.close_peer`` for its tunnels
data plane hard expiry                 the same
LNS ``SessionDown``                    pool release, route removed
=====================================  ====================================================

Sessions are keyed by the LNS session key.  The LNS pins each tunnel to a ``(channel, udp port)``
peer, where a :class:`~ikel2tp.server.sessions.Channel` is one client's ESP path (its outer address
and NAT-T port) holding its SA pairs: two clients behind one NAT (same address, same selectors)
never mix, and a phase 2 rekey moves the tunnel to the new SA pair instead of closing it.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import ipaddress
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any, Protocol

from ikel2tp.ike import events as ike_events
from ikel2tp.ike.events import ChildSaKeys
from ikel2tp.ike.proposal import Refusal
from ikel2tp.ike.suites import Phase2Suite
from ikel2tp.l2tp import events as l2tp_events
from ikel2tp.ppp import events as ppp_events
from ikel2tp.ppp.auth.credentials import AuthResult
from ikel2tp.proposals import ppp as ppp_diagnosis
from ikel2tp.proposals.diagnosis import explain_refusal
from ikel2tp.proposals.history import RefusalHistory
from ikel2tp.server.logs import Timeline
from ikel2tp.server.sessions import Channel, ChildSa, Client, Session, SessionTable
from ikel2tp.users.limiter import FailureLimiter

Address = tuple[str, int]
# How many rounds of "move every core's output on" one pump may take; each round is bounded work,
# and a chain IKE → data plane → L2TP → PPP → TUN needs only a few.
MAX_ROUNDS = 32
LIFETIME_CHECK = 5.0  # seconds between looks at the data plane's SA lifetimes while SAs exist
ALIVE_INTERVAL = 5.0  # at most one "peer alive" hint to the IKE core per peer per this many seconds
CCP = b"\x80\xfd"  # RFC 1962: the PPP protocol field of CCP (never compressed by PFC)
# The names ppp/lcp.py gives Authentication-Protocol values, as ``[ppp] auth`` spells them.
_AUTH_CONFIG_NAMES = {"MS-CHAPv2": "mschapv2", "CHAP-MD5": "chap", "PAP": "pap"}
KeyExport = Callable[[bytes, bytes], None]
"""``export(initiator_cookie, encryption_key)``: an ISAKMP SA's decryption-table entry (debug only)."""


class ServerIO(Protocol):
    """What leaves the process."""

    def send_ike(self, data: bytes, local: Address, remote: Address) -> None: ...
    def send_l2tp_plain(self, data: bytes, local: Address, remote: Address) -> None: ...
    def tun_write(self, packet: bytes) -> None: ...
    def add_route(self, address: str) -> None: ...
    def remove_route(self, address: str) -> None: ...


def ipv4_destination(packet: bytes) -> str | None:
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    return socket.inet_ntoa(packet[16:20])


class Gateway:
    """The server's protocol state: every core, the session table and the wiring between them."""

    def __init__(self, *, ike: Any, dataplane: Any, lns: Any, pool: Any, users: Any,
                 make_link: Callable[[str], Any], io: ServerIO, gateway_address: str,
                 dns: tuple[Any, ...] = (), wins: tuple[Any, ...] = (),
                 esp_sink: Callable[[bytes, Address, Address], None] | None = None,
                 limiter: FailureLimiter | None = None, clock: Callable[[], float],
                 refusals: RefusalHistory | None = None, wall_clock: Callable[[], float] = time.time,
                 key_export: KeyExport | None = None, log: logging.Logger) -> None:
        self.ike = ike
        self.dataplane = dataplane
        self.lns = lns
        self.pool = pool
        self.users = users
        self._make_link = make_link
        self.io = io
        self.gateway_address = gateway_address
        self.dns = dns
        self.wins = wins
        self.log = log
        self._esp_sink = esp_sink  # (data, remote, local) -> None
        self.limiter = limiter if limiter is not None else FailureLimiter()
        self._clock = clock
        # The last refusals per peer address, for ``ikel2tp proposals last`` (wall-clock times).
        self.refusals = refusals if refusals is not None else RefusalHistory()
        self._wall_clock = wall_clock
        self.key_export = key_export  # debug: --export-ike-keys (the daemon may set it after building)
        self._auth_tasks: set[asyncio.Future] = set()
        self._alive: dict[Address, float] = {}
        self._plain_timelines: dict[Any, Timeline] = {}
        # Called after output that an asynchronous answer (a RADIUS user backend) produced, so the
        # daemon can re-arm its timer; pump() has already moved the output on.
        self.on_async_output: Callable[[], None] = lambda: None
        # [radius]: logins, limits and accounting (ikel2tp.server.radius.RadiusSessions); the daemon sets it.
        self.radius: Any = None
        self.table = SessionTable()
        self._handle_by_spi: dict[int, Hashable] = {}
        self._dirty: set[Hashable] = set()  # sessions whose link has output or events waiting
        self._next_client = 0
        self._now = 0.0
        self._lifetime_at = 0.0  # next look at the data plane's SA lifetimes (while SAs exist)
        self._link_heap: list[tuple[float, int, Hashable]] = []  # (deadline, tie-break, session key)
        self._link_deadline: dict[Hashable, float] = {}  # the current deadline of each link
        self._link_seq = 0
        # Links that went down while their LCP Terminate-Request is out: the L2TP session stays up
        # until LCP is closed, so the peer still gets the last frames (an MS-CHAPv2 Failure, E=691).
        self._closing: dict[Hashable, str] = {}
        self._ike_handlers = {
            ike_events.Phase1Established: self._on_phase1_established,
            ike_events.Phase1Failed: self._on_phase1_failed,
            ike_events.QuickModeFailed: self._on_quick_mode_failed,
            ike_events.Phase1Deleted: self._on_phase1_deleted,
            ike_events.ChildSaEstablished: self._on_child_established,
            ike_events.ChildSaDeleted: self._on_child_deleted,
            ike_events.InitialContact: self._on_initial_contact,
            ike_events.PeerDead: self._on_peer_dead,
        }
        self._l2tp_handlers = {
            l2tp_events.TunnelUp: self._on_tunnel_up,
            l2tp_events.TunnelDown: self._on_tunnel_down,
            l2tp_events.SessionUp: self._on_session_up,
            l2tp_events.SessionDown: self._on_session_down,
            l2tp_events.PppFrameReceived: self._on_ppp_frame,
        }
        self._ppp_handlers = {
            ppp_events.LinkUp: self._on_link_up,
            ppp_events.Ipv6Up: self._on_ipv6_up,
            ppp_events.AuthRequested: self._on_auth_requested,
            ppp_events.AuthSucceeded: self._on_auth_succeeded,
            ppp_events.AuthFailed: self._on_auth_failed,
            ppp_events.NetworkUp: self._on_network_up,
            ppp_events.IpPacketReceived: self._on_ip_packet,
            ppp_events.LinkDown: self._on_link_down,
        }

    # -- input -------------------------------------------------------------------------------
    def ike_input(self, data: bytes, local: Address, remote: Address, now: float) -> None:
        self._now = now
        self.ike.receive_datagram(data, local, remote, now)

    def keepalive_input(self, local: Address, remote: Address, now: float) -> None:
        """A NAT-keepalive (RFC 3948 §2.3): the peer is alive, no DPD probe is needed."""
        self._now = now
        self._peer_alive(remote, now)

    def _peer_alive(self, remote: Address, now: float) -> None:
        # Rate-limited: ESP can arrive at tens of thousands of packets per second, and a DPD
        # liveness note per SA every few seconds is all the IKE core needs.
        if now - self._alive.get(remote, -ALIVE_INTERVAL) >= ALIVE_INTERVAL:
            if len(self._alive) > 4 * len(self.table.clients) + 64:
                self._alive.clear()
            self._alive[remote] = now
            self.ike.peer_alive(remote, now)

    def esp_input(self, data: bytes, local: Address, remote: Address, now: float) -> None:
        """An ESP-in-UDP packet from the NAT-T port (RFC 3948), for a backend that decrypts in this
        process; the kernel backend receives it before us, the fake one never."""
        self._now = now
        self._peer_alive(remote, now)
        if self._esp_sink is None:
            self.log.debug("ESP in UDP from %s:%d dropped: the %s data plane does not take it from us",
                           remote[0], remote[1], self.dataplane.name)
            return
        self._esp_sink(data, remote, local)

    def l2tp_input(self, handle: Hashable, payload: bytes, peer_port: int, now: float) -> None:
        """A decrypted L2TP datagram that came through SA ``handle`` (the data plane's callback)."""
        self._now = now
        child = self.table.children.get(handle)
        if child is None:
            return  # an SA the data plane still had while we were removing it
        child.channel.ports.add(peer_port)
        self.lns.receive_datagram(payload, (child.channel, peer_port), now)

    def plain_l2tp_input(self, data: bytes, local: Address, remote: Address, now: float) -> None:
        """Plaintext L2TP on UDP 1701 (``[l2tp] require_ipsec = false``, lab and tests only)."""
        self._now = now
        self.lns.receive_datagram(data, ("plain", local, remote), now)

    def tun_input(self, packet: bytes, now: float) -> None:
        """An IP packet the kernel routed to the TUN: to the session that owns its destination."""
        self._now = now
        destination = ipv4_destination(packet)
        session = self.table.by_address(destination) if destination else None
        if session is None:
            return  # not a client address (e.g. IPv6 router solicitations from the kernel)
        session.link.send_ip(packet)
        session.bytes_out += len(packet)
        session.packets_out += 1
        self._dirty.add(session.key)

    def timer(self, now: float) -> None:
        """Run every core whose deadline has come."""
        self._now = now
        for core in (self.ike, self.lns):
            deadline = core.get_timer()
            if deadline is not None and deadline <= now:
                core.handle_timer(now)
        if self.table.children and now >= self._lifetime_at:
            for event in self.dataplane.expired(now):
                self._on_sa_expired(event, now)
            self._lifetime_at = self._next_lifetime_check(now)
        heap = self._link_heap
        while heap and heap[0][0] <= now:
            deadline, _, key = heapq.heappop(heap)
            if self._link_deadline.get(key) != deadline:
                continue  # superseded by a later schedule, or the session is gone
            del self._link_deadline[key]
            self.table.sessions[key].link.handle_timer(now)
            self._dirty.add(key)

    def _next_lifetime_check(self, now: float) -> float:
        """Every LIFETIME_CHECK seconds (volume limits are noticed by packets, not by time), or at
        the data plane's next seconds-lifetime deadline when that comes first."""
        deadline = self.dataplane.get_timer()
        if deadline is not None and now < deadline < now + LIFETIME_CHECK:
            return deadline
        return now + LIFETIME_CHECK

    def next_deadline(self) -> float | None:
        deadlines = [self.ike.get_timer(), self.lns.get_timer()]
        if self.table.children:
            deadlines.append(self._lifetime_at)
        heap = self._link_heap
        while heap and self._link_deadline.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)  # stale
        if heap:
            deadlines.append(heap[0][0])
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    # -- moving output on --------------------------------------------------------------------
    def pump(self, now: float) -> None:
        """Move every core's output to the next layer until nothing is left to move."""
        self._now = now
        for _ in range(MAX_ROUNDS):
            if not self._round(now):
                return
        self.log.warning("pump: still busy after %d rounds; continuing at the next input", MAX_ROUNDS)

    def _round(self, now: float) -> bool:
        moved = False
        # Output first, events after: what a core queued for an SA (a StopCCN, a CDN) leaves
        # before an event of this round deletes that SA.
        for data, peer in self.lns.datagrams_to_send():
            self._send_l2tp(data, peer)
            moved = True
        for data, local, remote in self.ike.datagrams_to_send():
            self.io.send_ike(data, local, remote)
            moved = True
        while (event := self.ike.next_event()) is not None:
            self._dispatch(self._ike_handlers, event, now)
            moved = True
        while (event := self.lns.next_event()) is not None:
            self._dispatch(self._l2tp_handlers, event, now)
            moved = True
        while self._dirty:
            key = self._dirty.pop()
            session = self.table.sessions.get(key)
            if session is None:
                continue
            for frame in session.link.frames_to_send():
                self.lns.send_ppp(key, frame)
                moved = True
            while (event := session.link.next_event()) is not None:
                self._dispatch(self._ppp_handlers, event, now, session)
                moved = True
            if key in self._closing and not session.link.terminating:
                self.lns.close_session(key, self._closing.pop(key), now)
                moved = True
            if key in self.table.sessions:
                self._schedule_link(key, session.link)
        return moved

    def _schedule_link(self, key: Hashable, link: Any) -> None:
        """Keep one heap of link deadlines so a timer costs O(log n), not a look at every session."""
        deadline = link.get_timer()
        if deadline == self._link_deadline.get(key):
            return
        if deadline is None:
            self._link_deadline.pop(key, None)
            return
        self._link_deadline[key] = deadline
        self._link_seq += 1
        heapq.heappush(self._link_heap, (deadline, self._link_seq, key))
        if len(self._link_heap) > 4 * len(self._link_deadline) + 64:  # drop stale entries
            self._link_heap = [entry for entry in self._link_heap
                               if self._link_deadline.get(entry[2]) == entry[0]]
            heapq.heapify(self._link_heap)

    def _dispatch(self, handlers: dict[type, Callable[..., None]], event: Any, now: float,
                  *extra: Any) -> None:
        handler = handlers.get(type(event))
        if handler is None:
            self.log.debug("no handler for %s", type(event).__name__)
            return
        handler(event, now, *extra)

    def _send_l2tp(self, data: bytes, peer: Any) -> None:
        if len(peer) == 2:  # (channel, port)
            children = peer[0].children
            if children:
                self.dataplane.send_l2tp(children[-1].handle, data, peer[1])
            return
        self.io.send_l2tp_plain(data, peer[1], peer[2])  # ("plain", local, remote)

    # -- IKE events --------------------------------------------------------------------------
    def _new_timeline(self, remote: Address) -> Timeline:
        self._next_client += 1
        return Timeline(f"c{self._next_client}", f"{remote[0]}:{remote[1]}")

    def _refused(self, peer_ip: str, text: str) -> None:
        """Keep a refusal for ``ikel2tp proposals last`` (the timeline has logged it already)."""
        self.refusals.record(peer_ip, text, self._wall_clock())

    def _failure_text(self, phase: str, event: Any) -> str:
        """The plain-words line for a failed negotiation: the proposal explanation (field, both
        sides' values, the fix) when no proposal was chosen, else the core's reason (a pre-shared
        key that does not match, no answer...)."""
        if isinstance(event.refusal, Refusal):
            return explain_refusal(event.refusal)
        return f"{phase} failed: {event.reason}"

    def _export_keys(self, ike_sa_id: int) -> None:
        """Debug: the ISAKMP SA's initiator cookie and encryption key for Wireshark's decryption table."""
        for sa in self.ike.ike_sas():
            if sa.sa_id == ike_sa_id and sa.keys is not None:
                self.key_export(sa.icookie, sa.keys.enc_key)
                return

    def _on_phase1_established(self, event: Any, now: float) -> None:
        if self.key_export is not None:
            self._export_keys(event.ike_sa_id)
        timeline = self._new_timeline(event.remote)
        client = Client(event.ike_sa_id, event.local, event.remote, timeline, now, event.suite)
        self.table.clients[event.ike_sa_id] = client
        timeline.step(now, "IKE phase 1 established",
                      f"{event.suite}, peer id {event.peer_id}"
                      + (f", client looks like {event.client_kind}"
                         if event.client_kind not in ("", "unknown") else "")
                      + (", behind NAT" if event.nat_detected else ""))

    def _on_phase1_failed(self, event: Any, now: float) -> None:
        text = self._failure_text("phase 1", event)
        self._new_timeline(event.remote).step(now, "IKE phase 1 failed", text, level=logging.WARNING)
        self._refused(event.remote[0], text)

    def _on_quick_mode_failed(self, event: Any, now: float) -> None:
        client = self.table.clients.get(event.ike_sa_id)
        timeline = client.timeline if client is not None else self._new_timeline(event.remote)
        text = self._failure_text("phase 2", event)
        timeline.step(now, "IKE phase 2 failed", text, level=logging.WARNING)
        self._refused(event.remote[0], text)

    def _on_phase1_deleted(self, event: Any, now: float) -> None:
        """The ISAKMP SA is gone; IPsec SAs it made live on (IKEv1) until deleted themselves."""
        client = self.table.clients.get(event.ike_sa_id)
        if client is None:
            return
        client.timeline.step(now, "IKE phase 1 deleted", event.reason)
        client.phase1_up = False
        if not client.handles:
            del self.table.clients[event.ike_sa_id]

    def _on_child_established(self, event: Any, now: float) -> None:
        keys: ChildSaKeys = event.child
        try:
            handle = self.dataplane.install(keys)
        except (ValueError, OSError) as exc:  # the backend cannot hold these parameters
            self.log.error("data plane refused SA %08x from %s:%d: %s", keys.spi_in, *keys.remote, exc)
            self.ike.delete_child(keys.spi_in)
            return
        client = self.table.clients.get(keys.ike_sa_id)
        if client is None:
            client = Client(keys.ike_sa_id, keys.local, keys.remote, self._new_timeline(keys.remote), now)
            self.table.clients[keys.ike_sa_id] = client
        suite = str(Phase2Suite(keys.cipher, keys.key_bits, keys.integrity, None, keys.icv_bytes))
        channel = self.table.channels.get(keys.remote)
        rekey = channel is not None
        if channel is None:
            channel = self.table.channels[keys.remote] = Channel(keys.remote, client.timeline)
        child = ChildSa(handle, client, keys.spi_in, keys.spi_out, keys.remote, keys.encap,
                        keys.natoa_remote, suite, channel)
        channel.children.append(child)
        self.table.children[handle] = child
        self._handle_by_spi[keys.spi_in] = handle
        if len(self.table.children) == 1:  # the first SA starts the lifetime checks
            self._lifetime_at = self._next_lifetime_check(now)
        client.handles.add(handle)
        client.timeline.step(now, "IPsec SA rekeyed" if rekey else "IKE phase 2 established",
                             f"ESP {suite}, SPI in {keys.spi_in:#010x} out {keys.spi_out:#010x}"
                             + (", UDP-encapsulated" if keys.encap else ""), progress=not rekey)

    def _on_child_deleted(self, event: Any, now: float) -> None:
        handle = self._handle_by_spi.get(event.spi_in)
        if handle is not None:
            self._drop_sa(handle, event.reason, now)

    def _on_initial_contact(self, event: Any, now: float) -> None:
        """RFC 2407 §4.6.3.3: the peer restarted; the core deletes its older SAs (ChildSaDeleted)."""
        client = self.table.clients.get(event.ike_sa_id)
        if client is not None:
            client.timeline.step(now, "INITIAL-CONTACT", f"peer id {event.peer_id}: older SAs are dropped")

    def _on_peer_dead(self, event: Any, now: float) -> None:
        """RFC 3706: no DPD answer; the core deletes the peer's SAs (ChildSaDeleted follows)."""
        client = self.table.clients.get(event.ike_sa_id)
        if client is not None:
            client.timeline.step(now, "dead peer", "no answer to DPD R-U-THERE", level=logging.WARNING)

    def _on_sa_expired(self, event: Any, now: float) -> None:
        if event.hard:
            self._drop_sa(event.handle, f"IPsec SA {event.limit} lifetime expired", now)

    def _drop_sa(self, handle: Hashable, reason: str, now: float) -> None:
        """Remove an SA pair; when it was its channel's last, close the L2TP tunnels pinned to it."""
        child = self.table.children.pop(handle, None)
        if child is None:
            return
        self._handle_by_spi.pop(child.spi_in, None)
        self.dataplane.delete(handle)
        channel = child.channel
        channel.children.remove(child)
        last = not channel.children
        if last:
            del self.table.channels[channel.remote]
            for port in sorted(channel.ports):
                self.lns.close_peer((channel, port), reason, now)
        client = child.client
        client.handles.discard(handle)
        client.timeline.step(now, "IPsec SA removed", f"SPI in {child.spi_in:#010x}: {reason}",
                             progress=last)
        if not client.handles and not client.phase1_up:
            self.table.clients.pop(client.ike_sa_id, None)

    # -- L2TP events -------------------------------------------------------------------------
    def _timeline_for(self, peer: Any) -> tuple[Timeline, Channel | None]:
        """The client timeline of an LNS ``peer``: ``(channel, port)`` or ``("plain", local, remote)``."""
        if len(peer) == 2:
            return peer[0].timeline, peer[0]
        timeline = self._plain_timelines.get(peer)
        if timeline is None:
            if len(self._plain_timelines) > 1024:
                self._plain_timelines.clear()
            timeline = self._plain_timelines[peer] = self._new_timeline(peer[2])
        return timeline, None

    def _on_tunnel_up(self, event: Any, now: float) -> None:
        timeline, _ = self._timeline_for(event.peer)
        timeline.step(now, "L2TP tunnel up",
                      f"tunnel {event.tunnel_id}, peer host {event.host_name!r} vendor {event.vendor_name!r}")

    def _on_tunnel_down(self, event: Any, now: float) -> None:
        timeline, _ = self._timeline_for(event.peer)
        timeline.step(now, "L2TP tunnel down", f"tunnel {event.tunnel_id}: {event.reason}")

    def _on_session_up(self, event: Any, now: float) -> None:
        timeline, channel = self._timeline_for(event.peer)
        link = self._make_link(f"{timeline.client}/{event.session_key}")
        if channel is not None:
            session = Session(event.session_key, channel, link, timeline, now, channel,
                              peer_ip=channel.remote[0])
        else:
            session = Session(event.session_key, event.peer, link, timeline, now, peer_ip=event.peer[2][0])
        self.table.add(session)
        timeline.step(now, "L2TP session up", f"session {event.session_key}")
        link.start(now)
        self._dirty.add(session.key)

    def _on_session_down(self, event: Any, now: float) -> None:
        session = self.table.remove(event.session_key)
        if session is None:
            return
        self._dirty.discard(session.key)
        self._link_deadline.pop(session.key, None)
        self._closing.pop(session.key, None)
        if not session.link.is_down:
            session.link.close(event.reason, now)
        if session.address:
            self.io.remove_route(session.address)
        self.pool.release(session.key, now)  # also an address allocated before IPCP came up
        if self.radius is not None:
            self.radius.session_down(session, event.reason, now)
        session.timeline.step(now, "L2TP session down",
                              f"session {event.session_key}: {event.reason}"
                              + (f" (result code {event.result_code})" if event.result_code else ""))

    def _on_ppp_frame(self, event: Any, now: float) -> None:
        session = self.table.sessions.get(event.session_key)
        if session is None:
            return
        if event.frame[:2] == CCP:
            session.ccp_requested = True
        session.link.receive_frame(event.frame, now)
        self._dirty.add(session.key)

    # -- PPP events --------------------------------------------------------------------------
    def _on_link_up(self, event: Any, now: float, session: Session) -> None:
        session.timeline.step(now, "LCP up")

    def _on_auth_requested(self, event: Any, now: float, session: Session) -> None:
        credentials = event.credentials
        blocked = self.limiter.blocked(credentials.user, session.peer_ip, now)
        if blocked is not None:
            self._auth_done(session.key, AuthResult(False, credentials.user, message="Authentication failed",
                                                    reason=blocked), now, count=False)
            return
        if self.radius is not None:
            result = self.radius.authenticate(session, credentials)
        else:
            result = self.users.authenticate(credentials)
        if not inspect.isawaitable(result):
            self._auth_done(session.key, result, now)
            return
        task = asyncio.ensure_future(result)  # a backend that answers later (RADIUS)
        self._auth_tasks.add(task)
        task.add_done_callback(lambda done: self._auth_answered(session.key, credentials.user, done))

    def _auth_answered(self, key: Hashable, user: str, task: asyncio.Future) -> None:
        self._auth_tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.log.error("user backend failed for %r: %s", user, error)
            result = AuthResult(False, user, message="Authentication failed",
                                reason=f"user backend error: {error}")
        else:
            result = task.result()
        now = self._clock()
        self._auth_done(key, result, now)
        self.pump(now)
        self.on_async_output()

    def _auth_done(self, key: Hashable, result: AuthResult, now: float, *, count: bool = True) -> None:
        session = self.table.sessions.get(key)
        if session is None:
            return  # the session ended while the backend was thinking
        if count:
            if result.success:
                self.limiter.succeeded(result.user, session.peer_ip)
            else:
                self.limiter.failed(result.user, session.peer_ip, now)
        session.auth = result
        session.link.auth_result(result, now)
        self._dirty.add(key)

    def _on_auth_succeeded(self, event: Any, now: float, session: Session) -> None:
        session.user = event.user
        session.timeline.step(now, "PPP authentication succeeded", f"user {event.user!r}")
        static = session.auth.static_address if session.auth is not None else None
        address = self.pool.allocate(session.key, event.user, now, static)
        if address is None:
            session.timeline.step(now, "no address for the user", "see the pool's log line for why",
                                  level=logging.ERROR)
            session.link.close("no address available", now)
        else:
            session.link.set_addresses(ipaddress.IPv4Address(self.gateway_address), address,
                                       dns=self.dns, wins=self.wins, now=now)
        self._dirty.add(session.key)

    def _on_auth_failed(self, event: Any, now: float, session: Session) -> None:
        session.timeline.step(now, "PPP authentication failed", f"user {event.user!r}: {event.reason}",
                              level=logging.WARNING)
        method = session.link.lcp.auth
        if method is not None:
            text = ppp_diagnosis.explain_auth_failure(event.user, method.value)
            self._refused(session.peer_ip, f"{text} (server: {event.reason})" if event.reason else text)

    def _on_network_up(self, event: Any, now: float, session: Session) -> None:
        address = str(event.peer_address)
        self.table.set_address(session, address)
        self.io.add_route(address)
        session.timeline.step(now, "IPCP up", f"address {address}")
        if self.radius is not None:
            self.radius.network_up(session, now)

    def _on_ipv6_up(self, event: Any, now: float, session: Session) -> None:
        session.timeline.step(now, "IPv6CP up", f"peer interface id {event.peer_identifier.hex()}")

    def _on_ip_packet(self, event: Any, now: float, session: Session) -> None:
        packet = event.packet  # the link has checked the source against the assigned address
        session.bytes_in += len(packet)
        session.packets_in += 1
        self.io.tun_write(packet)

    def _on_link_down(self, event: Any, now: float, session: Session) -> None:
        session.timeline.step(now, "PPP down", event.reason)
        text = self._ppp_refusal(session)
        if text is not None:
            self._refused(session.peer_ip, text)
        self._closing[session.key] = event.reason  # closed once LCP is (see _round)

    def _ppp_refusal(self, session: Session) -> str | None:
        """A PPP-side mismatch that ended the link: no authentication method both sides accept
        (Windows 628/691), or encryption (CCP/MPPE) the client wanted before it hung up (742)."""
        lcp = session.link.lcp
        if lcp.auth is None and lcp.peer_offered:
            offered = [_AUTH_CONFIG_NAMES.get(name, name) for name in dict.fromkeys(lcp.peer_offered)]
            return ppp_diagnosis.explain_auth_methods([m.value for m in lcp.settings.auth], offered)
        if session.ccp_requested and session.packets_in == 0:
            return ppp_diagnosis.explain_ccp(True)
        return None

    # -- admin -------------------------------------------------------------------------------
    def status(self, now: float) -> list[dict[str, Any]]:
        """Every session, and every client that has not got as far as a session."""
        rows = []
        for session in self.table:
            row = session.describe(now)
            reasons = self._esp_drops(session.channel)
            row["drops"] += sum(reasons.values())
            row["esp_drops"] = dict(reasons)
            rows.append(row)
        with_session = {row["client"] for row in rows}
        for client in self.table.clients.values():
            if client.timeline.client in with_session:
                continue
            rows.append({"client": client.timeline.client, "user": None, "peer": client.timeline.peer,
                         "nat": any(self.table.children[h].encap for h in client.handles
                                    if h in self.table.children),
                         "inner_peer": None, "address": None, "phase1": client.phase1, "phase2": "",
                         "uptime": round(now - client.started, 1), "bytes_in": 0, "bytes_out": 0,
                         "packets_in": 0, "packets_out": 0, "drops": 0, "esp_drops": {},
                         "state": client.timeline.last})
        return rows

    def _esp_drops(self, channel: Channel | None) -> Counter[str]:
        """ESP packets the data plane dropped on this client's SAs, by reason (replay, integrity...)."""
        total: Counter[str] = Counter()
        for child in channel.children if channel is not None else ():
            try:
                total.update(self.dataplane.counters(child.handle).drops)
            except KeyError:  # already gone from the data plane
                continue
        return total

    def kick(self, target: str, now: float) -> int:
        """Disconnect the sessions of user (or address) ``target``."""
        return self.disconnect(self.table.find(target), now)

    def disconnect(self, sessions: list[Session], now: float, *, step: str = "kicked by the administrator",
                   reason: str = "disconnected by the administrator") -> int:
        """End ``sessions``: PPP Terminate and L2TP CDN first, then an IKE Delete for each IPsec SA
        that carried nothing else.  ``step`` goes to the timeline, ``reason`` to the PPP and L2TP layers."""
        channels = {s.channel for s in sessions if s.channel is not None}
        for session in sessions:
            session.timeline.step(now, step)
            session.link.close(reason, now)
            self._dirty.add(session.key)
        self.pump(now)
        for session in sessions:  # an administrator's close does not wait for the peer's Terminate-Ack
            if session.key in self._closing:
                self.lns.close_session(session.key, self._closing.pop(session.key), now)
        self.pump(now)
        for channel in channels:
            if not self.table.on_sa(channel):
                for child in list(channel.children):
                    self.ike.delete_child(child.spi_in)
        self.pump(now)
        return len(sessions)

    def shutdown(self, now: float) -> None:
        """Say goodbye to every peer: LCP Terminate, StopCCN, IKE Delete; then remove all SA state."""
        for task in list(self._auth_tasks):
            task.cancel()
        for session in self.table:
            session.link.close("server shutting down", now)
            self._dirty.add(session.key)
        self.pump(now)
        self.lns.close_all(now)
        self.pump(now)  # StopCCN leaves through the SAs before IKE deletes them
        self.ike.delete_all()
        self.pump(now)
        for handle in list(self.table.children):
            self._drop_sa(handle, "server shutting down", now)
        self.pump(now)

