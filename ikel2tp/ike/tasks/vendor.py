"""Vendor IDs (RFC 2408 §3.16): recognise NAT-T (RFC 3947, draft-02/02\\n/03), DPD (RFC 3706),
IKE fragmentation and the client kind; choose the ones we send back."""

from __future__ import annotations

from ikel2tp.ike import constants as c
from ikel2tp.ike.payloads import VendorIdPayload
from ikel2tp.ike.sa import Extensions

# NAT-T VIDs in our order of preference (RFC first, then the drafts Windows and macOS send).
NATT_VIDS: tuple[tuple[bytes, str], ...] = (
    (c.VID_NATT_RFC3947, "rfc"),
    (c.VID_NATT_DRAFT_03, "draft"),
    (c.VID_NATT_DRAFT_02N, "draft"),
    (c.VID_NATT_DRAFT_02, "draft"),
)
# prefix -> label, for the client kind and the log
KNOWN: tuple[tuple[bytes, str], ...] = (
    (c.VID_MS_NT5, "Microsoft Windows"),
    (c.VID_MS_NEGOTIATION_DISCOVERY, "Microsoft Windows"),
    (c.VID_MS_INITIAL_CONTACT, "Microsoft Windows"),
    (c.VID_MS_IKE_CGA, "Microsoft Windows"),
    (c.VID_STRONGSWAN, "strongSwan"),
    (c.VID_KAME_RACOON, "KAME/racoon (Android, macOS)"),
    (c.VID_CISCO_UNITY, "Cisco Unity"),
    (c.VID_XAUTH, "XAUTH"),
    (c.VID_DPD, "DPD"),
    (c.VID_FRAGMENTATION, "IKE fragmentation"),
) + tuple((vid, "NAT-T " + kind) for vid, kind in NATT_VIDS)

CLIENT_KINDS = ("Microsoft Windows", "strongSwan", "KAME/racoon (Android, macOS)", "Cisco Unity")


def recognise(vids: list[bytes]) -> tuple[Extensions, list[str]]:
    """Extensions the peer supports and the names of every recognised VID (for the log)."""
    ext = Extensions()
    names = []
    for vid in vids:
        for prefix, label in KNOWN:
            if vid.startswith(prefix):
                names.append(label)
                break
        else:
            names.append(f"unknown {vid[:16].hex()}")
    for prefix, kind in NATT_VIDS:  # preference order, whatever order the peer used
        if any(v == prefix for v in vids):
            ext.natt, ext.natt_vid = kind, prefix
            break
    ext.dpd = any(v == c.VID_DPD for v in vids)
    ext.fragmentation = any(v.startswith(c.VID_FRAGMENTATION) for v in vids)
    ext.client_kind = next((k for k in CLIENT_KINDS if k in names), "unknown")
    return ext, names


def initiator_vids() -> list[VendorIdPayload]:
    """What our initiator announces in MM1: every NAT-T flavour, DPD, fragmentation."""
    return [VendorIdPayload(v) for v, _ in NATT_VIDS] + [
        VendorIdPayload(c.VID_DPD),
        VendorIdPayload(c.VID_FRAGMENTATION_CAPS),
    ]


def responder_vids(peer: Extensions) -> list[VendorIdPayload]:
    """MM2: the NAT-T flavour we chose, DPD, and fragmentation when the peer offered them."""
    out = []
    if peer.natt_vid:
        out.append(VendorIdPayload(peer.natt_vid))
    out.append(VendorIdPayload(c.VID_DPD))
    if peer.fragmentation:
        out.append(VendorIdPayload(c.VID_FRAGMENTATION_CAPS))
    return out
