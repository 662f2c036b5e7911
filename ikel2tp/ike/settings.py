"""IKE core settings (the lead maps the TOML ``[ike]`` section into :class:`IkeSettings`)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cached_property

from ikel2tp.ike.suites import (
    DEFAULT_PHASE1,
    DEFAULT_PHASE2,
    Phase1Suite,
    Phase2Suite,
    parse_phase1,
    parse_phase2,
)


@dataclass(frozen=True)
class PeerSettings:
    """A pre-shared key for the peers from ``address`` (an address or a CIDR network) and/or with
    phase 1 ID ``id``.  Main Mode hides the ID until the key is in use (RFC 2409 §5.4), so there
    only ``address`` selects the key; ``id`` works in Aggressive Mode, whose first message carries
    the ID in the clear."""

    address: str | None
    psk: bytes = field(repr=False)
    id: str | None = None

    def __post_init__(self) -> None:
        if self.address is None and self.id is None:
            raise ValueError("a peer needs an address (or network), an ID or both")
        if self.address is not None:
            ipaddress.ip_network(self.address, strict=False)

    @cached_property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        return None if self.address is None else ipaddress.ip_network(self.address, strict=False)

    def rank(self, address: str, peer_id: str | None) -> tuple[int, int] | None:
        """How well this entry fits a peer (higher is better: an ID match, then the longest
        prefix), or None when it does not."""
        if self.id is not None and (peer_id is None or peer_id.lower() != self.id.lower()):
            return None
        if self.network is None:
            return (1, -1)
        ip = ipaddress.ip_address(address)
        if ip.version != self.network.version or ip not in self.network:
            return None
        return (int(self.id is not None), self.network.prefixlen)


@dataclass(frozen=True)
class IkeSettings:
    """Everything the IKE core reads.  Defaults are secure and accept what Windows, macOS/iOS and
    Android offer (ikel2tp.ike.suites)."""

    psk: bytes | None = field(default=None, repr=False)  # global pre-shared key
    peers: tuple[PeerSettings, ...] = ()
    local_id: str | None = None  # our phase 1 ID (address or FQDN); default: the local address
    phase1: tuple[str, ...] = DEFAULT_PHASE1
    phase2: tuple[str, ...] = DEFAULT_PHASE2
    phase1_lifetime: int = 28800  # seconds; a peer's longer lifetime is capped to this
    phase2_lifetime: int = 3600
    phase2_lifetime_kb: int = 0  # 0: no volume limit of ours
    dpd_delay: float = 30.0  # idle seconds before R-U-THERE (RFC 3706); 0 disables our probes
    dpd_timeout: float = 150.0  # no answer for this long: the peer is dead
    aggressive: bool = False  # accept Aggressive Mode (exposes a PSK hash to offline guessing)
    # Answer NAT-D so clients see the server as not translated (Windows error 809 otherwise).  It
    # echoes the client's own hash of the address it dialed, which equals ours when the server is
    # not behind NAT: a no-op then, so it is on by default.
    nat_d_workaround: bool = True
    force_encap: bool = False  # claim the client is behind NAT so ESP always rides UDP 4500
    half_open_timeout: float = 30.0
    max_half_open: int = 1024
    max_half_open_per_source: int = 16
    retransmit_timeout: float = 2.0  # first retransmit; doubles each time
    retransmit_tries: int = 5
    fragment_size: int = 1280  # IP datagram size above which we fragment (peer must support it)
    nonce_bytes: int = 32

    def __post_init__(self) -> None:
        _ = self.phase1_suites, self.phase2_suites  # raise ValueError early on a bad suite string

    @cached_property
    def phase1_suites(self) -> tuple[Phase1Suite, ...]:
        return tuple(parse_phase1(s) for s in self.phase1)

    @cached_property
    def phase2_suites(self) -> tuple[Phase2Suite, ...]:
        return tuple(parse_phase2(s) for s in self.phase2)

    def psk_for(self, address: str, peer_id: str | None = None) -> bytes | None:
        """The key of the best-fitting ``peers`` entry (ID match first, then the longest prefix
        containing ``address``), else the global key."""
        ranked = [(r, p.psk) for p in self.peers if (r := p.rank(address, peer_id)) is not None]
        if ranked:
            return max(ranked, key=lambda item: item[0])[1]
        return self.psk
