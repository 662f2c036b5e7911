"""NAT detection (RFC 3947 §3, draft-ietf-ipsec-nat-t-ike-02/03): NAT-D payloads in MM3/MM4.

Each side sends HASH(CKY-I | CKY-R | IP | Port) of the *destination* first, then of its own
source.  Two switches change what we answer (docs/config reference):

* ``nat_d_workaround``: our own NAT-D echoes the hash the client computed for the address it sent
  to, so a server behind 1:1 NAT looks untranslated (Windows then needs no registry change).
* ``force_encap``: the client's NAT-D is answered with a hash of no real address, so the client
  believes it is behind NAT and both sides use UDP encapsulation on port 4500.
"""

from __future__ import annotations

import ipaddress

from ikel2tp.ike import keymat
from ikel2tp.ike.constants import EncapsulationMode, PayloadType
from ikel2tp.ike.events import Address
from ikel2tp.ike.payloads import NatDPayload
from ikel2tp.ike.sa import IkeSa


def payload_type(sa: IkeSa) -> PayloadType:
    return PayloadType.NAT_D_DRAFT if sa.ext.natt == "draft" else PayloadType.NAT_D


def nat_oa_type(sa: IkeSa) -> PayloadType:
    return PayloadType.NAT_OA_DRAFT if sa.ext.natt == "draft" else PayloadType.NAT_OA


def _hash(sa: IkeSa, hash_name: str, address: Address) -> bytes:
    return keymat.nat_d(
        hash_name, sa.icookie, sa.rcookie, ipaddress.ip_address(address[0]).packed, address[1]
    )


def build(
    sa: IkeSa,
    hash_name: str,
    peer_hashes: list[bytes],
    nat_d_workaround: bool = False,
    force_encap: bool = False,
) -> list[NatDPayload]:
    """Our NAT-D payloads: [hash(remote), hash(local)].  ``peer_hashes`` are the peer's (responder)."""
    kind = payload_type(sa)
    remote = _hash(sa, hash_name, sa.remote)
    if force_encap:
        remote = _hash(sa, hash_name, ("0.0.0.0", 0))
    local = _hash(sa, hash_name, sa.local)
    if nat_d_workaround and peer_hashes:
        local = peer_hashes[0]
    return [NatDPayload(remote, kind), NatDPayload(local, kind)]


def process(sa: IkeSa, hash_name: str, payloads: list[NatDPayload], force_encap: bool = False) -> None:
    """Set ``sa.nat_local``/``sa.nat_remote`` from the peer's NAT-D payloads (RFC 3947 §3.2)."""
    if not payloads or sa.ext.natt is None:
        return
    sa.nat_local = payloads[0].data != _hash(sa, hash_name, sa.local)
    remote = _hash(sa, hash_name, sa.remote)
    sa.nat_remote = force_encap or not any(p.data == remote for p in payloads[1:])


def encapsulation_mode(sa: IkeSa) -> EncapsulationMode:
    """Quick Mode mode: transport, or UDP-encapsulated transport in the negotiated NAT-T flavour."""
    if not sa.encap:
        return EncapsulationMode.TRANSPORT
    if sa.ext.natt == "draft":
        return EncapsulationMode.UDP_TRANSPORT_DRAFT
    return EncapsulationMode.UDP_TRANSPORT_RFC
