"""Phase 1 authentication, pluggable per method (RFC 2409 §5): pre-shared keys here, X.509 RSA
signatures (method 3) in :mod:`ikel2tp.ike.certauth`.  The Main Mode task asks the authenticator
of the negotiated method for SKEYID, for our ID, for the certificate requests it sends, and for
the proof (HASH or CERT + SIG) it builds and verifies."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Protocol

from ikel2tp.ike import keymat
from ikel2tp.ike.constants import AuthMethod, NotifyType
from ikel2tp.ike.payloads import HashPayload, Payload


@dataclass(frozen=True)
class AuthContext:
    """What HASH_I/HASH_R (or SIG_I/SIG_R) cover, RFC 2409 §5."""

    hash_name: str
    skeyid: bytes = field(repr=False)
    gxi: bytes = field(repr=False)
    gxr: bytes = field(repr=False)
    cky_i: bytes
    cky_r: bytes
    sai_b: bytes = field(repr=False)

    def hash_of(self, id_b: bytes, initiator: bool) -> bytes:
        """HASH_I (``initiator``) or HASH_R over the ID body ``id_b`` (RFC 2409 §5)."""
        fn = keymat.hash_i if initiator else keymat.hash_r
        return fn(self.hash_name, self.skeyid, self.gxi, self.gxr, self.cky_i, self.cky_r, self.sai_b, id_b)


@dataclass(frozen=True)
class AuthRefusal:
    """Why the peer's proof was refused, in plain words, and the notify type to answer with
    (RFC 2408 §3.14.1)."""

    reason: str
    notify: int = NotifyType.AUTHENTICATION_FAILED
    field: str = "auth"


class Authenticator(Protocol):
    method: int

    def skeyid(self, hash_name: str, ni_b: bytes, nr_b: bytes, gxy: bytes) -> bytes:
        """SKEYID for this method (RFC 2409 §5)."""

    def identity(self) -> tuple[int, bytes] | None:
        """Our phase 1 ID (type, data) when the credential names one (a certificate's subject);
        None: the settings' ``local_id`` or our address."""

    def requests(self) -> list[Payload]:
        """Payloads asking the peer for its credential (CERTREQ); sent in MM3 / MM4."""

    def peer_requested(self, payloads: list[Payload]) -> None:
        """The peer's payloads of a message before our proof (its CERTREQs choose our certificate)."""

    def build(self, ctx: AuthContext, id_b: bytes, initiator: bool) -> list[Payload]:
        """Our authentication payloads (HASH, or CERT + SIG) for our ID body ``id_b``."""

    def verify(
        self, ctx: AuthContext, id_b: bytes, payloads: list[Payload], initiator: bool
    ) -> AuthRefusal | None:
        """None when the peer's payloads prove its ID ``id_b``; else why not.
        ``initiator`` tells whether the peer being verified is the initiator."""


class PskAuthenticator:
    """Pre-shared key authentication: SKEYID = prf(psk, Ni_b | Nr_b), proof by HASH_I / HASH_R."""

    method = AuthMethod.PRE_SHARED_KEY

    def __init__(self, psk: bytes) -> None:
        self._psk = psk

    def __repr__(self) -> str:
        return "PskAuthenticator(<secret>)"

    def skeyid(self, hash_name: str, ni_b: bytes, nr_b: bytes, gxy: bytes) -> bytes:
        return keymat.skeyid_psk(hash_name, self._psk, ni_b, nr_b)

    def identity(self) -> tuple[int, bytes] | None:
        return None

    def requests(self) -> list[Payload]:
        return []

    def peer_requested(self, payloads: list[Payload]) -> None:
        return None

    def build(self, ctx: AuthContext, id_b: bytes, initiator: bool) -> list[Payload]:
        return [HashPayload(ctx.hash_of(id_b, initiator))]

    def verify(
        self, ctx: AuthContext, id_b: bytes, payloads: list[Payload], initiator: bool
    ) -> AuthRefusal | None:
        hashes = [p for p in payloads if isinstance(p, HashPayload)]
        which = "HASH_I" if initiator else "HASH_R"
        if not hashes:
            return AuthRefusal(f"no {which} payload", NotifyType.PAYLOAD_MALFORMED, which)
        if not hmac.compare_digest(hashes[0].data, ctx.hash_of(id_b, initiator)):
            return AuthRefusal(f"the pre-shared key does not match ({which} did not verify)", field=which)
        return None
