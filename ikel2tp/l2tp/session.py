"""One L2TP session (call) of a tunnel: its state table (RFC 2661 §7.4.2, LNS side of an
incoming call) and its data channel (§3.1, §5.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ikel2tp.l2tp.constants import MessageType
from ikel2tp.l2tp.events import SessionKey
from ikel2tp.l2tp.packet import Header, encode_datagram
from ikel2tp.l2tp.reliable import SERIAL, serial_diff

PPP_ADDRESS_CONTROL = b"\xff\x03"


class SessionState(Enum):
    IDLE = "idle"                  # no call yet; only ICRQ creates one
    WAIT_CONNECT = "wait-connect"  # ICRP sent, waiting for ICCN
    ESTABLISHED = "established"    # ICCN received: data flows


SESSION_TABLE: dict[tuple[SessionState, MessageType], tuple[str, SessionState | None]] = {
    (SessionState.IDLE, MessageType.ICRQ): ("icrq", SessionState.WAIT_CONNECT),
    (SessionState.IDLE, MessageType.OCRQ): ("ocrq", None),
    (SessionState.WAIT_CONNECT, MessageType.ICCN): ("iccn", SessionState.ESTABLISHED),
    (SessionState.WAIT_CONNECT, MessageType.CDN): ("cdn", None),
    (SessionState.ESTABLISHED, MessageType.CDN): ("cdn", None),
    (SessionState.WAIT_CONNECT, MessageType.SLI): ("sli", SessionState.WAIT_CONNECT),
    (SessionState.ESTABLISHED, MessageType.SLI): ("sli", SessionState.ESTABLISHED),
    (SessionState.ESTABLISHED, MessageType.WEN): ("wen", SessionState.ESTABLISHED),
    (SessionState.WAIT_CONNECT, MessageType.ICRP): ("violation", None),
    (SessionState.ESTABLISHED, MessageType.ICRP): ("violation", None),
    (SessionState.ESTABLISHED, MessageType.ICCN): ("violation", None),
}
"""RFC 2661 §7.4.2 (LNS incoming call): (state, message) -> (action, next state; None = gone).
ICRQ always starts a new call (its header Session ID is 0).  "violation" answers a message the
call's state does not allow with CDN and clears the call; an OCRQ (an LNS-to-LAC message) is
refused with CDN as we place no outgoing calls.  A pair not listed is logged and ignored (the
message is still acknowledged)."""


@dataclass
class Session:
    """Per-call state.  When ``sequencing`` is on (the peer's ICCN carried Sequencing Required, or
    it sends data with the S bit, §5.4) ``data_ns`` numbers our data messages and ``data_nr`` is
    the next Ns expected from the peer."""

    tunnel_id: int
    session_id: int
    peer_session_id: int
    call_serial_number: int
    created: float
    calling_number: str = ""
    state: SessionState = SessionState.IDLE
    sequencing: bool = False
    data_ns: int = 0
    data_nr: int = 0
    key: SessionKey = field(init=False)
    # The data header without sequencing (T=0 L=0 S=0 O=0, §3.1) and FF 03, for the peer tunnel ID it
    # was built for: the same bytes for every frame of the call (its peer Session ID is fixed).
    _data_prefix: bytes = field(init=False, default=b"", repr=False, compare=False)
    _data_prefix_tunnel: int = field(init=False, default=-1, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.key = SessionKey(self.tunnel_id, self.session_id)

    def receive_data(self, header: Header, payload: bytes) -> bytes | None:
        """The PPP frame of a data message (FF 03 stripped if present), or None when it is older
        than the last one delivered (§5.4: out-of-order data with sequencing is dropped)."""
        if header.ns is not None:
            if serial_diff(header.ns, self.data_nr) < 0:
                return None
            self.data_nr = (header.ns + 1) % SERIAL
            self.sequencing = True
        if payload.startswith(PPP_ADDRESS_CONTROL):
            payload = payload[2:]
        return payload

    def encode_data(self, peer_tunnel_id: int, frame: bytes) -> bytes:
        """A data message carrying ``frame`` (from its PPP protocol field) with FF 03 added."""
        if self.sequencing:  # RFC 2661 §3.1: Nr is reserved in data messages (sent as 0)
            ns = self.data_ns
            self.data_ns = (self.data_ns + 1) % SERIAL
            header = Header(False, peer_tunnel_id, self.peer_session_id, ns, 0)
            return encode_datagram(header, PPP_ADDRESS_CONTROL + frame)
        if peer_tunnel_id != self._data_prefix_tunnel:
            header = Header(False, peer_tunnel_id, self.peer_session_id)
            self._data_prefix = encode_datagram(header, PPP_ADDRESS_CONTROL)
            self._data_prefix_tunnel = peer_tunnel_id
        return self._data_prefix + frame
