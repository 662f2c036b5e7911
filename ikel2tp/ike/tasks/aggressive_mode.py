"""Aggressive Mode (RFC 2409 §5), both roles; accepted only when the settings allow it, because
it shows a hash of the pre-shared key to anyone who asks (offline guessing):

    Initiator                                      Responder
    HDR, SA, KE, Ni, IDii, VID...           -->                                    aggressive_1
                                            <--  HDR, SA, KE, Nr, IDir, HASH_R,    aggressive_2
                                                 VID..., NAT-D, NAT-D
    HDR[*], HASH_I [, NAT-D, NAT-D]         -->                                    aggressive_3

The third message may be encrypted (strongSwan encrypts it; others do not).  NAT-D payloads move
to messages 2 and 3 (RFC 3947 §3.2).  Key derivation and authentication are Main Mode's.
"""

from __future__ import annotations

from ikel2tp.crypto.dh import DhExchange
from ikel2tp.ike import proposal
from ikel2tp.ike.constants import AuthMethod, ExchangeType
from ikel2tp.ike.message import Header, Message, encode
from ikel2tp.ike.payloads import IdPayload, KePayload, NoncePayload, SaPayload, payload_body
from ikel2tp.ike.sa import State
from ikel2tp.ike.tasks import vendor
from ikel2tp.ike.tasks.main_mode import MainMode, describe_id


class AggressiveMode(MainMode):
    """The Aggressive Mode task of one IKE SA."""

    name = "Aggressive Mode"

    peer_id_body = b""  # responder: IDii_b from message 1, authenticated by message 3
    peer_id: IdPayload | None = None
    my_id_body = b""  # initiator: IDii_b, covered by our HASH_I in message 3

    def _plain(self, payloads: list) -> bytes:
        sa = self.sa
        return encode(Header(sa.icookie, sa.rcookie, 0, ExchangeType.AGGRESSIVE, 0, 0), payloads)

    def _peer_id_hint(self) -> str | None:
        """The responder knows the initiator's ID from message 1 (a per-ID pre-shared key)."""
        return describe_id(self.peer_id) if self.peer_id is not None and not self.sa.initiator else None

    # -- initiator --------------------------------------------------------------------------
    def start(self, now: float) -> bytes:
        settings = self.core.settings
        suites = settings.phase1_suites
        sa_payload = proposal.phase1_sa(suites[:1], [AuthMethod.PRE_SHARED_KEY], settings.phase1_lifetime)
        self.sai_b = payload_body(sa_payload)
        self.dh = DhExchange(suites[0].group, self.core.random)  # one KE: one group (RFC 2409 §5)
        self.sa.state = State.MM_SA_SENT
        my_id = self._our_id(None)
        self.my_id_body = payload_body(my_id)
        return self._plain(
            [sa_payload, KePayload(self.dh.public), NoncePayload(self.nonce), my_id, *vendor.initiator_vids()]
        )

    def _i_am2(self, message: Message, now: float) -> list[bytes]:
        self._accept_choice(message)
        self._derive_keys(message)
        raw = message.raw(IdPayload)
        assert raw is not None
        self._authenticate_peer(raw.body, message)
        self._process_natd(message)
        assert self.auth is not None
        out = self._plain([*self.auth.build(self._ctx(), self.my_id_body, True), *self._natd_payloads()])
        if self.sa.encap:
            self.core.float_to_natt(self.sa)
        self._established(raw.payload, now)
        return [out]

    # -- responder --------------------------------------------------------------------------
    def _r_am1(self, message: Message, now: float) -> list[bytes]:
        raw_sa, raw_id = message.raw(SaPayload), message.raw(IdPayload)
        assert raw_sa is not None and raw_id is not None
        self.sai_b = raw_sa.body
        self.peer_id_body, self.peer_id = raw_id.body, raw_id.payload
        self._check_peer_id(raw_id.payload)
        self._vendor(message)
        choice = self._select(raw_sa.payload)
        if choice is None:
            return []
        assert choice.offer.suite is not None
        self.dh = DhExchange(choice.offer.suite.group, self.core.random)
        self._derive_keys(message)
        self.core.log.warning(
            "Aggressive Mode with %s: its pre-shared key hash is exposed to offline "
            "guessing; prefer Main Mode",
            self.sa.describe(),
        )
        return [
            self._plain(
                [
                    choice.sa_payload(),
                    KePayload(self.dh.public),
                    NoncePayload(self.nonce),
                    *self._our_auth(self.peer_id, message),
                    *vendor.responder_vids(self.sa.ext),
                    *self._natd_payloads(),
                ]
            )
        ]

    def _r_am3(self, message: Message, now: float) -> list[bytes]:
        self._authenticate_peer(self.peer_id_body, message)
        self._process_natd(message)
        self._note_initial_contact(message)
        assert self.peer_id is not None
        self._established(self.peer_id, now)
        return []


# (initiator?, state) -> (rule of the expected message, handler, state after)
AM_TRANSITIONS = {
    (False, State.MM_START): ("aggressive_1", AggressiveMode._r_am1, State.MM_KE_SENT),
    (False, State.MM_KE_SENT): ("aggressive_3", AggressiveMode._r_am3, State.ESTABLISHED),
    (True, State.MM_SA_SENT): ("aggressive_2", AggressiveMode._i_am2, State.ESTABLISHED),
}
AggressiveMode.transitions = AM_TRANSITIONS
