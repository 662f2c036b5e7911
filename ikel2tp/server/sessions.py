"""The server's table of clients and sessions.

A :class:`Client` is one IKE SA with its child SAs (one per Quick Mode); a :class:`Channel` is one
client's ESP path (its outer address and port) with the SA pairs on it; a :class:`Session` is one
L2TP session with its PPP link, keyed by the LNS's session key.  Each L2TP tunnel is pinned to a
channel, so two clients behind the same NAT (identical addresses and selectors, see CLIENT-FACTS)
are told apart by their SAs' NAT-T ports, never by inner address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ikel2tp.server.logs import Timeline

Address = tuple[str, int]


@dataclass
class Client:
    """One IKE peer: its phase 1, its child SAs and its timeline."""

    ike_sa_id: int
    local: Address
    remote: Address
    timeline: Timeline
    started: float
    phase1: str = ""
    handles: set[Hashable] = field(default_factory=set)
    phase1_up: bool = True


@dataclass
class ChildSa:
    """One installed ESP SA pair as the server tracks it."""

    handle: Hashable
    client: Client
    spi_in: int
    spi_out: int
    remote: Address
    encap: bool
    natoa: str | None
    algorithms: str
    channel: Channel


@dataclass(eq=False)  # identity: the LNS pins tunnels to it
class Channel:
    """One client's ESP path as the L2TP layer sees it: the LNS ``peer`` is ``(channel, udp port)``.

    It outlives a phase 2 rekey: the new SA pair to the same outer address and port joins the
    channel, L2TP is sent through the newest pair, and the tunnel is closed only when the last
    pair is gone.  Two clients behind one NAT have different NAT-T ports, hence different channels.
    """

    remote: Address
    timeline: Timeline
    children: list[ChildSa] = field(default_factory=list)  # oldest first
    ports: set[int] = field(default_factory=set)  # the client's L2TP ports seen on this channel

    @property
    def current(self) -> ChildSa:
        return self.children[-1]

    def __repr__(self) -> str:
        return f"{self.remote[0]}:{self.remote[1]}"


@dataclass
class Session:
    """One L2TP session and its PPP link."""

    key: Hashable
    sa: Hashable  # the Channel, or ("plain", local, remote) with require_ipsec = false
    link: Any  # ikel2tp.ppp PppLink
    timeline: Timeline
    started: float
    channel: Channel | None = None
    peer_ip: str = ""  # the client's public address: the failed-login limiter's "peer"
    auth: Any = None  # the user backend's last AuthResult (static address), never logged
    user: str | None = None
    address: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    packets_in: int = 0
    packets_out: int = 0
    ccp_requested: bool = False  # the client sent CCP (it may insist on MPPE: Windows error 742)

    def describe(self, now: float) -> dict[str, Any]:
        """What ``ikel2tp status`` shows for this session (no secrets)."""
        child = self.channel.current if self.channel is not None and self.channel.children else None
        return {
            "client": self.timeline.client,
            "user": self.user,
            "peer": self.timeline.peer,
            "nat": bool(child and child.encap),
            "inner_peer": child.natoa if child else None,
            "address": self.address,
            "phase1": child.client.phase1 if child else "",
            "phase2": child.algorithms if child else "",
            "uptime": round(now - self.started, 1),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "packets_in": self.packets_in,
            "packets_out": self.packets_out,
            "drops": _link_drops(self.link),
            "state": self.timeline.last,
        }


def _link_drops(link: Any) -> int:
    """Packets the PPP link refused: spoofed source, malformed, or before IPCP was up."""
    counters = link.counters
    return counters.spoofed + counters.malformed + counters.not_ready


class SessionTable:
    """Clients by IKE SA, child SAs by handle, channels by outer address, sessions by key, by
    channel and by assigned address."""

    def __init__(self) -> None:
        self.clients: dict[int, Client] = {}
        self.children: dict[Hashable, ChildSa] = {}
        self.channels: dict[Address, Channel] = {}
        self.sessions: dict[Hashable, Session] = {}
        self._by_address: dict[str, Session] = {}
        self._by_sa: dict[Hashable, set[Hashable]] = {}

    # -- sessions --------------------------------------------------------------------------
    def add(self, session: Session) -> None:
        self.sessions[session.key] = session
        self._by_sa.setdefault(session.sa, set()).add(session.key)

    def remove(self, key: Hashable) -> Session | None:
        session = self.sessions.pop(key, None)
        if session is None:
            return None
        keys = self._by_sa.get(session.sa)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_sa[session.sa]
        if session.address and self._by_address.get(session.address) is session:
            del self._by_address[session.address]
        return session

    def set_address(self, session: Session, address: str) -> None:
        if session.address and self._by_address.get(session.address) is session:
            del self._by_address[session.address]
        session.address = address
        self._by_address[address] = session

    def by_address(self, address: str) -> Session | None:
        return self._by_address.get(address)

    def on_sa(self, sa: Hashable) -> list[Session]:
        return [self.sessions[key] for key in self._by_sa.get(sa, ())]

    def find(self, target: str) -> list[Session]:
        """Sessions whose user is ``target``, or whose address is ``target`` when it is an address."""
        try:
            ipaddress.ip_address(target)
        except ValueError:
            return [s for s in self.sessions.values() if s.user == target]
        found = self._by_address.get(target)
        return [found] if found is not None else []

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self.sessions.values()))

    def __len__(self) -> int:
        return len(self.sessions)
