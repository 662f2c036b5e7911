"""Dead Peer Detection (RFC 3706), both ways.

We answer every R-U-THERE with R-U-THERE-ACK (same sequence number).  When the peer announced
DPD and nothing arrived from it for ``dpd_delay`` seconds, we send R-U-THERE; without an answer for
``dpd_timeout`` seconds the peer is dead: :class:`~ikel2tp.ike.events.PeerDead` and its SAs go.
Notify SPI = CKY-I | CKY-R, protocol ISAKMP, data = 32-bit sequence number (RFC 3706 §5.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ikel2tp.ike.constants import NotifyType, ProtocolId
from ikel2tp.ike.payloads import NotifyPayload
from ikel2tp.ike.sa import IkeSa

if TYPE_CHECKING:
    from ikel2tp.ike.manager import IkeManager


def process(core: IkeManager, sa: IkeSa, n: NotifyPayload, now: float) -> None:
    if len(n.data) != 4 or n.spi != sa.icookie + sa.rcookie:
        core.log.info("%s sent a malformed DPD notify; ignored", sa.describe())
        return
    seq = int.from_bytes(n.data, "big")
    if n.notify_type == NotifyType.R_U_THERE:
        core.send_notify(sa, NotifyType.R_U_THERE_ACK, ProtocolId.ISAKMP, sa.icookie + sa.rcookie, n.data)
    elif sa.dpd_sent is not None and seq == sa.dpd_seq:
        sa.dpd_sent = None


def deadline(core: IkeManager, sa: IkeSa) -> float | None:
    """When this SA's DPD needs attention next."""
    settings = core.settings
    if not sa.established or not sa.ext.dpd or settings.dpd_delay <= 0:
        return None
    if sa.dpd_sent is not None:
        return sa.dpd_sent + settings.dpd_timeout
    return sa.last_seen + settings.dpd_delay


def on_timer(core: IkeManager, sa: IkeSa, now: float) -> None:
    due = deadline(core, sa)
    if due is None or now < due:
        return
    if sa.dpd_sent is not None:
        core.peer_dead(sa)
        return
    sa.dpd_seq = (sa.dpd_seq + 1) & 0xFFFFFFFF or 1
    sa.dpd_sent = now
    core.send_notify(
        sa, NotifyType.R_U_THERE, ProtocolId.ISAKMP, sa.icookie + sa.rcookie, sa.dpd_seq.to_bytes(4, "big")
    )
