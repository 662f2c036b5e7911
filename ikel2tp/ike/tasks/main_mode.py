"""Main Mode (identity protection, RFC 2409 §5), both roles:

    Initiator                          Responder
    HDR, SA, VID...              -->                       main_mode_1
                                 <--   HDR, SA, VID...     main_mode_2
    HDR, KE, Ni [, CR], NAT-D... -->                       main_mode_3
                                 <--   HDR, KE, Nr [, CR], main_mode_4
                                       NAT-D...
    HDR*, IDii, HASH_I [, N]     -->                       main_mode_5
         (signatures: IDii, CERT, SIG_I)
                                 <--   HDR*, IDir, HASH_R  main_mode_6
                                       (IDir, CERT, SIG_R)

The legal moves are the table :data:`TRANSITIONS`: (role, state) -> (rule of the expected message,
handler, next state).  Anything else is a logged drop.  Authentication goes through an
:class:`~ikel2tp.ike.auth.Authenticator` chosen by the negotiated method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ikel2tp.certs.errors import CertError
from ikel2tp.certs.verify import dn_text
from ikel2tp.crypto.ciphers import BLOCK_SIZES
from ikel2tp.crypto.dh import DhError, DhExchange
from ikel2tp.ike import keymat, proposal, rules
from ikel2tp.ike.auth import AuthContext, Authenticator
from ikel2tp.ike.constants import IKE_PORT, NATT_PORT, AuthMethod, ExchangeType, IdType, NotifyType
from ikel2tp.ike.errors import IkeError
from ikel2tp.ike.events import Phase1Established
from ikel2tp.ike.message import Header, Message, encode
from ikel2tp.ike.payloads import (
    IdPayload,
    KePayload,
    NatDPayload,
    NoncePayload,
    NotifyPayload,
    SaPayload,
    VendorIdPayload,
    payload_body,
)
from ikel2tp.ike.sa import IkeSa, IvChain, State
from ikel2tp.ike.tasks import isakmp_natd, vendor

if TYPE_CHECKING:
    from ikel2tp.ike.manager import IkeManager

MIN_NONCE, MAX_NONCE = 8, 256  # RFC 2409 §5


def describe_id(peer_id: IdPayload) -> str:
    """A phase 1 ID for logs and events; a distinguished name in RFC 4514 form."""
    if peer_id.id_type == IdType.ID_DER_ASN1_DN:
        try:
            return dn_text(peer_id.data)
        except CertError:
            pass
    return peer_id.describe(ports=False)


class MainMode:
    """The Main Mode task of one IKE SA."""

    name = "Main Mode"
    transitions: dict = {}  # set below, once the handlers exist

    def __init__(self, core: IkeManager, sa: IkeSa) -> None:
        self.core = core
        self.sa = sa
        self.sai_b = b""
        self.choice: proposal.Phase1Offer | None = None
        self.dh: DhExchange | None = None
        self.nonce = core.random(core.settings.nonce_bytes)
        self.peer_nonce = b""
        self.peer_ke = b""
        self.auth: Authenticator | None = None
        self.peer_natd: list[NatDPayload] = []
        self.initial_contact = False

    # -- helpers -----------------------------------------------------------------------------
    @property
    def hash_name(self) -> str:
        assert self.choice is not None and self.choice.suite is not None
        return self.choice.suite.hash

    def _plain(self, payloads: list) -> bytes:
        sa = self.sa
        return encode(Header(sa.icookie, sa.rcookie, 0, ExchangeType.IDENTITY_PROTECTION, 0, 0), payloads)

    def _ni_nr(self) -> tuple[bytes, bytes]:
        return (self.nonce, self.peer_nonce) if self.sa.initiator else (self.peer_nonce, self.nonce)

    def _gxi_gxr(self) -> tuple[bytes, bytes]:
        assert self.dh is not None
        return (self.dh.public, self.peer_ke) if self.sa.initiator else (self.peer_ke, self.dh.public)

    def _our_id(self, peer_id: IdPayload | None) -> IdPayload:
        """Our phase 1 ID: ``local_id`` from the settings (address or FQDN), else the one our
        credential names (a certificate's subject DN), else our address.

        RFC 2407 §4.6.2: in phase 1 the protocol/port are 0/0 or UDP/500; mirror the peer's choice.
        """
        protocol, port = (peer_id.protocol, peer_id.port) if peer_id else (17, IKE_PORT)
        if (protocol, port) not in ((0, 0), (17, IKE_PORT), (17, NATT_PORT)):
            protocol, port = 17, IKE_PORT
        port = port and IKE_PORT
        named = self.auth.identity() if self.auth is not None else None
        if named is not None and not self.core.settings.local_id:
            return IdPayload(named[0], named[1], protocol, port)
        name = self.core.settings.local_id or self.sa.local[0]
        try:
            return IdPayload.from_address(name, protocol, port)
        except ValueError:
            return IdPayload(IdType.ID_FQDN, name.encode(), protocol, port)

    def _ctx(self) -> AuthContext:
        assert self.sa.keys is not None
        gxi, gxr = self._gxi_gxr()
        return AuthContext(
            self.hash_name, self.sa.keys.skeyid, gxi, gxr, self.sa.icookie, self.sa.rcookie, self.sai_b
        )

    def _check_nonce(self, data: bytes) -> bytes:
        if not MIN_NONCE <= len(data) <= MAX_NONCE:
            raise IkeError(
                f"nonce of {len(data)} bytes (RFC 2409: 8..256)",
                field="NONCE",
                code=NotifyType.PAYLOAD_MALFORMED,
            )
        return data

    def _derive_keys(self, message: Message) -> None:
        """KE + nonce received: g^xy, SKEYID and its derivatives (RFC 2409 §5)."""
        assert self.dh is not None and self.choice is not None and self.choice.suite is not None
        self.peer_ke = message.first(KePayload).data
        self.peer_nonce = self._check_nonce(message.first(NoncePayload).data)
        try:
            gxy = self.dh.shared_secret(self.peer_ke)
        except DhError as exc:
            raise IkeError(str(exc), field="KE", code=NotifyType.INVALID_KEY_INFORMATION) from exc
        suite = self.choice.suite
        block = BLOCK_SIZES[suite.cipher]
        ni, nr = self._ni_nr()
        gxi, gxr = self._gxi_gxr()
        assert self.auth is not None
        skeyid = self.auth.skeyid(suite.hash, ni, nr, gxy)
        self.sa.keys = keymat.derive_phase1(
            suite.hash,
            suite.cipher,
            suite.key_bits // 8,
            block,
            skeyid,
            gxy,
            self.sa.icookie,
            self.sa.rcookie,
            gxi,
            gxr,
        )
        self.sa.ivs = IvChain(self.sa.keys, block)
        self.sa.cipher, self.sa.block = suite.cipher, block

    def _choose_auth(self) -> str | None:
        assert self.choice is not None
        self.auth = self.core.authenticator(self.choice.auth_method, self.sa.remote, self._peer_id_hint())
        if self.auth is None:
            return (
                f"no credentials for authentication method {self.choice.auth_method} from {self.sa.remote[0]}"
            )
        return None

    def _peer_id_hint(self) -> str | None:
        """The peer's ID before authentication: unknown in Main Mode (it arrives encrypted)."""
        return None

    def _natd_payloads(self) -> list:
        if self.sa.ext.natt is None:
            return []
        s = self.core.settings
        hashes = [p.data for p in self.peer_natd]
        initiator = self.sa.initiator
        return isakmp_natd.build(
            self.sa,
            self.hash_name,
            hashes,
            s.nat_d_workaround and not initiator,
            s.force_encap and not initiator,
        )

    def _process_natd(self, message: Message) -> None:
        self.peer_natd = [p for p in message.all(NatDPayload) if p.type == isakmp_natd.payload_type(self.sa)]
        s = self.core.settings
        responder = not self.sa.initiator
        isakmp_natd.process(self.sa, self.hash_name, self.peer_natd, s.force_encap and responder)
        if responder and s.nat_d_workaround:
            self.sa.nat_local = False  # we told the client we are not translated

    def _authenticate_peer(self, id_body: bytes, message: Message) -> None:
        """Verify the peer's HASH/SIG over its ID body; a failure ends the negotiation."""
        assert self.auth is not None
        refusal = self.auth.verify(
            self._ctx(), id_body, [r.payload for r in message.payloads], not self.sa.initiator
        )
        if refusal is not None:
            raise IkeError(
                f"{refusal.reason} for {self.sa.remote[0]}", field=refusal.field, code=refusal.notify
            )

    def _check_peer_id(self, peer_id: IdPayload) -> None:
        if peer_id.id_type in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR) and peer_id.protocol not in (0, 17):
            raise IkeError(
                f"phase 1 ID with protocol {peer_id.protocol}",
                field="ID",
                code=NotifyType.INVALID_ID_INFORMATION,
            )

    def _our_auth(self, peer_id: IdPayload | None, message: Message) -> list:
        """Our ID and its HASH_I/HASH_R (or CERT + SIG, the certificate chosen by the peer's
        CERTREQs up to ``message``)."""
        assert self.auth is not None
        self.auth.peer_requested([r.payload for r in message.payloads])
        my_id = self._our_id(peer_id)
        return [my_id, *self.auth.build(self._ctx(), payload_body(my_id), self.sa.initiator)]

    def _established(self, peer_id: IdPayload, now: float) -> None:
        sa = self.sa
        sa.state = State.ESTABLISHED
        sa.peer_id = describe_id(peer_id)
        assert self.choice is not None and self.choice.suite is not None
        sa.suite = str(self.choice.suite)
        lifetime, _ = proposal.cap_lifetime(
            self.choice.lifetime, proposal.Lifetime(self.core.settings.phase1_lifetime)
        )
        sa.expires = now + proposal.expiry_delay(lifetime.seconds)
        self.core.log.info(
            "IKE SA established with %s: %s, peer ID %s, client %s%s",
            sa.describe(),
            sa.suite,
            sa.peer_id,
            sa.ext.client_kind,
            ", NAT-T (UDP 4500)" if sa.encap else "",
        )
        self.core.emit(
            Phase1Established(
                sa.sa_id, sa.local, sa.remote, sa.peer_id, sa.suite, sa.encap, sa.ext.client_kind
            )
        )
        if self.initial_contact:
            self.core.initial_contact(sa)

    def _vendor(self, message: Message) -> None:
        ext, names = vendor.recognise([v.data for v in message.all(VendorIdPayload)])
        self.sa.ext = ext
        if names:
            self.core.log.debug("%s vendor IDs: %s", self.sa.describe(), ", ".join(names))

    # -- initiator --------------------------------------------------------------------------
    def _initiator_methods(self) -> list[int]:
        """The methods we have credentials for, signatures before pre-shared keys."""
        methods = sorted(self.core.auth_methods(self.sa.remote), key=lambda m: m == AuthMethod.PRE_SHARED_KEY)
        if not methods:
            raise ValueError(f"no credentials to authenticate to {self.sa.remote[0]}")
        return methods

    def start(self, now: float) -> bytes:
        """MM1: SA with every configured suite, our vendor IDs."""
        settings = self.core.settings
        sa_payload = proposal.phase1_sa(
            settings.phase1_suites, self._initiator_methods(), settings.phase1_lifetime
        )
        self.sai_b = payload_body(sa_payload)
        self.sa.state = State.MM_SA_SENT
        return self._plain([sa_payload, *vendor.initiator_vids()])

    def _accept_choice(self, message: Message) -> proposal.Phase1Offer:
        """Initiator: the responder's SA must hold exactly one transform, one we offered (RFC 2408
        §4.2); then its vendor IDs and our authenticator for the chosen method."""
        sa_payload = message.first(SaPayload)
        if len(sa_payload.proposals) != 1 or len(sa_payload.proposals[0].transforms) != 1:
            raise IkeError(
                "responder returned more than one transform", field="SA", code=NotifyType.BAD_PROPOSAL_SYNTAX
            )
        offer = proposal.decode_phase1(sa_payload.proposals[0].transforms[0])
        if offer.suite not in self.core.settings.phase1_suites:
            raise IkeError(
                f"responder chose {offer.label()}, which we did not offer",
                field="SA",
                code=NotifyType.NO_PROPOSAL_CHOSEN,
            )
        self.choice = offer
        self._vendor(message)
        reason = self._choose_auth()
        if reason:
            raise IkeError(reason, field="auth", code=NotifyType.AUTHENTICATION_FAILED)
        return offer

    def _i_mm2(self, message: Message, now: float) -> list[bytes]:
        offer = self._accept_choice(message)
        assert offer.suite is not None
        self.dh = DhExchange(offer.suite.group, self.core.random)
        assert self.auth is not None
        return [
            self._plain(
                [
                    KePayload(self.dh.public),
                    NoncePayload(self.nonce),
                    *self.auth.requests(),
                    *self._natd_payloads(),
                ]
            )
        ]

    def _i_mm4(self, message: Message, now: float) -> list[bytes]:
        self._derive_keys(message)
        self._process_natd(message)
        if self.sa.encap:
            self.core.float_to_natt(self.sa)
        return [self.sa.encrypt(ExchangeType.IDENTITY_PROTECTION, 0, self._our_auth(None, message))]

    def _i_mm6(self, message: Message, now: float) -> list[bytes]:
        raw = message.raw(IdPayload)
        assert raw is not None
        self._authenticate_peer(raw.body, message)
        self._established(raw.payload, now)
        return []

    # -- responder --------------------------------------------------------------------------
    def _r_mm1(self, message: Message, now: float) -> list[bytes]:
        raw = message.raw(SaPayload)
        assert raw is not None
        self.sai_b = raw.body
        self._vendor(message)
        choice = self._select(raw.payload)
        if choice is None:
            return []
        return [self._plain([choice.sa_payload(), *vendor.responder_vids(self.sa.ext)])]

    def _select(self, sa_payload: SaPayload) -> proposal.Phase1Choice | None:
        """Choose the first of the peer's proposals we allow with a method we have credentials for
        (RFC 2409 §5); None when refused (logged and answered by the manager)."""
        methods = self.core.auth_methods(self.sa.remote, self._peer_id_hint())
        if not methods:
            self.core.refuse_phase1(
                self.sa, None, f"no pre-shared key (or other credential) for {self.sa.remote[0]}"
            )
            return None
        choice = proposal.select_phase1(sa_payload, self.core.settings.phase1_suites, methods)
        if isinstance(choice, proposal.Refusal):
            self.core.refuse_phase1(self.sa, choice)
            return None
        self.choice = choice.offer
        reason = self._choose_auth()
        if reason:
            raise IkeError(reason, field="auth", code=NotifyType.AUTHENTICATION_FAILED)
        return choice

    def _r_mm3(self, message: Message, now: float) -> list[bytes]:
        assert self.choice is not None and self.choice.suite is not None
        self.dh = DhExchange(self.choice.suite.group, self.core.random)
        self._derive_keys(message)
        self._process_natd(message)
        assert self.auth is not None
        self.auth.peer_requested([r.payload for r in message.payloads])
        return [
            self._plain(
                [
                    KePayload(self.dh.public),
                    NoncePayload(self.nonce),
                    *self.auth.requests(),
                    *self._natd_payloads(),
                ]
            )
        ]

    def _r_mm5(self, message: Message, now: float) -> list[bytes]:
        raw = message.raw(IdPayload)
        assert raw is not None
        self._authenticate_peer(raw.body, message)
        self._check_peer_id(raw.payload)
        self._note_initial_contact(message)
        out = self.sa.encrypt(ExchangeType.IDENTITY_PROTECTION, 0, self._our_auth(raw.payload, message))
        self._established(raw.payload, now)
        return [out]

    def _note_initial_contact(self, message: Message) -> None:
        notifies = message.all(NotifyPayload)
        self.initial_contact = any(n.notify_type == NotifyType.INITIAL_CONTACT for n in notifies)

    # -- dispatch ---------------------------------------------------------------------------
    def _move(self) -> tuple:
        move = self.transitions.get((self.sa.initiator, self.sa.state))
        if move is None:
            raise IkeError(f"{self.name} message in state {self.sa.state.value}", field="exchange")
        return move

    def check(self, message: Message) -> None:
        """Raise IkeError unless ``message`` carries what the next expected message must."""
        rules.check(self._move()[0], message)

    def receive(self, message: Message, now: float) -> list[bytes]:
        """Apply one message; returns datagrams to send.  Raises IkeError for a bad message."""
        rule, handler, next_state = self._move()
        rules.check(rule, message)
        before = self.sa.state
        out = handler(self, message, now)
        if self.sa.state == before:  # unless the handler ended the SA (refusal)
            self.sa.state = next_state
        return out


# (initiator?, state) -> (rule of the expected message, handler, state after)
TRANSITIONS = {
    (False, State.MM_START): ("main_mode_1", MainMode._r_mm1, State.MM_SA_SENT),
    (False, State.MM_SA_SENT): ("main_mode_3", MainMode._r_mm3, State.MM_KE_SENT),
    (False, State.MM_KE_SENT): ("main_mode_5", MainMode._r_mm5, State.ESTABLISHED),
    (True, State.MM_SA_SENT): ("main_mode_2", MainMode._i_mm2, State.MM_KE_SENT),
    (True, State.MM_KE_SENT): ("main_mode_4", MainMode._i_mm4, State.MM_AUTH_SENT),
    (True, State.MM_AUTH_SENT): ("main_mode_6", MainMode._i_mm6, State.ESTABLISHED),
}
MainMode.transitions = TRANSITIONS
# MM5 and MM6 are encrypted (RFC 2409 §5); the others must not be.
ENCRYPTED_STATES = {(False, State.MM_KE_SENT), (True, State.MM_AUTH_SENT)}
