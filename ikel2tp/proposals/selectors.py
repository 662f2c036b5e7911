"""The identity / selector side of phase 2: IDci/IDcr (RFC 2409 §5.5, RFC 2407 §4.6.2) and the
encapsulation mode values (RFC 2407 §4.5, RFC 3947 §5.1, draft-ietf-ipsec-nat-t-ike-02/03).

L2TP/IPsec needs host selectors for UDP port 1701 and transport mode.  ikel2tp accepts a client
that names another address for the server (the server behind NAT); strict responders do not, so
these notes say what a Cisco or Windows peer would report.
"""

from __future__ import annotations

from collections.abc import Sequence

from ikel2tp.ike.constants import EncapsulationMode, IdType
from ikel2tp.ike.payloads import IdPayload

L2TP_PORT = 1701
UDP = 17
_SUBNETS = {
    IdType.ID_IPV4_ADDR_SUBNET,
    IdType.ID_IPV6_ADDR_SUBNET,
    IdType.ID_IPV4_ADDR_RANGE,
    IdType.ID_IPV6_ADDR_RANGE,
}


def _side(id_: IdPayload, who: str) -> list[str]:
    notes = []
    if id_.protocol not in (0, UDP):
        notes.append(
            f"phase 2 IDs: the {who} selector is for protocol {id_.protocol}; "
            "L2TP/IPsec protects UDP (17) port 1701"
        )
    elif id_.protocol == 0:
        notes.append(f"phase 2 IDs: the {who} selector covers every protocol (0), not UDP/1701: accepted")
    if id_.protocol == UDP and id_.port not in (0, L2TP_PORT):
        notes.append(f"phase 2 IDs: the {who} selector names UDP port {id_.port}, not 1701")
    elif id_.protocol == UDP and id_.port == 0:
        notes.append(
            f"phase 2 IDs: the {who} selector allows any UDP port (0) instead of 1701: accepted "
            "(a client behind NAT uses a source port other than 1701)"
        )
    if id_.id_type in _SUBNETS and id_.address() is None:
        notes.append(
            f"phase 2 IDs: the {who} selector is a subnet or range ({id_.describe()}), "
            "a tunnel-mode selector; L2TP/IPsec needs host selectors"
        )
    return notes


def explain_ids(ids: Sequence[IdPayload], served: Sequence[str]) -> list[str]:
    """Notes on a Quick Mode's IDci/IDcr against the addresses the server serves."""
    if not ids:
        return []
    if len(ids) != 2:
        return [f"phase 2 IDs: {len(ids)} ID payloads; Quick Mode carries IDci and IDcr or none"]
    ci, cr = ids
    notes = _side(ci, "client's") + _side(cr, "server's")
    local = cr.address()
    if local is not None and served and local not in served:
        notes.append(
            f"phase 2 IDs: the client proposed local proxy {local} port {cr.port}, we serve address "
            f"{', '.join(served)}: the client dials an address this server does not own (NAT or port "
            f"forward in front of it). ikel2tp accepts it in transport mode; a strict responder (Cisco: "
            f"'invalid local address') refuses it; fix: set public_address = \"{local}\" in [server]"
        )
    return notes


MODE_TEXT = {
    EncapsulationMode.TUNNEL: "tunnel (1)",
    EncapsulationMode.TRANSPORT: "transport (2)",
    EncapsulationMode.UDP_TUNNEL_RFC: "UDP-encapsulated tunnel, RFC 3947 (3)",
    EncapsulationMode.UDP_TRANSPORT_RFC: "UDP-encapsulated transport, RFC 3947 (4)",
    EncapsulationMode.UDP_TUNNEL_DRAFT: "UDP-encapsulated tunnel, NAT-T draft (61443)",
    EncapsulationMode.UDP_TRANSPORT_DRAFT: "UDP-encapsulated transport, NAT-T draft (61444)",
}
_RFC_MODES = {EncapsulationMode.UDP_TUNNEL_RFC, EncapsulationMode.UDP_TRANSPORT_RFC}
_DRAFT_MODES = {EncapsulationMode.UDP_TUNNEL_DRAFT, EncapsulationMode.UDP_TRANSPORT_DRAFT}


def mode_text(mode: int) -> str:
    return MODE_TEXT.get(mode, f"unknown mode {mode}")  # type: ignore[call-overload]


def explain_mode(mode: int, natt: str | None, nat_detected: bool | None) -> list[str]:
    """Notes on the encapsulation mode a client asks for.  ``natt``: "rfc", "draft" or None (which
    NAT-T vendor ID the client sent); ``nat_detected``: NAT-D's verdict when known."""
    notes = []
    if mode in (
        EncapsulationMode.TUNNEL,
        EncapsulationMode.UDP_TUNNEL_RFC,
        EncapsulationMode.UDP_TUNNEL_DRAFT,
    ):
        notes.append(
            f"encapsulation mode: the client asks for {mode_text(mode)}; L2TP/IPsec uses transport "
            "mode; fix: set the client to transport mode"
        )
    elif mode not in MODE_TEXT:
        notes.append(f"encapsulation mode: {mode} is no RFC 2407 / RFC 3947 / NAT-T draft value")
    if mode in _RFC_MODES and natt == "draft":
        notes.append(
            f"encapsulation mode: {mode_text(mode)} is the RFC 3947 value, but the client announced "
            "only a NAT-T draft vendor ID (which uses 61443/61444)"
        )
    if mode in _DRAFT_MODES and natt == "rfc":
        notes.append(
            f"encapsulation mode: {mode_text(mode)} is a NAT-T draft value, but the client announced "
            "RFC 3947 (which uses 3/4)"
        )
    udp = mode in _RFC_MODES | _DRAFT_MODES
    if udp and nat_detected is False:
        notes.append(
            f"encapsulation mode: the client asks for {mode_text(mode)} although NAT-D found no NAT "
            "(forced encapsulation); ikel2tp follows the client"
        )
    if not udp and nat_detected:
        notes.append(
            f"encapsulation mode: the client asks for {mode_text(mode)} although NAT was detected: "
            "plain ESP will not pass the NAT"
        )
    return notes
