"""An L2TP Access Concentrator (RFC 2661) as a sans-I/O core: the client end of one tunnel carrying one
incoming call, the way Windows, macOS and xl2tpd dial an LNS.

Bytes and ``now`` in; datagrams, events and the next deadline out::

    lac = Lac(LacSettings(), log=log)
    lac.start(now)                      # SCCRQ (RFC 2661 §5.1)
    lac.receive_datagram(data, now)     # what the LNS sent
    lac.datagrams_to_send() -> list[bytes]
    lac.next_event() -> Event | None    # TunnelEstablished, SessionEstablished, PppFrameReceived, ...
    lac.get_timer() / lac.handle_timer(now)
    lac.send_ppp(frame)                 # a PPP frame from the protocol field on; we add FF 03 (§5.4)
    lac.close(reason, now)              # CDN, then StopCCN (§5.7)

The control channel (sequencing, window, retransmission, ZLB acknowledgements, §5.8) is the LNS's own
:class:`~ikel2tp.l2tp.reliable.ControlChannel`; the message codecs are :mod:`ikel2tp.l2tp.message` and
:mod:`ikel2tp.l2tp.packet`.  The state machines follow RFC 2661 §7.2 (LAC side: tunnel) and §7.4.1
(LAC incoming call) as the transition tables below.  Bad input never raises: it is logged with the
reason and dropped.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ikel2tp.common.errors import ProtocolError
from ikel2tp.l2tp.avp import ResultCode
from ikel2tp.l2tp.constants import (
    DEFAULT_PEER_WINDOW,
    PROTOCOL_VERSION,
    AvpType,
    CdnResult,
    ErrorCode,
    FramingBits,
    MessageType,
    StopCcnResult,
)
from ikel2tp.l2tp.message import Message, build_avps, decode_message
from ikel2tp.l2tp.packet import Header, decode_control_body, decode_datagram, encode_control, encode_datagram
from ikel2tp.l2tp.reliable import ControlChannel, Outgoing
from ikel2tp.l2tp.tunnel import challenge_response

PPP_ADDRESS_CONTROL = b"\xff\x03"


@dataclass(frozen=True)
class LacSettings:
    """What one LAC needs.  ``secret`` turns on tunnel authentication (RFC 2661 §5.1.1); it never
    appears in repr.  Timers are seconds; ``hello_interval`` 0 disables our HELLOs (§6.5)."""

    host_name: str = "ikel2tp-client"
    vendor_name: str = "ikel2tp"
    secret: bytes | None = field(default=None, repr=False)
    receive_window: int = 4
    hello_interval: float = 60.0
    retransmit_initial: float = 1.0
    retransmit_max: float = 8.0
    max_retransmits: int = 5
    setup_timeout: float = 30.0
    stop_hold_time: float = 31.0
    call_serial_number: int = 1
    calling_number: str = ""
    tx_connect_speed: int = 100_000_000


class TunnelState(Enum):
    IDLE = "idle"
    WAIT_CTL_REPLY = "wait-ctl-reply"  # SCCRQ sent
    ESTABLISHED = "established"
    CLOSING = "closing"  # StopCCN sent or received: held to acknowledge retransmits (§5.7)
    CLOSED = "closed"


class CallState(Enum):
    IDLE = "idle"
    WAIT_TUNNEL = "wait-tunnel"
    WAIT_REPLY = "wait-reply"  # ICRQ sent
    ESTABLISHED = "established"


TUNNEL_TABLE: dict[tuple[TunnelState, MessageType], tuple[str, TunnelState]] = {
    (TunnelState.WAIT_CTL_REPLY, MessageType.SCCRP): ("sccrp", TunnelState.ESTABLISHED),
    (TunnelState.WAIT_CTL_REPLY, MessageType.StopCCN): ("stopccn", TunnelState.CLOSING),
    (TunnelState.WAIT_CTL_REPLY, MessageType.HELLO): ("ack", TunnelState.WAIT_CTL_REPLY),
    (TunnelState.ESTABLISHED, MessageType.HELLO): ("ack", TunnelState.ESTABLISHED),
    (TunnelState.ESTABLISHED, MessageType.StopCCN): ("stopccn", TunnelState.CLOSING),
    (TunnelState.ESTABLISHED, MessageType.SCCRP): ("fsm_error", TunnelState.CLOSING),
    (TunnelState.ESTABLISHED, MessageType.SCCRQ): ("fsm_error", TunnelState.CLOSING),
    (TunnelState.ESTABLISHED, MessageType.ICRP): ("call", TunnelState.ESTABLISHED),
    (TunnelState.ESTABLISHED, MessageType.CDN): ("call", TunnelState.ESTABLISHED),
    (TunnelState.ESTABLISHED, MessageType.SLI): ("call", TunnelState.ESTABLISHED),
    (TunnelState.CLOSING, MessageType.StopCCN): ("ack", TunnelState.CLOSING),
}
"""RFC 2661 §7.2.1 (LAC side): (tunnel state, message) -> (action, next state).  A pair not listed is
logged as unexpected and only acknowledged."""

CALL_TABLE: dict[tuple[CallState, MessageType], tuple[str, CallState]] = {
    (CallState.WAIT_REPLY, MessageType.ICRP): ("icrp", CallState.ESTABLISHED),
    (CallState.WAIT_REPLY, MessageType.CDN): ("cdn", CallState.IDLE),
    (CallState.ESTABLISHED, MessageType.CDN): ("cdn", CallState.IDLE),
    (CallState.ESTABLISHED, MessageType.SLI): ("sli", CallState.ESTABLISHED),
    (CallState.ESTABLISHED, MessageType.ICRP): ("error", CallState.IDLE),
}
"""RFC 2661 §7.4.1 (LAC incoming call): (call state, message) -> (action, next state)."""


# -- events (frozen, past tense) ------------------------------------------------------------------
@dataclass(frozen=True)
class TunnelEstablished:
    """SCCRP accepted and SCCCN sent (RFC 2661 §5.1)."""

    tunnel_id: int
    peer_tunnel_id: int
    host_name: str


@dataclass(frozen=True)
class SessionEstablished:
    """ICRP accepted and ICCN sent (RFC 2661 §5.2.2): PPP may start."""

    session_id: int
    peer_session_id: int


@dataclass(frozen=True)
class PppFrameReceived:
    """A PPP frame of our session, from the protocol field on (FF 03 stripped)."""

    frame: bytes


@dataclass(frozen=True)
class SessionClosed:
    """The call is gone; ``result_code`` is the CDN Result Code sent or received, if any."""

    reason: str
    result_code: int | None


@dataclass(frozen=True)
class TunnelClosed:
    """The tunnel is gone (also one that never came up); ``result_code`` from the StopCCN, if any."""

    reason: str
    result_code: int | None


Event = TunnelEstablished | SessionEstablished | PppFrameReceived | SessionClosed | TunnelClosed


class Lac:
    """One tunnel with one incoming call.  See the module docstring for the contract."""

    def __init__(self, settings: LacSettings, *, log: logging.Logger,
                 random: Callable[[int], bytes] = os.urandom, tunnel_id: int | None = None,
                 session_id: int | None = None) -> None:
        self.settings = settings
        self.log = log
        self.random = random
        self.tunnel_id = tunnel_id or self._random_id()
        self.session_id = session_id or self._random_id()
        self.peer_tunnel_id = 0
        self.peer_session_id = 0
        self.state = TunnelState.IDLE
        self.call = CallState.IDLE
        self.channel: ControlChannel[tuple[int, Message]] = ControlChannel(
            our_window=settings.receive_window, initial_timeout=settings.retransmit_initial,
            max_timeout=settings.retransmit_max, max_retransmits=settings.max_retransmits)
        self.dropped = 0
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._challenge: bytes | None = None
        self._started = 0.0
        self._last_received = 0.0
        self._hold_until: float | None = None

    def __str__(self) -> str:
        return f"LAC tunnel {self.tunnel_id} (LNS id {self.peer_tunnel_id})"

    def _random_id(self) -> int:
        return int.from_bytes(self.random(2), "big") or 1

    # -- the core interface ----------------------------------------------------------------------
    def start(self, now: float) -> None:
        """Open the tunnel with SCCRQ; the call (ICRQ) follows once it is established (§5.1, §5.2.2)."""
        if self.state is not TunnelState.IDLE:
            return
        s = self.settings
        items: list[tuple[AvpType, Any]] = [
            (AvpType.PROTOCOL_VERSION, PROTOCOL_VERSION),
            (AvpType.HOST_NAME, s.host_name),
            (AvpType.FRAMING_CAPABILITIES, FramingBits.SYNCHRONOUS | FramingBits.ASYNCHRONOUS),
            (AvpType.ASSIGNED_TUNNEL_ID, self.tunnel_id),
            (AvpType.RECEIVE_WINDOW_SIZE, s.receive_window),
            (AvpType.VENDOR_NAME, s.vendor_name),
        ]
        if s.secret is not None:
            self._challenge = self.random(16)
            items.append((AvpType.CHALLENGE, self._challenge))
        self._started = self._last_received = now
        self.state = TunnelState.WAIT_CTL_REPLY
        self.call = CallState.WAIT_TUNNEL
        self._send(MessageType.SCCRQ, items)
        self._flush(now)

    def datagrams_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    @property
    def finished(self) -> bool:
        return self.state is TunnelState.CLOSED

    def send_ppp(self, frame: bytes) -> None:
        """Send a PPP frame on the session's data channel (RFC 2661 §5.4: no sequencing asked)."""
        if self.call is not CallState.ESTABLISHED:
            return
        self._out.append(encode_datagram(Header(False, self.peer_tunnel_id, self.peer_session_id),
                                         PPP_ADDRESS_CONTROL + frame))

    def close(self, reason: str, now: float) -> None:
        """Clear the call with CDN (§5.2.3) and the tunnel with StopCCN (§5.7)."""
        if self.state in (TunnelState.CLOSING, TunnelState.CLOSED):
            return
        if self.state is TunnelState.IDLE:
            self._set_closed(reason, None)
            return
        if self.call is CallState.ESTABLISHED:
            self._send_cdn(CdnResult.ADMINISTRATIVE, reason)
            self._call_closed(reason, CdnResult.ADMINISTRATIVE)
        self.stop(StopCcnResult.GENERAL_REQUEST_TO_CLEAR, ErrorCode.NO_ERROR, reason, now)

    def get_timer(self) -> float | None:
        s = self.settings
        times = [self.channel.retransmit_at, self._hold_until]
        if self.state is TunnelState.WAIT_CTL_REPLY or self.call is CallState.WAIT_REPLY:
            times.append(self._started + s.setup_timeout)
        if (self.state is TunnelState.ESTABLISHED and s.hello_interval > 0
                and self.channel.unacknowledged == 0):
            times.append(self._last_received + s.hello_interval)
        live = [t for t in times if t is not None]
        return min(live) if live else None

    def handle_timer(self, now: float) -> None:
        s = self.settings
        if self._hold_until is not None and now >= self._hold_until:
            self._hold_until = None
            self.state = TunnelState.CLOSED
            return
        self._emit(self.channel.handle_timer(now))
        if self.channel.failed:
            self.channel.abandon()
            if self.state is TunnelState.CLOSING:
                self.state = TunnelState.CLOSED
                self._hold_until = None
            else:
                self._set_closed(f"LNS stopped acknowledging control messages ({s.max_retransmits} "
                                 "retransmits)", None)
            return
        if ((self.state is TunnelState.WAIT_CTL_REPLY or self.call is CallState.WAIT_REPLY)
                and now >= self._started + s.setup_timeout):
            self.stop(StopCcnResult.GENERAL_ERROR, ErrorCode.NO_ERROR,
                      f"tunnel or call not up within {s.setup_timeout:g} s", now)
            return
        if (self.state is TunnelState.ESTABLISHED and s.hello_interval > 0
                and self.channel.unacknowledged == 0 and now >= self._last_received + s.hello_interval):
            self._send(MessageType.HELLO, [])  # §6.5 keepalive; its acknowledgement proves the LNS alive
            self._flush(now)

    # -- input -----------------------------------------------------------------------------------
    def receive_datagram(self, data: bytes, now: float) -> None:
        """One L2TP datagram from the LNS (already out of its IPsec SA)."""
        try:
            header, payload = decode_datagram(data)
            if header.tunnel_id != self.tunnel_id:
                self._drop(f"Tunnel ID {header.tunnel_id} is not ours ({self.tunnel_id})")
                return
            if not header.control:
                self._receive_data(header, payload)
                return
            avps = decode_control_body(payload)
            message = decode_message(avps, self.settings.secret) if avps else None
        except ProtocolError as exc:
            self._drop(str(exc))
            return
        self._receive_control(header, message, now)

    def _receive_data(self, header: Header, payload: bytes) -> None:
        if self.call is not CallState.ESTABLISHED or header.session_id != self.session_id:
            self._drop(f"data for session {header.session_id} (ours {self.session_id}, {self.call.value})")
            return
        frame = payload[2:] if payload[:2] == PPP_ADDRESS_CONTROL else payload  # §5.4: FF 03 is optional
        self._events.append(PppFrameReceived(frame))

    def _receive_control(self, header: Header, message: Message | None, now: float) -> None:
        if self.state in (TunnelState.IDLE, TunnelState.CLOSED):
            self._drop(f"control message in state {self.state.value}")
            return
        assert header.ns is not None and header.nr is not None
        if not self.channel.acknowledge(header.nr, now):
            self._drop(f"Nr {header.nr} acknowledges nothing we sent")
            return
        self._last_received = now
        if message is not None:
            for session_id, delivered in self.channel.receive(header.ns, (header.session_id, message)):
                self._dispatch(session_id, delivered, now)
        self._flush(now)

    def _dispatch(self, session_id: int, message: Message, now: float) -> None:
        """Run one in-order control message through the tunnel table (RFC 2661 §7.2)."""
        kind = MessageType._value2member_map_.get(message.message_type)
        if message.error is not None and self.state is not TunnelState.CLOSING:
            err = message.error
            self.log.warning("l2tp-client: %s: %s rejected: %s", self, message.name, err.reason)
            self.stop(StopCcnResult.GENERAL_ERROR, err.error or ErrorCode.NO_ERROR,
                      f"{message.name}: {err.reason}", now)
            return
        entry = TUNNEL_TABLE.get((self.state, kind)) if kind is not None else None
        if entry is None:
            self._drop(f"unexpected {message.name} in state {self.state.value}")
            return
        action, next_state = entry
        getattr(self, f"_on_{action}")(session_id, message, now)
        if self.state not in (TunnelState.CLOSING, TunnelState.CLOSED):
            self.state = next_state

    # -- tunnel actions --------------------------------------------------------------------------
    def _on_sccrp(self, session_id: int, message: Message, now: float) -> None:
        s = self.settings
        if message.get(AvpType.PROTOCOL_VERSION) != PROTOCOL_VERSION:
            self.stop(StopCcnResult.PROTOCOL_VERSION_NOT_SUPPORTED, 0x0100,
                      f"LNS speaks protocol version {message.get(AvpType.PROTOCOL_VERSION)}", now)
            return
        self.peer_tunnel_id = message.get(AvpType.ASSIGNED_TUNNEL_ID)
        self.channel.peer_window = max(1, message.get(AvpType.RECEIVE_WINDOW_SIZE, DEFAULT_PEER_WINDOW))
        items: list[tuple[AvpType, Any]] = []
        if self._challenge is not None and s.secret is not None:  # §5.1.1: the LNS must prove the secret
            answer = message.get(AvpType.CHALLENGE_RESPONSE)
            expected = challenge_response(MessageType.SCCRP, s.secret, self._challenge)
            if answer is None or not hmac.compare_digest(answer, expected):
                self.stop(StopCcnResult.NOT_AUTHORIZED, ErrorCode.NO_ERROR,
                          "tunnel authentication failed: LNS answered the challenge wrongly", now)
                return
        theirs = message.get(AvpType.CHALLENGE)
        if theirs is not None:
            if s.secret is None:
                self.stop(StopCcnResult.NOT_AUTHORIZED, ErrorCode.NO_ERROR,
                          "LNS asks for tunnel authentication but we have no tunnel secret", now)
                return
            response = challenge_response(MessageType.SCCCN, s.secret, theirs)
            items.append((AvpType.CHALLENGE_RESPONSE, response))
        self._send(MessageType.SCCCN, items)
        self._events.append(TunnelEstablished(self.tunnel_id, self.peer_tunnel_id,
                                              message.get(AvpType.HOST_NAME, "")))
        # §5.2.2: the incoming call starts at once on the new tunnel
        call: list[tuple[AvpType, Any]] = [(AvpType.ASSIGNED_SESSION_ID, self.session_id),
                                           (AvpType.CALL_SERIAL_NUMBER, s.call_serial_number)]
        if s.calling_number:
            call.append((AvpType.CALLING_NUMBER, s.calling_number))
        self._send(MessageType.ICRQ, call)
        self.call = CallState.WAIT_REPLY

    def _on_ack(self, session_id: int, message: Message, now: float) -> None:
        """HELLO (and a repeated StopCCN while closing) needs only the acknowledgement (§6.5)."""

    def _on_fsm_error(self, session_id: int, message: Message, now: float) -> None:
        self.stop(StopCcnResult.FSM_ERROR, ErrorCode.NO_ERROR,
                  f"{message.name} not allowed in state {self.state.value}", now)

    def _on_stopccn(self, session_id: int, message: Message, now: float) -> None:
        result: ResultCode = message.get(AvpType.RESULT_CODE)
        name = StopCcnResult._value2member_map_.get(result.result)
        words = f"LNS closed the tunnel: {name.name if name else result.result}"
        if result.message:
            words += f" ({result.message})"
        self.channel.abandon()
        self._close_call(words, None)
        self.state = TunnelState.CLOSING
        self._hold_until = now + self.settings.stop_hold_time
        self._events.append(TunnelClosed(words, result.result))

    def _on_call(self, session_id: int, message: Message, now: float) -> None:
        kind = MessageType(message.message_type)
        if session_id not in (self.session_id, 0):
            self._drop(f"{kind.name} for session {session_id} (ours {self.session_id})")
            return
        entry = CALL_TABLE.get((self.call, kind))
        if entry is None:
            self._drop(f"unexpected {kind.name} in call state {self.call.value}")
            return
        action, next_state = entry
        getattr(self, f"_call_{action}")(message, now)
        if self.call is not CallState.IDLE:
            self.call = next_state

    # -- call actions ----------------------------------------------------------------------------
    def _call_icrp(self, message: Message, now: float) -> None:
        self.peer_session_id = message.get(AvpType.ASSIGNED_SESSION_ID)
        s = self.settings
        self._send(MessageType.ICCN, [(AvpType.TX_CONNECT_SPEED, s.tx_connect_speed),
                                      (AvpType.FRAMING_TYPE, FramingBits.SYNCHRONOUS)], self.peer_session_id)
        self.call = CallState.ESTABLISHED
        self._events.append(SessionEstablished(self.session_id, self.peer_session_id))

    def _call_cdn(self, message: Message, now: float) -> None:
        result: ResultCode = message.get(AvpType.RESULT_CODE)
        name = CdnResult._value2member_map_.get(result.result)
        words = f"LNS disconnected the call: {name.name if name else result.result}"
        if result.message:
            words += f" ({result.message})"
        self._close_call(words, result.result)

    def _call_sli(self, message: Message, now: float) -> None:
        """Set-Link-Info carries an ACCM for asynchronous framing; synchronous framing ignores it."""

    def _call_error(self, message: Message, now: float) -> None:
        reason = f"{message.name} in call state {self.call.value}"
        self._send_cdn(CdnResult.GENERAL_ERROR, reason)
        self._close_call(reason, CdnResult.GENERAL_ERROR)

    # -- teardown --------------------------------------------------------------------------------
    def stop(self, result: int, error: int, reason: str, now: float) -> None:
        """Send StopCCN (RFC 2661 §5.7) and hold the tunnel to retransmit it."""
        if self.state in (TunnelState.CLOSING, TunnelState.CLOSED):
            return
        self._send(MessageType.StopCCN, [(AvpType.ASSIGNED_TUNNEL_ID, self.tunnel_id),
                                         (AvpType.RESULT_CODE, ResultCode(result, error, reason))])
        self._close_call(f"tunnel closed: {reason}", None)
        self.state = TunnelState.CLOSING
        self._hold_until = now + self.settings.stop_hold_time
        level = logging.INFO if result == StopCcnResult.GENERAL_REQUEST_TO_CLEAR else logging.WARNING
        self.log.log(level, "l2tp-client: %s closed: %s", self, reason)
        self._events.append(TunnelClosed(reason, result))
        self._flush(now)

    def _close_call(self, reason: str, result: int | None) -> None:
        if self.call is not CallState.IDLE:
            self._call_closed(reason, result)

    def _call_closed(self, reason: str, result: int | None) -> None:
        self.call = CallState.IDLE
        self._events.append(SessionClosed(reason, result))

    def _set_closed(self, reason: str, result: int | None) -> None:
        self._close_call(reason, result)
        self.state = TunnelState.CLOSED
        self._events.append(TunnelClosed(reason, result))
        self.log.warning("l2tp-client: %s closed: %s", self, reason)

    # -- output ----------------------------------------------------------------------------------
    def _send(self, message_type: MessageType, items: list[tuple[AvpType, Any]], session_id: int = 0) -> None:
        self.channel.queue(session_id, build_avps(message_type, items))

    def _send_cdn(self, result: int, reason: str) -> None:
        """RFC 2661 §6.13: CDN with our Assigned Session ID, addressed to the LNS's session."""
        self._send(MessageType.CDN, [(AvpType.RESULT_CODE, ResultCode(result, None, reason)),
                                     (AvpType.ASSIGNED_SESSION_ID, self.session_id)], self.peer_session_id)

    def _emit(self, items: list[Outgoing]) -> None:
        tunnel, nr = self.peer_tunnel_id, self.channel.rcv_nxt  # tunnel 0 in SCCRQ (§3.1: none assigned yet)
        for item in items:
            self._out.append(encode_control(tunnel, item.session_id, item.ns, nr, item.avps))

    def _flush(self, now: float) -> None:
        self._emit(self.channel.transmit(now))
        if self.channel.ack_pending:
            self.channel.ack_pending = False
            self._out.append(encode_control(self.peer_tunnel_id, 0, self.channel.snd_max,
                                            self.channel.rcv_nxt, []))

    def _drop(self, reason: str) -> None:
        self.dropped += 1
        level = logging.INFO if self.dropped <= 5 else logging.DEBUG
        self.log.log(level, "l2tp-client: %s: dropped: %s", self, reason)
