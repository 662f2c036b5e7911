"""Phase 1 authentication, pluggable per method (RFC 2409 §5): PSK here; X.509 RSA signatures
(method 3) implement the same interface in a later module."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Protocol

from ikel2tp.ike import keymat
from ikel2tp.ike.constants import AuthMethod
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


class Authenticator(Protocol):
    method: int

    def skeyid(self, hash_name: str, ni_b: bytes, nr_b: bytes, gxy: bytes) -> bytes:
        """SKEYID for this method (RFC 2409 §5)."""

    def build(self, ctx: AuthContext, id_b: bytes, initiator: bool) -> list[Payload]:
        """Our authentication payloads (HASH, or CERT + SIG) for our ID body ``id_b``."""

    def verify(self, ctx: AuthContext, id_b: bytes, payloads: list[Payload], initiator: bool) -> str | None:
        """None when the peer's payloads prove its ID ``id_b``; else the reason in plain words.
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

    def _hash(self, ctx: AuthContext, id_b: bytes, initiator: bool) -> bytes:
        fn = keymat.hash_i if initiator else keymat.hash_r
        return fn(ctx.hash_name, ctx.skeyid, ctx.gxi, ctx.gxr, ctx.cky_i, ctx.cky_r, ctx.sai_b, id_b)

    def build(self, ctx: AuthContext, id_b: bytes, initiator: bool) -> list[Payload]:
        return [HashPayload(self._hash(ctx, id_b, initiator))]

    def verify(self, ctx: AuthContext, id_b: bytes, payloads: list[Payload], initiator: bool) -> str | None:
        hashes = [p for p in payloads if isinstance(p, HashPayload)]
        which = "HASH_I" if initiator else "HASH_R"
        if not hashes:
            return f"no {which} payload"
        if not hmac.compare_digest(hashes[0].data, self._hash(ctx, id_b, initiator)):
            return f"the pre-shared key does not match ({which} did not verify)"
        return None
