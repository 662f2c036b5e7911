"""Events the PPP core emits (frozen, past tense)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from ikel2tp.ppp.auth.credentials import Credentials


@dataclass(frozen=True)
class LinkUp:
    """LCP reached Opened (RFC 1661 §3.4): authentication starts now."""


@dataclass(frozen=True)
class AuthRequested:
    """The peer answered our challenge; the shell asks a user backend and calls ``auth_result``."""

    credentials: Credentials


@dataclass(frozen=True)
class AuthSucceeded:
    user: str


@dataclass(frozen=True)
class AuthFailed:
    user: str
    reason: str


@dataclass(frozen=True)
class NetworkUp:
    """IPCP reached Opened (RFC 1332): ``peer_address`` is the address the peer uses on the link,
    ``local_address`` ours; ``dns`` the name servers of the link (handed out by the server)."""

    peer_address: IPv4Address
    local_address: IPv4Address
    dns: tuple[IPv4Address, ...] = ()


@dataclass(frozen=True)
class Ipv6Up:
    """IPv6CP reached Opened (RFC 5072 §4.1): the interface identifiers of both ends."""

    local_identifier: bytes
    peer_identifier: bytes


@dataclass(frozen=True)
class IpPacketReceived:
    """An IPv4 (or, with IPv6CP, IPv6) packet from the peer that passed the anti-spoofing check."""

    packet: bytes


@dataclass(frozen=True)
class LinkDown:
    """The link is finished; ``reason`` says why in plain words.  Emitted once per link."""

    reason: str


PppEvent = (
    LinkUp | AuthRequested | AuthSucceeded | AuthFailed | NetworkUp | Ipv6Up | IpPacketReceived | LinkDown
)
