"""Events the L2TP LNS core emits (frozen, past tense)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class SessionKey:
    """Names one session inside the LNS: our Tunnel ID and our Session ID (both unique here)."""

    tunnel_id: int
    session_id: int

    def __str__(self) -> str:
        return f"{self.tunnel_id}/{self.session_id}"


@dataclass(frozen=True)
class TunnelUp:
    """SCCCN accepted (RFC 2661 §5.1): the control connection is established."""

    tunnel_id: int
    peer: Hashable
    peer_tunnel_id: int
    host_name: str
    vendor_name: str


@dataclass(frozen=True)
class TunnelDown:
    """The tunnel is gone — also one that never came up (refused: wrong secret, limits, bad SCCRQ),
    so the reason reaches the operator.  ``result_code`` is the StopCCN Result Code sent or
    received (None when the tunnel ended without one: retransmit limit, SA deleted)."""

    tunnel_id: int
    peer: Hashable
    reason: str
    result_code: int | None


@dataclass(frozen=True)
class SessionUp:
    """ICCN accepted (RFC 2661 §5.2): PPP may start on this session."""

    session_key: SessionKey
    peer: Hashable
    peer_session_id: int
    call_serial_number: int
    calling_number: str
    sequencing: bool
    proxy_authen_type: int | None


@dataclass(frozen=True)
class SessionDown:
    """An established session (one that had :class:`SessionUp`) is gone; ``result_code`` is the CDN
    Result Code sent or received (None when its tunnel went away)."""

    session_key: SessionKey
    reason: str
    result_code: int | None


@dataclass(frozen=True)
class PppFrameReceived:
    """A PPP frame from the session's data channel, starting at the PPP protocol field."""

    session_key: SessionKey
    frame: bytes


Event = TunnelUp | TunnelDown | SessionUp | SessionDown | PppFrameReceived
