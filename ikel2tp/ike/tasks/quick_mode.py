"""Quick Mode (RFC 2409 §5.5), both roles, ESP transport mode for L2TP (UDP/1701):

    Initiator                                   Responder
    HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr]  -->   quick_mode_1
                  <--  HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr] [, NAT-OA...] [, N]   quick_mode_2
    HDR*, HASH(3)                                                     -->   quick_mode_3
    With the commit bit (RFC 2408 §3.1) set by the initiator, we echo it in QM2 and, once QM3
    arrived and the SA is handed over, announce N(CONNECTED) in an Informational exchange.

Encapsulation modes: transport (2), UDP transport RFC 3947 (4) or draft (61444).  NAT-OA per
RFC 3947 §5.2: the first is the initiator's address, the second the responder's, each as the
sender sees it.  Keys: KEYMAT per direction, RFC 2409 §5.5 (see :mod:`ikel2tp.ike.keymat`).
"""

from __future__ import annotations

import hmac
from enum import Enum
from typing import TYPE_CHECKING

from ikel2tp.common.buffer import Buffer
from ikel2tp.crypto.dh import DhError, DhExchange
from ikel2tp.crypto.prf import DIGEST_SIZES
from ikel2tp.ike import keymat, proposal, rules
from ikel2tp.ike.constants import (
    ExchangeType,
    Flag,
    IdType,
    LifeType,
    NotifyType,
    Phase2Attribute,
    ProtocolId,
)
from ikel2tp.ike.errors import IkeError
from ikel2tp.ike.events import ChildSaEstablished, ChildSaKeys, QuickModeFailed
from ikel2tp.ike.message import Message
from ikel2tp.ike.payloads import (
    Attribute,
    HashPayload,
    IdPayload,
    KePayload,
    NatOaPayload,
    NoncePayload,
    NotifyPayload,
    SaPayload,
    pull_attribute,
    push_attribute,
)
from ikel2tp.ike.sa import ChildSa, IkeSa, hashed_payloads
from ikel2tp.ike.tasks import isakmp_natd

if TYPE_CHECKING:
    from ikel2tp.ike.manager import IkeManager

L2TP_PORT = 1701
UDP = 17


class QmState(Enum):
    START = "start"
    QM1_SENT = "qm1 sent"  # initiator
    QM2_SENT = "qm2 sent"  # responder
    DONE = "done"


def enc_key_bytes(cipher: str, key_bits: int) -> int:
    """ESP encryption key length; AES-GCM keys carry the 4-byte salt (RFC 4106 §8.1)."""
    return key_bits // 8 + (4 if cipher == "aes-gcm" else 0)


class QuickMode:
    """One Quick Mode exchange (one message ID) of an established IKE SA."""

    def __init__(self, core: IkeManager, sa: IkeSa, message_id: int, initiator: bool) -> None:
        self.core = core
        self.sa = sa
        self.message_id = message_id
        self.initiator = initiator
        self.state = QmState.START
        self.nonce = core.random(core.settings.nonce_bytes)
        self.peer_nonce = b""
        self.dh: DhExchange | None = None
        self.gxy: bytes | None = None
        self.spi_in = 0
        self.spi_out = 0
        self.ids: list[IdPayload] = []
        self.natoa: list[str | None] = [None, None]
        self.offer: proposal.Phase2Offer | None = None
        self.lifetime = proposal.Lifetime()
        self.commit = False

    @property
    def hash_name(self) -> str:
        assert self.sa.keys is not None
        return self.sa.keys.hash_name

    @property
    def skeyid_a(self) -> bytes:
        assert self.sa.keys is not None
        return self.sa.keys.skeyid_a

    def _ni_nr(self) -> tuple[bytes, bytes]:
        return (self.nonce, self.peer_nonce) if self.initiator else (self.peer_nonce, self.nonce)

    def _natoa_payloads(self) -> list[NatOaPayload]:
        """RFC 3947 §5.2: NAT-OAi (initiator's address) then NAT-OAr, as this side sees them."""
        if not self.sa.encap:
            return []
        kind = isakmp_natd.nat_oa_type(self.sa)
        init, resp = (self.sa.local, self.sa.remote) if self.initiator else (self.sa.remote, self.sa.local)
        return [NatOaPayload.from_address(init[0], kind), NatOaPayload.from_address(resp[0], kind)]

    def _verify(self, received: bytes, expected: bytes, which: str) -> None:
        if not hmac.compare_digest(received, expected):
            raise IkeError(f"{which} did not verify", field="HASH", code=NotifyType.INVALID_HASH_INFORMATION)

    def _read_common(self, message: Message) -> None:
        """Nonce, KE (PFS), IDs and NAT-OA of a QM1 or QM2."""
        nonce = message.first(NoncePayload).data
        if not 8 <= len(nonce) <= 256:
            raise IkeError(f"nonce of {len(nonce)} bytes", field="NONCE", code=NotifyType.PAYLOAD_MALFORMED)
        self.peer_nonce = nonce
        ids = message.all(IdPayload)
        if len(ids) == 1:
            raise IkeError(
                "one ID payload; Quick Mode needs IDci and IDcr or none",
                field="ID",
                code=NotifyType.INVALID_ID_INFORMATION,
            )
        for id_ in ids:
            if id_.protocol not in (0, UDP) or id_.id_type not in (
                IdType.ID_IPV4_ADDR,
                IdType.ID_IPV6_ADDR,
                IdType.ID_IPV4_ADDR_SUBNET,
                IdType.ID_IPV6_ADDR_SUBNET,
            ):
                raise IkeError(
                    f"selector {id_.describe()} is not a host or UDP/1701 selector",
                    field="ID",
                    code=NotifyType.INVALID_ID_INFORMATION,
                )
            if id_.address() is None:
                raise IkeError(
                    f"selector {id_.describe()} is not a single host",
                    field="ID",
                    code=NotifyType.INVALID_ID_INFORMATION,
                )
        if (
            self.initiator
            and ids
            and [(i.protocol, i.port, i.data) for i in ids]
            != [(i.protocol, i.port, i.data) for i in self.ids]
        ):
            raise IkeError(
                "responder changed the selectors", field="ID", code=NotifyType.INVALID_ID_INFORMATION
            )
        self.ids = ids
        oas = [p.address() for p in message.all(NatOaPayload)]
        if len(oas) == 1:  # draft-02/03: the sender's original address only
            self.natoa = [oas[0], None] if not self.initiator else [None, oas[0]]
        elif len(oas) == 2:
            self.natoa = oas

    def _pfs(self, message: Message) -> None:
        assert self.offer is not None and self.offer.suite is not None
        group = self.offer.suite.pfs_group
        ke = message.first(KePayload)
        if group is None:
            if ke is not None:
                raise IkeError("KE without a PFS group", field="KE", code=NotifyType.INVALID_KEY_INFORMATION)
            return
        if ke is None:
            raise IkeError(
                "PFS group without KE payload", field="KE", code=NotifyType.INVALID_KEY_INFORMATION
            )
        if self.dh is None or self.dh.group != group:
            self.dh = DhExchange(group, self.core.random)
        try:
            self.gxy = self.dh.shared_secret(ke.data)
        except DhError as exc:
            raise IkeError(str(exc), field="KE", code=NotifyType.INVALID_KEY_INFORMATION) from exc

    # -- initiator --------------------------------------------------------------------------
    def start(self, now: float) -> bytes:
        settings = self.core.settings
        self.spi_in = self.core.spi_allocator()
        suites = settings.phase2_suites
        group = suites[0].pfs_group if suites else None
        if group is not None:
            self.dh = DhExchange(group, self.core.random)
        mode = isakmp_natd.encapsulation_mode(self.sa)
        sa_payload = proposal.phase2_sa(
            suites,
            self.spi_in,
            mode,
            proposal.Lifetime(settings.phase2_lifetime, settings.phase2_lifetime_kb),
        )
        self.ids = [
            IdPayload.from_address(self.sa.local[0], UDP, L2TP_PORT),
            IdPayload.from_address(self.sa.remote[0], UDP, L2TP_PORT),
        ]
        rest = [sa_payload, NoncePayload(self.nonce)]
        if self.dh is not None:
            rest.append(KePayload(self.dh.public))
        rest += [*self.ids, *self._natoa_payloads()]
        hash1 = keymat.qm_hash1(self.hash_name, self.skeyid_a, self.message_id, hashed_payloads(rest))
        self.state = QmState.QM1_SENT
        return self.sa.encrypt(ExchangeType.QUICK_MODE, self.message_id, [HashPayload(hash1), *rest])

    def _i_qm2(self, message: Message, now: float) -> list[bytes]:
        rules.check("quick_mode_2", message)
        ni_b = self.nonce
        self._verify(
            message.first(HashPayload).data,
            keymat.qm_hash2(self.hash_name, self.skeyid_a, self.message_id, ni_b, message.after_first()),
            "HASH(2)",
        )
        sa_payload = message.first(SaPayload)
        if len(sa_payload.proposals) != 1 or len(sa_payload.proposals[0].transforms) != 1:
            raise IkeError(
                "responder returned more than one transform", field="SA", code=NotifyType.BAD_PROPOSAL_SYNTAX
            )
        chosen = sa_payload.proposals[0]
        offer = proposal.decode_phase2(chosen, chosen.transforms[0])
        if offer.suite is None or offer.suite not in self.core.settings.phase2_suites:
            raise IkeError(
                f"responder chose {offer.label()}, which we did not offer",
                field="SA",
                code=NotifyType.NO_PROPOSAL_CHOSEN,
            )
        self.offer = offer
        self.spi_out = int.from_bytes(chosen.spi, "big")
        self._read_common(message)
        self._pfs(message)
        self.lifetime = offer.lifetime
        for n in message.all(NotifyPayload):
            if n.notify_type == NotifyType.RESPONDER_LIFETIME:
                self.lifetime = _parse_lifetime_notify(n, self.lifetime)
        ni, nr = self._ni_nr()
        hash3 = keymat.qm_hash3(self.hash_name, self.skeyid_a, self.message_id, ni, nr)
        out = self.sa.encrypt(ExchangeType.QUICK_MODE, self.message_id, [HashPayload(hash3)])
        self._install(now)
        return [out]

    # -- responder --------------------------------------------------------------------------
    def _r_qm1(self, message: Message, now: float) -> list[bytes]:
        rules.check("quick_mode_1", message)
        self._verify(
            message.first(HashPayload).data,
            keymat.qm_hash1(self.hash_name, self.skeyid_a, self.message_id, message.after_first()),
            "HASH(1)",
        )
        self.commit = bool(message.header.flags & Flag.COMMIT)
        settings = self.core.settings
        ours = proposal.Lifetime(settings.phase2_lifetime, settings.phase2_lifetime_kb)
        choice = proposal.select_phase2(message.first(SaPayload), settings.phase2_suites, ours)
        if isinstance(choice, proposal.Refusal):
            self.state = QmState.DONE
            self.core.log.warning("Quick Mode with %s refused: %s", self.sa.describe(), choice.text)
            self.core.emit(QuickModeFailed(self.sa.sa_id, self.sa.remote, "no acceptable proposal", choice))
            self.core.send_notify(
                self.sa,
                NotifyType.NO_PROPOSAL_CHOSEN,
                ProtocolId.IPSEC_ESP,
                message.first(SaPayload).proposals[0].spi,
            )
            return []
        self.offer = choice.offer
        self.lifetime = choice.lifetime
        self.spi_out = choice.peer_spi
        self._read_common(message)
        self._pfs(message)
        if choice.offer.udp_encap != self.sa.encap:
            self.core.log.info(
                "%s asks for %s although NAT-T detection said %s; following the peer",
                self.sa.describe(),
                "UDP encapsulation" if choice.offer.udp_encap else "plain ESP",
                "NAT" if self.sa.encap else "no NAT",
            )
        self.spi_in = self.core.spi_allocator()
        rest: list = [choice.sa_payload(self.spi_in), NoncePayload(self.nonce)]
        if self.gxy is not None:
            assert self.dh is not None
            rest.append(KePayload(self.dh.public))
        rest += [*self.ids, *self._natoa_payloads()]
        if choice.capped:
            rest.append(
                NotifyPayload(
                    NotifyType.RESPONDER_LIFETIME,
                    ProtocolId.IPSEC_ESP,
                    self.spi_out.to_bytes(4, "big"),
                    _lifetime_attributes(choice.lifetime),
                )
            )
        ni_b = self.peer_nonce
        hash2 = keymat.qm_hash2(self.hash_name, self.skeyid_a, self.message_id, ni_b, hashed_payloads(rest))
        self.state = QmState.QM2_SENT
        flags = Flag.COMMIT if self.commit else 0
        return [self.sa.encrypt(ExchangeType.QUICK_MODE, self.message_id, [HashPayload(hash2), *rest], flags)]

    def _r_qm3(self, message: Message, now: float) -> list[bytes]:
        rules.check("quick_mode_3", message)
        ni, nr = self._ni_nr()
        self._verify(
            message.first(HashPayload).data,
            keymat.qm_hash3(self.hash_name, self.skeyid_a, self.message_id, ni, nr),
            "HASH(3)",
        )
        self._install(now)
        if self.commit:
            # RFC 2408 §3.1 commit bit: the side that set it announces CONNECTED in an Informational
            # exchange once the SA is in place (we echoed the bit in QM2, as KAME/racoon do).
            self.core.send_notify(
                self.sa, NotifyType.CONNECTED, ProtocolId.IPSEC_ESP, self.spi_in.to_bytes(4, "big")
            )
        return []

    # -- both -------------------------------------------------------------------------------
    def child_keys(self) -> ChildSaKeys:
        """The negotiated SA pair with its KEYMAT (RFC 2409 §5.5), once QM1 and QM2 are known."""
        assert self.offer is not None and self.offer.suite is not None and self.sa.keys is not None
        suite = self.offer.suite
        ni, nr = self._ni_nr()
        length = enc_key_bytes(suite.cipher, suite.key_bits) + (
            DIGEST_SIZES[suite.integrity] if suite.integrity else 0
        )
        keys = self.sa.keys
        km_in = keymat.keymat(
            keys.hash_name, keys.skeyid_d, ProtocolId.IPSEC_ESP, self.spi_in, ni, nr, length, self.gxy
        )
        km_out = keymat.keymat(
            keys.hash_name, keys.skeyid_d, ProtocolId.IPSEC_ESP, self.spi_out, ni, nr, length, self.gxy
        )
        split = enc_key_bytes(suite.cipher, suite.key_bits)
        # IDci is the initiator's selector: the peer's port is in IDci when we respond, IDcr when we initiate.
        local_port, remote_port = L2TP_PORT, L2TP_PORT
        if self.ids:
            ci, cr = self.ids
            mine, theirs = (ci, cr) if self.initiator else (cr, ci)
            local_port, remote_port = mine.port, theirs.port
        natoa_i, natoa_r = self.natoa
        natoa_local, natoa_remote = (natoa_i, natoa_r) if self.initiator else (natoa_r, natoa_i)
        encap = self.offer.udp_encap
        return ChildSaKeys(
            ike_sa_id=self.sa.sa_id,
            local=self.sa.local,
            remote=self.sa.remote,
            encap=encap,
            spi_in=self.spi_in,
            spi_out=self.spi_out,
            cipher=suite.cipher,
            key_bits=suite.key_bits,
            integrity=suite.integrity,
            enc_key_in=km_in[:split],
            enc_key_out=km_out[:split],
            auth_key_in=km_in[split:],
            auth_key_out=km_out[split:],
            protocol=UDP,
            local_port=local_port,
            remote_port=remote_port,
            natoa_local=natoa_local if encap else None,
            natoa_remote=natoa_remote if encap else None,
            lifetime_seconds=self.lifetime.seconds,
            lifetime_kilobytes=self.lifetime.kilobytes,
            icv_bytes=suite.icv_bytes,
        )

    def _install(self, now: float) -> None:
        child = self.child_keys()
        expires = (
            now + proposal.expiry_delay(self.lifetime.seconds) if self.lifetime.seconds else float("inf")
        )
        self.sa.children.append(ChildSa(child, now, expires))
        self.state = QmState.DONE
        self.core.log.info(
            "ESP SA established with %s: %s, SPIs in %08x out %08x%s",
            self.sa.describe(),
            self.offer.suite if self.offer else "",
            self.spi_in,
            self.spi_out,
            ", UDP-encapsulated" if child.encap else "",
        )
        self.core.emit(ChildSaEstablished(child))

    def receive(self, message: Message, now: float) -> list[bytes]:
        move = TRANSITIONS.get((self.initiator, self.state))
        if move is None:
            raise IkeError(f"Quick Mode message in state {self.state.value}", field="exchange")
        return move(self, message, now)


def _lifetime_attributes(lifetime: proposal.Lifetime) -> bytes:
    """RFC 2407 §4.6.3.1 RESPONDER-LIFETIME data: SA Life Type/Duration attribute pairs."""
    buf = Buffer()
    for kind, value in ((LifeType.SECONDS, lifetime.seconds), (LifeType.KILOBYTES, lifetime.kilobytes)):
        if value:
            push_attribute(buf, Attribute.of(Phase2Attribute.SA_LIFE_TYPE, kind))
            push_attribute(buf, Attribute.of(Phase2Attribute.SA_LIFE_DURATION, value))
    return buf.data()


def _parse_lifetime_notify(n: NotifyPayload, current: proposal.Lifetime) -> proposal.Lifetime:
    buf = Buffer(n.data)
    attrs = []
    while not buf.eof() and len(attrs) < 8:
        attrs.append(pull_attribute(buf))
    lifetime, problem = proposal.parse_lifetime(
        attrs, Phase2Attribute.SA_LIFE_TYPE, Phase2Attribute.SA_LIFE_DURATION
    )
    if problem:
        return current
    return proposal.Lifetime(lifetime.seconds or current.seconds, lifetime.kilobytes or current.kilobytes)


# (initiator?, state) -> handler of the next message of this exchange
TRANSITIONS = {
    (False, QmState.START): QuickMode._r_qm1,
    (False, QmState.QM2_SENT): QuickMode._r_qm3,
    (True, QmState.QM1_SENT): QuickMode._i_qm2,
}
