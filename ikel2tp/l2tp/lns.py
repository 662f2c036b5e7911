"""The L2TP Network Server (RFC 2661) as a sans-I/O core.

Bytes, a ``peer`` and ``now`` in; datagrams, events and the next deadline out.  ``peer`` is an
opaque hashable from the shell (the IPsec SA handle plus the client's inner UDP port, or the
plain address in the test-only ``require_ipsec = false`` mode).  A tunnel is found by our Tunnel
ID and must come from the peer that created it (pinning); a new SCCRQ is matched to an existing
tunnel by (peer, the peer's Assigned Tunnel ID), so two clients behind one NAT stay apart.

Bad input never raises: the datagram is dropped, counted per peer and logged at most once per
peer per ``log_interval`` (stale tunnels after a client's sleep must not flood the log,
xelerance/xl2tpd#159).  Traffic for a tunnel or session we do not know is answered at most once,
the way RFC 2661 §5.3 allows without knowing the peer's IDs: a control message for an unknown
tunnel gets a StopCCN with Tunnel ID 0 and the addressed ID as Assigned Tunnel ID (once per peer
per ``log_interval``); data or a call message for an unknown session of a live tunnel gets one
CDN with Session ID 0 and the addressed ID as Assigned Session ID.  (xl2tpd 1.3 looks tunnels up
by the header's Tunnel ID only, so it ignores such a StopCCN and drops its stale tunnel after its
own retransmit limit; the answer costs nothing and helps LACs that follow §5.3.)
"""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Callable, Hashable

from ikel2tp.l2tp.avp import ResultCode
from ikel2tp.l2tp.constants import AvpType, ErrorCode, MessageType, StopCcnResult
from ikel2tp.l2tp.errors import L2tpError
from ikel2tp.l2tp.events import Event, PppFrameReceived, SessionKey
from ikel2tp.l2tp.message import Message, build_avps, decode_message
from ikel2tp.l2tp.packet import Header, decode_control_body, decode_datagram, encode_control
from ikel2tp.l2tp.session import SessionState
from ikel2tp.l2tp.settings import L2tpSettings
from ikel2tp.l2tp.tunnel import Context, Tunnel, TunnelState


class Lns:
    """All tunnels and sessions of the server.  See the module docstring for the contract."""

    def __init__(self, settings: L2tpSettings, *, log: logging.Logger,
                 random: Callable[[int], bytes] = os.urandom) -> None:
        self.settings = settings
        self._ctx = Context(settings, log, random)
        self._tunnels: dict[int, Tunnel] = {}
        self._by_peer: dict[tuple[Hashable, int], Tunnel] = {}
        self._of_peer: dict[Hashable, dict[int, Tunnel]] = {}  # each peer's live tunnels, by our ID
        # Deadlines: each tunnel's current one, a heap of (deadline, tunnel ID) with stale entries
        # skipped lazily, and the tunnels touched since their deadline was last computed.
        self._deadlines: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []
        self._dirty: set[int] = set()

    # -- the core interface --------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        """Datagrams dropped so far (malformed, unknown tunnel/session, wrong peer, over a limit)."""
        return self._ctx.drops.total

    def tunnels(self) -> list[Tunnel]:
        return list(self._tunnels.values())

    def datagrams_to_send(self) -> list[tuple[bytes, Hashable]]:
        out, self._ctx.out = self._ctx.out, []
        return out

    def next_event(self) -> Event | None:
        return self._ctx.events.popleft() if self._ctx.events else None

    def get_timer(self) -> float | None:
        """The earliest deadline of any tunnel (O(touched tunnels · log n) per call)."""
        for tunnel_id in self._dirty:
            tunnel = self._tunnels.get(tunnel_id)
            deadline = tunnel.deadline() if tunnel is not None else None
            if deadline is None:
                self._deadlines.pop(tunnel_id, None)
            elif self._deadlines.get(tunnel_id) != deadline:
                self._deadlines[tunnel_id] = deadline
                heapq.heappush(self._heap, (deadline, tunnel_id))
        self._dirty.clear()
        if len(self._heap) > 4 * len(self._deadlines) + 64:  # too many stale entries: rebuild
            self._heap = [(d, t) for t, d in self._deadlines.items()]
            heapq.heapify(self._heap)
        while self._heap:
            deadline, tunnel_id = self._heap[0]
            if self._deadlines.get(tunnel_id) == deadline:
                return deadline
            heapq.heappop(self._heap)
        return None

    def handle_timer(self, now: float) -> None:
        self.get_timer()
        due = []
        while self._heap and self._heap[0][0] <= now:
            deadline, tunnel_id = heapq.heappop(self._heap)
            if self._deadlines.get(tunnel_id) == deadline:
                del self._deadlines[tunnel_id]
                due.append(tunnel_id)
        for tunnel_id in due:
            tunnel = self._tunnels.get(tunnel_id)
            if tunnel is not None:
                tunnel.handle_timer(now)
                self._touch(tunnel)

    def receive_datagram(self, data: bytes, peer: Hashable, now: float) -> None:
        try:
            header, payload = decode_datagram(data)
            if header.control:
                avps = decode_control_body(payload)
                message = decode_message(avps, self.settings.secret) if avps else None
                self._receive_control(header, payload, message, peer, now)
            else:
                self._receive_data(header, payload, peer, now)
        except L2tpError as exc:
            self._drop(peer, now, f"malformed: {exc}")

    def send_ppp(self, session_key: SessionKey, frame: bytes) -> bool:
        """Send a PPP frame (from its protocol field) on an established session; False if there is none."""
        tunnel = self._tunnels.get(session_key.tunnel_id)
        session = tunnel.sessions.get(session_key.session_id) if tunnel else None
        if tunnel is None or session is None or session.state != SessionState.ESTABLISHED:
            return False
        self._ctx.out.append((session.encode_data(tunnel.peer_tunnel_id, frame), tunnel.peer))
        return True

    def close_peer(self, peer: Hashable, reason: str, now: float) -> None:
        """Forget every tunnel of ``peer`` without a StopCCN: its SA is gone (deleted, or replaced
        after INITIAL-CONTACT); a reconnecting client gets a fresh tunnel on its new SA."""
        for tunnel in list(self._of_peer.get(peer, {}).values()):
            tunnel.abort(reason)
            self._touch(tunnel)

    def close_session(self, session_key: SessionKey, reason: str, now: float) -> None:
        tunnel = self._tunnels.get(session_key.tunnel_id)
        session = tunnel.sessions.get(session_key.session_id) if tunnel else None
        if tunnel is not None and session is not None:
            tunnel.close_session(session, reason, now)
            self._touch(tunnel)

    def close_all(self, now: float) -> None:
        """StopCCN "being shut down" on every tunnel (each is then held to see it acknowledged)."""
        for tunnel in list(self._tunnels.values()):
            tunnel.stop(StopCcnResult.BEING_SHUT_DOWN, ErrorCode.NO_ERROR, "server shutting down", now)
            self._touch(tunnel)

    # -- internals -----------------------------------------------------------------------------
    def _drop(self, peer: Hashable, now: float, reason: str) -> bool:
        return self._ctx.drop(peer, now, reason)

    def _touch(self, tunnel: Tunnel) -> None:
        """The tunnel's state changed: forget it if finished, else recompute its deadline."""
        if tunnel.finished and self._tunnels.get(tunnel.tunnel_id) is tunnel:
            del self._tunnels[tunnel.tunnel_id]
            self._by_peer.pop((tunnel.peer, tunnel.peer_tunnel_id), None)
            mine = self._of_peer[tunnel.peer]
            del mine[tunnel.tunnel_id]
            if not mine:
                del self._of_peer[tunnel.peer]
        self._dirty.add(tunnel.tunnel_id)

    def _receive_control(self, header: Header, body: bytes, message: Message | None, peer: Hashable,
                         now: float) -> None:
        if header.tunnel_id != 0:
            tunnel = self._tunnels.get(header.tunnel_id)
            if tunnel is None or tunnel.peer != peer:
                what = message.name if message is not None else "ZLB"
                answer = self._drop(peer, now, f"{what} for unknown tunnel {header.tunnel_id}")
                if answer and message is not None and message.message_type != MessageType.StopCCN:
                    self._answer_unknown_tunnel(header, peer)
                return
            tunnel.receive_control(header, message, now)
            self._touch(tunnel)
            return
        if message is None or message.message_type != MessageType.SCCRQ:
            what = message.name if message is not None else "ZLB"
            self._drop(peer, now, f"{what} with Tunnel ID 0 (only SCCRQ may use it)")
            return
        peer_tid = message.get(AvpType.ASSIGNED_TUNNEL_ID)
        if not peer_tid:
            self._drop(peer, now, "SCCRQ without a usable Assigned Tunnel ID")
            return
        tunnel = self._by_peer.get((peer, peer_tid))
        if tunnel is not None and tunnel.sccrq != body:
            # Not a retransmission (that repeats the same bytes): the peer lost the old tunnel and
            # reuses its Tunnel ID, e.g. a client redialling after sleep on the same SA.
            tunnel.abort("peer started a new tunnel with the same Tunnel ID (it lost the old one)")
            self._touch(tunnel)
            tunnel = None
        if tunnel is None:
            tunnel = self._new_tunnel(peer, peer_tid, body, now)
            if tunnel is None:
                return
        tunnel.receive_control(header, message, now)
        self._touch(tunnel)

    def _answer_unknown_tunnel(self, header: Header, peer: Hashable) -> None:
        """A StopCCN for a tunnel the peer still believes in (e.g. after our restart or its sleep):
        Tunnel ID 0 in the header and the ID the peer addressed as Assigned Tunnel ID let it find
        the tunnel (RFC 2661 §4.4.3, §5.3); Ns/Nr continue the peer's own numbering so it accepts
        the message.  Sent at most once per peer per ``log_interval``, without keeping state."""
        assert header.ns is not None and header.nr is not None
        avps = build_avps(MessageType.StopCCN, [
            (AvpType.ASSIGNED_TUNNEL_ID, header.tunnel_id),
            (AvpType.RESULT_CODE, ResultCode(StopCcnResult.GENERAL_ERROR, ErrorCode.NO_CONTROL_CONNECTION,
                                             "no such tunnel on this server"))])
        self._ctx.out.append((encode_control(0, 0, header.nr, (header.ns + 1) % 65536, avps), peer))

    def _new_tunnel(self, peer: Hashable, peer_tid: int, sccrq: bytes, now: float) -> Tunnel | None:
        s = self.settings
        mine = len(self._of_peer.get(peer, ()))
        tunnel_id = None
        if len(self._tunnels) >= s.max_tunnels:
            why = f"server tunnel limit {s.max_tunnels} reached"
        elif mine >= s.max_tunnels_per_peer:
            why = f"per-peer tunnel limit {s.max_tunnels_per_peer} reached"
        else:
            why = "no free tunnel ID"
            tunnel_id = self._ctx.new_id(self._tunnels)
        if tunnel_id is None:
            if self._drop(peer, now, f"SCCRQ refused: {why}"):
                # Answered once per interval without keeping state, so floods cost nothing (§5.7 says
                # StopCCN is reliable; a refused peer just retries its SCCRQ and is refused again).
                avps = build_avps(MessageType.StopCCN, [
                    (AvpType.ASSIGNED_TUNNEL_ID, 0),
                    (AvpType.RESULT_CODE, ResultCode(StopCcnResult.GENERAL_ERROR,
                                                     ErrorCode.INSUFFICIENT_RESOURCES, why))])
                self._ctx.out.append((encode_control(peer_tid, 0, 0, 1, avps), peer))
            return None
        tunnel = Tunnel(self._ctx, tunnel_id, peer, peer_tid, now, sccrq)
        self._tunnels[tunnel_id] = tunnel
        self._by_peer[(peer, peer_tid)] = tunnel
        self._of_peer.setdefault(peer, {})[tunnel_id] = tunnel
        return tunnel

    def _receive_data(self, header: Header, payload: bytes, peer: Hashable, now: float) -> None:
        tunnel = self._tunnels.get(header.tunnel_id)
        if tunnel is None or tunnel.peer != peer or tunnel.state != TunnelState.ESTABLISHED:
            self._drop(peer, now, f"data for unknown tunnel {header.tunnel_id}")
            return
        session = tunnel.sessions.get(header.session_id)
        if session is None:
            self._drop(peer, now, f"data for unknown session {header.session_id} in {tunnel}")
            tunnel.answer_unknown_session(header.session_id, now)
            self._touch(tunnel)
            return
        if session.state != SessionState.ESTABLISHED:
            self._drop(peer, now, f"data before ICCN on session {header.session_id} in {tunnel}")
            return
        frame = session.receive_data(header, payload)
        if frame is None:
            self._drop(peer, now, f"out-of-order data Ns {header.ns} on session {session.session_id}")
            return
        if not frame:
            self._drop(peer, now, f"empty data message on session {session.session_id}")
            return
        self._ctx.events.append(PppFrameReceived(session.key, frame))
