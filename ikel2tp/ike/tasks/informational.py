"""Informational exchanges (RFC 2409 §5.7): HDR*, HASH(1), N/D with
HASH(1) = prf(SKEYID_a, M-ID | N/D).  Delete in and out (RFC 2408 §3.15), INITIAL-CONTACT
(RFC 2407 §4.6.3.3), DPD notifies (RFC 3706, in :mod:`.dpd`), error notifies logged."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from ikel2tp.ike import keymat, rules
from ikel2tp.ike.constants import ExchangeType, NotifyType, ProtocolId
from ikel2tp.ike.errors import IkeError
from ikel2tp.ike.message import Message
from ikel2tp.ike.payloads import DeletePayload, HashPayload, NotifyPayload, Payload
from ikel2tp.ike.sa import IkeSa, hashed_payloads
from ikel2tp.ike.tasks import dpd

if TYPE_CHECKING:
    from ikel2tp.ike.manager import IkeManager


def build(sa: IkeSa, message_id: int, payloads: list[Payload]) -> bytes:
    """An encrypted, hash-protected Informational message with a fresh message ID."""
    assert sa.keys is not None
    hash1 = keymat.qm_hash1(sa.keys.hash_name, sa.keys.skeyid_a, message_id, hashed_payloads(payloads))
    data = sa.encrypt(ExchangeType.INFORMATIONAL, message_id, [HashPayload(hash1), *payloads])
    assert sa.ivs is not None
    sa.ivs.forget(message_id)  # one-message exchange: nothing chains after it
    return data


def verify(sa: IkeSa, message: Message) -> None:
    rules.check("informational", message)
    assert sa.keys is not None
    if message.payloads[0].payload.type != HashPayload.type:
        raise IkeError(
            "informational does not start with HASH", field="HASH", code=NotifyType.INVALID_HASH_INFORMATION
        )
    expected = keymat.qm_hash1(
        sa.keys.hash_name, sa.keys.skeyid_a, message.header.message_id, message.after_first()
    )
    if not hmac.compare_digest(message.first(HashPayload).data, expected):
        raise IkeError(
            "HASH(1) of an informational did not verify",
            field="HASH",
            code=NotifyType.INVALID_HASH_INFORMATION,
        )


def process(core: IkeManager, sa: IkeSa, message: Message, now: float) -> None:
    """Apply a verified Informational message."""
    for payload in message.all(DeletePayload):
        _delete(core, sa, payload)
    for n in message.all(NotifyPayload):
        if n.notify_type in (NotifyType.R_U_THERE, NotifyType.R_U_THERE_ACK):
            dpd.process(core, sa, n, now)
        elif n.notify_type == NotifyType.INITIAL_CONTACT:
            core.initial_contact(sa)
        elif n.notify_type < NotifyType.CONNECTED:
            core.log.warning("%s reports error %s", sa.describe(), n.name())
        else:
            core.log.info("%s sent status %s", sa.describe(), n.name())


def _delete(core: IkeManager, sa: IkeSa, payload: DeletePayload) -> None:
    if payload.protocol == ProtocolId.ISAKMP:
        for spi in payload.spis:
            if len(spi) == 16 and spi == sa.icookie + sa.rcookie:
                core.remove_ike_sa(sa, "peer sent Delete", send_delete=False)
            else:
                target = core.find_by_cookies(spi[:8], spi[8:]) if len(spi) == 16 else None
                if target is not None and target.remote == sa.remote:
                    core.remove_ike_sa(target, "peer sent Delete", send_delete=False)
        return
    if payload.protocol != ProtocolId.IPSEC_ESP:
        core.log.info("%s deletes protocol %d SAs; ignored", sa.describe(), payload.protocol)
        return
    for spi in payload.spis:
        # The peer names its inbound SPI, which is our outbound one.
        if len(spi) != 4 or not core.remove_child(
            sa, int.from_bytes(spi, "big"), "peer sent Delete", send_delete=False, by_spi_out=True
        ):
            core.log.info("%s deletes unknown ESP SPI %s", sa.describe(), spi.hex())
