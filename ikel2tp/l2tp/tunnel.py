"""One L2TP tunnel (control connection) on the LNS side: its state table (RFC 2661 §7.2), tunnel
authentication (§5.1.1), HELLO keepalives (§6.5), StopCCN hold (§5.7) and the calls it carries."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ikel2tp.l2tp.avp import ResultCode
from ikel2tp.l2tp.constants import (
    DEFAULT_PEER_WINDOW,
    PROTOCOL_VERSION,
    SESSION_MESSAGES,
    AvpType,
    CdnResult,
    ErrorCode,
    FramingBits,
    MessageType,
    ProxyAuthenType,
    StopCcnResult,
)
from ikel2tp.l2tp.events import Event, SessionDown, SessionUp, TunnelDown, TunnelUp
from ikel2tp.l2tp.message import Message, build_avps
from ikel2tp.l2tp.packet import Header, encode_control
from ikel2tp.l2tp.reliable import ControlChannel, Outgoing
from ikel2tp.l2tp.session import SESSION_TABLE, Session, SessionState
from ikel2tp.l2tp.settings import L2tpSettings

FIRMWARE_REVISION = 0x0100
MAX_TRACKED_PEERS = 4096


class TunnelState(Enum):
    IDLE = "idle"                    # created for an SCCRQ not yet processed
    WAIT_CTL_CONN = "wait-ctl-conn"  # SCCRP sent, waiting for SCCCN
    ESTABLISHED = "established"
    CLOSING = "closing"              # StopCCN sent or received: held to acknowledge retransmits


TUNNEL_TABLE: dict[tuple[TunnelState, MessageType], tuple[str, TunnelState]] = {
    (TunnelState.IDLE, MessageType.SCCRQ): ("sccrq", TunnelState.WAIT_CTL_CONN),
    (TunnelState.WAIT_CTL_CONN, MessageType.SCCCN): ("scccn", TunnelState.ESTABLISHED),
    (TunnelState.WAIT_CTL_CONN, MessageType.HELLO): ("ack", TunnelState.WAIT_CTL_CONN),
    (TunnelState.ESTABLISHED, MessageType.HELLO): ("ack", TunnelState.ESTABLISHED),
    (TunnelState.IDLE, MessageType.StopCCN): ("stopccn", TunnelState.CLOSING),
    (TunnelState.WAIT_CTL_CONN, MessageType.StopCCN): ("stopccn", TunnelState.CLOSING),
    (TunnelState.ESTABLISHED, MessageType.StopCCN): ("stopccn", TunnelState.CLOSING),
    (TunnelState.CLOSING, MessageType.StopCCN): ("ack", TunnelState.CLOSING),
    (TunnelState.WAIT_CTL_CONN, MessageType.SCCRQ): ("fsm_error", TunnelState.CLOSING),
    (TunnelState.WAIT_CTL_CONN, MessageType.SCCRP): ("fsm_error", TunnelState.CLOSING),
    (TunnelState.ESTABLISHED, MessageType.SCCRQ): ("fsm_error", TunnelState.CLOSING),
    (TunnelState.ESTABLISHED, MessageType.SCCRP): ("fsm_error", TunnelState.CLOSING),
    (TunnelState.ESTABLISHED, MessageType.SCCCN): ("fsm_error", TunnelState.CLOSING),
    **{(TunnelState.ESTABLISHED, kind): ("call", TunnelState.ESTABLISHED) for kind in SESSION_MESSAGES},
}
"""RFC 2661 §7.2.1 (LNS side): (state, message) -> (action, next state).  Call messages go to the
session table.  A pair not listed is logged as unexpected and ignored (still acknowledged).
A retransmitted SCCRQ/SCCCN never gets here: the control channel acknowledges duplicates."""


def challenge_response(message_type: MessageType, secret: bytes, challenge: bytes) -> bytes:
    """RFC 2661 §4.4.3/§5.1.1: Response = MD5(Message Type value as one octet | secret | challenge)
    (the CHAP construction of RFC 1994 with the responding message's type as the identifier)."""
    return hashlib.md5(bytes([message_type]) + secret + challenge).digest()


class DropLog:
    """Counts dropped datagrams per peer and lets one log line (and one answer) through per interval."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.total = 0
        self._peers: dict[Hashable, tuple[int, float]] = {}

    def note(self, peer: Hashable, now: float) -> int | None:
        """Count one drop; the number of drops to report when a line is due, else None."""
        self.total += 1
        count, last = self._peers.get(peer, (0, float("-inf")))
        count += 1
        if now - last >= self.interval:
            self._peers.pop(peer, None)
            if len(self._peers) >= MAX_TRACKED_PEERS:
                self._peers.pop(next(iter(self._peers)))
            self._peers[peer] = (0, now)
            return count
        self._peers[peer] = (count, last)
        return None


@dataclass
class Context:
    """What every tunnel shares with the LNS: settings, log, randomness and the output queues."""

    settings: L2tpSettings
    log: logging.Logger
    random: Callable[[int], bytes]
    out: list[tuple[bytes, Hashable]] = field(default_factory=list)
    events: deque[Event] = field(default_factory=deque)
    drops: DropLog = field(init=False)

    def __post_init__(self) -> None:
        self.drops = DropLog(self.settings.log_interval)

    def drop(self, peer: Hashable, now: float, reason: str) -> bool:
        """Count one dropped or ignored input; log it when this peer's line for the interval is due
        (then True: the caller may also answer once)."""
        count = self.drops.note(peer, now)
        if count is not None:
            self.log.warning("l2tp: peer %s: %d datagram(s) dropped or ignored since last report; latest: %s",
                             peer, count, reason)
        return count is not None

    def new_id(self, used: Iterable[int] | dict[int, Any]) -> int | None:
        """A random non-zero 16-bit ID not in ``used`` (random IDs make blind injection harder)."""
        for _ in range(64):
            value = int.from_bytes(self.random(2), "big")
            if value and value not in used:
                return value
        return None


class Tunnel:
    """The LNS end of one control connection, pinned to ``peer``."""

    def __init__(self, ctx: Context, tunnel_id: int, peer: Hashable, peer_tunnel_id: int, now: float,
                 sccrq: bytes = b"") -> None:
        s = ctx.settings
        self.sccrq = sccrq  # the SCCRQ's AVP bytes: a retransmission repeats them exactly
        self.ctx = ctx
        self.tunnel_id = tunnel_id
        self.peer = peer
        self.peer_tunnel_id = peer_tunnel_id
        self.state = TunnelState.IDLE
        self.channel: ControlChannel[tuple[int, Message]] = ControlChannel(
            our_window=s.receive_window, initial_timeout=s.retransmit_initial,
            max_timeout=s.retransmit_max, max_retransmits=s.max_retransmits)
        self.sessions: dict[int, Session] = {}
        self.created = now
        self.last_received = now
        self.hold_until: float | None = None
        self.finished = False
        self.host_name = ""
        self.vendor_name = ""
        self._answered: deque[int] = deque(maxlen=64)  # unknown session IDs answered with a CDN
        self._challenge: bytes | None = None

    def __str__(self) -> str:
        return f"tunnel {self.tunnel_id} (peer {self.peer}, their id {self.peer_tunnel_id})"

    # -- output ----------------------------------------------------------------------------------
    def send(self, message_type: MessageType, items: list[tuple[AvpType, Any]], session_id: int = 0) -> None:
        self.channel.queue(session_id, build_avps(message_type, items))

    def _emit(self, items: list[Outgoing]) -> None:
        for item in items:
            self.ctx.out.append((encode_control(self.peer_tunnel_id, item.session_id, item.ns,
                                                self.channel.rcv_nxt, item.avps), self.peer))

    def flush(self, now: float) -> None:
        """Send what the peer's window allows; acknowledge with a ZLB if nothing carried our Nr."""
        self._emit(self.channel.transmit(now))
        if self.channel.ack_pending:
            self.channel.ack_pending = False
            # §5.8: a ZLB carries the Ns of the next message to go out, without using it up
            self.ctx.out.append((encode_control(self.peer_tunnel_id, 0, self.channel.snd_max,
                                                self.channel.rcv_nxt, []), self.peer))

    def _set_state(self, state: TunnelState, why: str) -> None:
        if state != self.state:
            self.ctx.log.info("l2tp: %s: %s -> %s (%s)", self, self.state.value, state.value, why)
            self.state = state

    # -- input -----------------------------------------------------------------------------------
    def receive_control(self, header: Header, message: Message | None, now: float) -> None:
        """A control message or ZLB for this tunnel (already matched to our ID and the peer)."""
        assert header.ns is not None and header.nr is not None
        if not self.channel.acknowledge(header.nr, now):
            self.ctx.drop(self.peer, now, f"{self}: Nr {header.nr} acknowledges nothing we sent "
                                          f"(sent up to Ns {self.channel.snd_max})")
            return
        self.last_received = now
        if message is not None:
            for session_id, delivered in self.channel.receive(header.ns, (header.session_id, message)):
                self._dispatch(session_id, delivered, now)
        self.flush(now)

    def _dispatch(self, session_id: int, message: Message, now: float) -> None:
        """Run one in-order control message through the transition table (RFC 2661 §7.2)."""
        kind = MessageType._value2member_map_.get(message.message_type)
        if message.ignored:  # RFC 2661 §4.1: unknown AVPs without the M bit (e.g. vendor 311's)
            self.ctx.log.debug("l2tp: %s: %s: ignored optional %s", self, message.name,
                               ", ".join(message.ignored))
        if message.error is not None and self.state != TunnelState.CLOSING:
            if kind in SESSION_MESSAGES and self.state == TunnelState.ESTABLISHED:
                self._call_error(session_id, message, now)
            else:  # RFC 2661 §4.1: a bad tunnel message clears the tunnel and all its calls
                err = message.error
                self.ctx.log.warning("l2tp: %s: %s rejected: %s", self, message.name, err.reason)
                self.stop(StopCcnResult.GENERAL_ERROR, err.error or ErrorCode.NO_ERROR,
                          f"{message.name}: {err.reason}", now)
            return
        entry = TUNNEL_TABLE.get((self.state, kind)) if kind is not None else None
        if entry is None:
            self.ctx.drop(self.peer, now, f"{self}: unexpected {message.name} in state {self.state.value}")
            return
        action, next_state = entry
        getattr(self, f"_on_{action}")(session_id, message, now)
        if self.state != TunnelState.CLOSING and not self.finished:
            self._set_state(next_state, message.name)

    # -- tunnel actions (RFC 2661 §5.1, §6.1-§6.5) -------------------------------------------------
    def _on_sccrq(self, session_id: int, message: Message, now: float) -> None:
        s = self.ctx.settings
        self.host_name = message.get(AvpType.HOST_NAME, "")
        self.vendor_name = message.get(AvpType.VENDOR_NAME, "")
        version = message.get(AvpType.PROTOCOL_VERSION)
        if version != PROTOCOL_VERSION:
            highest = (PROTOCOL_VERSION[0] << 8) | PROTOCOL_VERSION[1]  # §4.4.2: error = highest we speak
            self.stop(StopCcnResult.PROTOCOL_VERSION_NOT_SUPPORTED, highest,
                      f"protocol version {version} is not 1.0", now)
            return
        self.channel.peer_window = max(1, message.get(AvpType.RECEIVE_WINDOW_SIZE, DEFAULT_PEER_WINDOW))
        items: list[tuple[AvpType, Any]] = [
            (AvpType.PROTOCOL_VERSION, PROTOCOL_VERSION),
            (AvpType.HOST_NAME, s.host_name),
            (AvpType.FRAMING_CAPABILITIES, FramingBits.SYNCHRONOUS | FramingBits.ASYNCHRONOUS),
            (AvpType.FIRMWARE_REVISION, FIRMWARE_REVISION),
            (AvpType.VENDOR_NAME, s.vendor_name),
            (AvpType.ASSIGNED_TUNNEL_ID, self.tunnel_id),
            (AvpType.RECEIVE_WINDOW_SIZE, s.receive_window),
        ]
        their_challenge = message.get(AvpType.CHALLENGE)
        if their_challenge is not None:
            if s.secret is None:
                self.stop(StopCcnResult.NOT_AUTHORIZED, ErrorCode.NO_ERROR,
                          "peer asks for tunnel authentication but no tunnel secret is configured", now)
                return
            items.append((AvpType.CHALLENGE_RESPONSE,
                          challenge_response(MessageType.SCCRP, s.secret, their_challenge)))
        if s.secret is not None:
            self._challenge = self.ctx.random(16)
            items.append((AvpType.CHALLENGE, self._challenge))
        self.ctx.log.info("l2tp: %s: SCCRQ from host %r vendor %r, window %d%s", self, self.host_name,
                          self.vendor_name, self.channel.peer_window,
                          ", tunnel authentication" if s.secret is not None else "")
        self.send(MessageType.SCCRP, items)

    def _on_scccn(self, session_id: int, message: Message, now: float) -> None:
        secret = self.ctx.settings.secret
        if self._challenge is not None and secret is not None:
            expected = challenge_response(MessageType.SCCCN, secret, self._challenge)
            answer = message.get(AvpType.CHALLENGE_RESPONSE)
            if answer is None or not hmac.compare_digest(answer, expected):
                why = "no Challenge Response" if answer is None else "wrong Challenge Response"
                self.stop(StopCcnResult.NOT_AUTHORIZED, ErrorCode.NO_ERROR,
                          f"tunnel authentication failed: {why} (tunnel secrets differ)", now)
                return
        self.ctx.events.append(TunnelUp(self.tunnel_id, self.peer, self.peer_tunnel_id, self.host_name,
                                        self.vendor_name))

    def _on_ack(self, session_id: int, message: Message, now: float) -> None:
        """HELLO (and a repeated StopCCN while closing) needs only the acknowledgement (§6.5)."""

    def _on_fsm_error(self, session_id: int, message: Message, now: float) -> None:
        """RFC 2661 §7.2.1: SCCRQ/SCCRP/SCCCN out of place clear the tunnel with StopCCN."""
        self.stop(StopCcnResult.FSM_ERROR, ErrorCode.NO_ERROR,
                  f"{message.name} not allowed in state {self.state.value}", now)

    def _on_stopccn(self, session_id: int, message: Message, now: float) -> None:
        result: ResultCode = message.get(AvpType.RESULT_CODE)
        name = StopCcnResult._value2member_map_.get(result.result)
        words = f"peer closed the tunnel: {name.name if name else result.result}"
        if result.error:
            words += f", error {result.error}"
        if result.message:
            words += f" ({result.message})"
        self.channel.abandon()
        self._close(words, result.result, now, hold=True)

    # -- calls (RFC 2661 §5.2, §6.7-§6.16) --------------------------------------------------------
    def _on_call(self, session_id: int, message: Message, now: float) -> None:
        kind = MessageType(message.message_type)
        if kind in (MessageType.ICRQ, MessageType.OCRQ):  # requests for a new call (header Session ID 0)
            session = None
            state = SessionState.IDLE
        else:
            session = self.sessions.get(session_id)
            if session is None:
                self.ctx.drop(self.peer, now, f"{self}: {kind.name} for unknown session {session_id}")
                if kind != MessageType.CDN:
                    self.answer_unknown_session(session_id, now)
                return
            state = session.state
        entry = SESSION_TABLE.get((state, kind))
        if entry is None:
            self.ctx.drop(self.peer, now, f"{self}: unexpected {kind.name} for session {session_id} "
                                          f"in state {state.value}")
            return
        action, next_state = entry
        session = getattr(self, f"_call_{action}")(session, message, now)
        if session is not None and next_state is not None and session.state != next_state:
            self.ctx.log.info("l2tp: %s session %d (their id %d): %s -> %s (%s)", self, session.session_id,
                              session.peer_session_id, session.state.value, next_state.value, kind.name)
            session.state = next_state

    def _call_icrq(self, session: Session | None, message: Message, now: float) -> Session | None:
        s = self.ctx.settings
        peer_sid = message.get(AvpType.ASSIGNED_SESSION_ID)
        if not peer_sid:  # RFC 2661 §5.3: 0 is never an Assigned Session ID; nothing to address a CDN to
            self.ctx.drop(self.peer, now, f"{self}: ICRQ with Assigned Session ID 0")
            return None
        full = len(self.sessions) >= s.max_sessions_per_tunnel
        our_sid = None if full else self.ctx.new_id(self.sessions)
        if our_sid is None:
            why = f"session limit {s.max_sessions_per_tunnel} reached" if full else "no free session ID"
            self.ctx.log.warning("l2tp: %s: ICRQ refused: %s", self, why)
            self._send_cdn(peer_sid, 0, CdnResult.TEMPORARY_LACK_OF_FACILITIES,
                           ErrorCode.INSUFFICIENT_RESOURCES, why)
            return None
        session = Session(self.tunnel_id, our_sid, peer_sid, message.get(AvpType.CALL_SERIAL_NUMBER), now,
                          message.get(AvpType.CALLING_NUMBER, ""))
        self.sessions[our_sid] = session
        self.ctx.log.info("l2tp: %s session %d (their id %d): ICRQ call serial %d calling %r", self, our_sid,
                          peer_sid, session.call_serial_number, session.calling_number)
        self.send(MessageType.ICRP, [(AvpType.ASSIGNED_SESSION_ID, our_sid)], peer_sid)
        return session

    def _call_iccn(self, session: Session, message: Message, now: float) -> Session:
        session.sequencing = AvpType.SEQUENCING_REQUIRED in message.values
        proxy = message.get(AvpType.PROXY_AUTHEN_TYPE)
        if proxy is not None or AvpType.INITIAL_RECEIVED_LCP_CONFREQ in message.values:
            known = ProxyAuthenType._value2member_map_.get(proxy)
            self.ctx.log.info("l2tp: %s session %d: ICCN carries proxy LCP/authentication (%s, name %r);"
                              " PPP negotiates afresh", self, session.session_id,
                              known.name if known else proxy, message.get(AvpType.PROXY_AUTHEN_NAME, ""))
        self.ctx.log.info("l2tp: %s session %d: ICCN framing %s tx speed %s%s", self, session.session_id,
                          message.get(AvpType.FRAMING_TYPE), message.get(AvpType.TX_CONNECT_SPEED),
                          ", sequencing required" if session.sequencing else "")
        self.ctx.events.append(SessionUp(session.key, self.peer,
                                         session.peer_session_id, session.call_serial_number,
                                         session.calling_number, session.sequencing, proxy))
        return session

    def _call_cdn(self, session: Session, message: Message, now: float) -> None:
        result: ResultCode = message.get(AvpType.RESULT_CODE)
        name = CdnResult._value2member_map_.get(result.result)
        words = f"peer disconnected the call: {name.name if name else result.result}"
        if result.error:
            words += f", error {result.error}"
        if result.message:
            words += f" ({result.message})"
        cause = message.get(AvpType.Q931_CAUSE_CODE)
        if cause is not None:
            words += f", Q.931 cause {cause.cause}"
        self._drop_session(session, words, result.result)

    def _call_ocrq(self, session: None, message: Message, now: float) -> None:
        peer_sid = message.get(AvpType.ASSIGNED_SESSION_ID)
        self.ctx.log.info("l2tp: %s: OCRQ refused (outgoing calls are not offered)", self)
        self._send_cdn(peer_sid, 0, CdnResult.PERMANENT_LACK_OF_FACILITIES, ErrorCode.NO_ERROR,
                       "this LNS places no outgoing calls")

    def _call_violation(self, session: Session, message: Message, now: float) -> None:
        self.close_session(session, f"{message.name} not allowed in state {session.state.value}", now,
                           CdnResult.GENERAL_ERROR)

    def _call_sli(self, session: Session, message: Message, now: float) -> Session:
        accm = message.get(AvpType.ACCM)
        self.ctx.log.info("l2tp: %s session %d: SLI send ACCM %#010x receive ACCM %#010x (not used: "
                          "synchronous framing)", self, session.session_id, accm.send_accm, accm.receive_accm)
        return session

    def _call_wen(self, session: Session, message: Message, now: float) -> Session:
        self.ctx.log.info("l2tp: %s session %d: WEN %s", self, session.session_id,
                          message.get(AvpType.CALL_ERRORS))
        return session

    def _call_error(self, session_id: int, message: Message, now: float) -> None:
        """RFC 2661 §4.1: a bad message of a call tears down that call only."""
        err = message.error
        assert err is not None
        reason = f"{message.name}: {err.reason}"
        self.ctx.log.warning("l2tp: %s session %d: %s", self, session_id, reason)
        session = self.sessions.get(session_id)
        if session is not None:
            self.close_session(session, reason, now, CdnResult.GENERAL_ERROR, err.error or ErrorCode.NO_ERROR)
            return
        peer_sid = message.get(AvpType.ASSIGNED_SESSION_ID)
        if message.message_type == MessageType.ICRQ and peer_sid:
            self._send_cdn(peer_sid, 0, CdnResult.GENERAL_ERROR, err.error or ErrorCode.NO_ERROR, reason)

    def _send_cdn(self, peer_sid: int, our_sid: int, result: int, error: int, words: str) -> None:
        self.send(MessageType.CDN, [(AvpType.RESULT_CODE, ResultCode(result, error, words)),
                                    (AvpType.ASSIGNED_SESSION_ID, our_sid)], peer_sid)

    def answer_unknown_session(self, session_id: int, now: float) -> None:
        """Data or a call message for a session we do not have: one CDN per session ID, addressed by
        its Assigned Session ID with Session ID 0 in the header (RFC 2661 §5.3), so a peer holding
        a stale call clears it; later traffic for it is only counted."""
        if self.state != TunnelState.ESTABLISHED or session_id in self._answered:
            return
        self._answered.append(session_id)
        self._send_cdn(0, session_id, CdnResult.GENERAL_ERROR, ErrorCode.INVALID_SESSION_ID,
                       "no such session on this server")
        self.flush(now)

    def _drop_session(self, session: Session, reason: str, result: int | None) -> None:
        del self.sessions[session.session_id]
        self._answered.append(session.session_id)  # its CDN was sent or received already
        self.ctx.log.info("l2tp: %s session %d (their id %d): %s -> closed (%s)", self, session.session_id,
                          session.peer_session_id, session.state.value, reason)
        if session.state == SessionState.ESTABLISHED:  # SessionDown only ever follows SessionUp
            self.ctx.events.append(SessionDown(session.key, reason, result))

    def close_session(self, session: Session, reason: str, now: float, result: int = CdnResult.ADMINISTRATIVE,
                      error: int = ErrorCode.NO_ERROR) -> None:
        """Disconnect one call with a CDN (RFC 2661 §5.2.3)."""
        self._send_cdn(session.peer_session_id, session.session_id, result, error, reason)
        self._drop_session(session, reason, result)
        self.flush(now)

    # -- teardown --------------------------------------------------------------------------------
    def stop(self, result: int, error: int, reason: str, now: float) -> None:
        """Send StopCCN (RFC 2661 §5.7) and hold the tunnel to retransmit it and ack the peer."""
        if self.state == TunnelState.CLOSING:
            return
        self.send(MessageType.StopCCN, [(AvpType.ASSIGNED_TUNNEL_ID, self.tunnel_id),
                                        (AvpType.RESULT_CODE, ResultCode(result, error, reason))])
        self._close(reason, result, now, hold=True)
        self.flush(now)

    def _close(self, reason: str, result: int | None, now: float, *, hold: bool) -> None:
        for session in list(self.sessions.values()):
            self._drop_session(session, f"tunnel closed: {reason}", None)
        was_up = self.state == TunnelState.ESTABLISHED
        self._set_state(TunnelState.CLOSING, reason)
        if hold:
            self.hold_until = now + self.ctx.settings.stop_hold_time
        else:
            self.finished = True
        routine = was_up and result in (StopCcnResult.GENERAL_REQUEST_TO_CLEAR, StopCcnResult.BEING_SHUT_DOWN)
        self.ctx.log.log(logging.INFO if routine else logging.WARNING, "l2tp: %s closed: %s", self, reason)
        self.ctx.events.append(TunnelDown(self.tunnel_id, self.peer, reason, result))

    def abort(self, reason: str) -> None:
        """Forget the tunnel at once without a StopCCN (the SA that carried it is gone)."""
        if self.state == TunnelState.CLOSING:
            self.finished = True
            return
        self._close(reason, None, 0.0, hold=False)

    # -- timers ----------------------------------------------------------------------------------
    def deadline(self) -> float | None:
        s = self.ctx.settings
        times = [self.channel.retransmit_at, self.hold_until]
        if self.state == TunnelState.WAIT_CTL_CONN:
            times.append(self.created + s.setup_timeout)
        if self.state == TunnelState.ESTABLISHED:
            if s.hello_interval > 0 and self.channel.unacknowledged == 0:
                times.append(self.last_received + s.hello_interval)
            times += [session.created + s.setup_timeout for session in self.sessions.values()
                      if session.state == SessionState.WAIT_CONNECT]
        live = [t for t in times if t is not None]
        return min(live) if live else None

    def handle_timer(self, now: float) -> None:
        s = self.ctx.settings
        if self.hold_until is not None and now >= self.hold_until:
            self.finished = True
            return
        self._emit(self.channel.handle_timer(now))
        if self.channel.failed:
            if self.state == TunnelState.CLOSING:
                self.finished = True
            else:
                self._close(f"peer stopped acknowledging control messages ({s.max_retransmits} retransmits)",
                            None, now, hold=False)
            return
        if self.state == TunnelState.WAIT_CTL_CONN and now >= self.created + s.setup_timeout:
            self.stop(StopCcnResult.GENERAL_ERROR, ErrorCode.NO_ERROR,
                      f"no SCCCN within {s.setup_timeout:g} s", now)
            return
        if self.state != TunnelState.ESTABLISHED:
            return
        for session in list(self.sessions.values()):
            if session.state == SessionState.WAIT_CONNECT and now >= session.created + s.setup_timeout:
                self.close_session(session, f"no ICCN within {s.setup_timeout:g} s", now,
                                   CdnResult.GENERAL_ERROR)
        if (s.hello_interval > 0 and self.channel.unacknowledged == 0
                and now >= self.last_received + s.hello_interval):
            self.send(MessageType.HELLO, [])
            self.flush(now)

