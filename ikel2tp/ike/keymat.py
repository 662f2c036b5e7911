"""IKEv1 key material (RFC 2409 §5, §5.5 and Appendix B).  Each formula is written beside its code.

``prf`` is HMAC with the negotiated hash; ``hash`` its plain hash.  All ``*_b`` arguments are payload
bodies without the generic header, as RFC 2409 §5 defines them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ikel2tp.crypto.prf import extend_key, hash_, prf, prf_plus


def skeyid_psk(hash_name: str, psk: bytes, ni_b: bytes, nr_b: bytes) -> bytes:
    # RFC 2409 §5: for pre-shared keys: SKEYID = prf(pre-shared-key, Ni_b | Nr_b)
    return prf(hash_name, psk, ni_b + nr_b)


def skeyid_sig(hash_name: str, ni_b: bytes, nr_b: bytes, gxy: bytes) -> bytes:
    # RFC 2409 §5: for signatures: SKEYID = prf(Ni_b | Nr_b, g^xy)
    return prf(hash_name, ni_b + nr_b, gxy)


@dataclass(frozen=True)
class Phase1Keys:
    """SKEYID and its three derivatives, the ISAKMP encryption key and the phase 1 IV."""

    hash_name: str
    cipher: str
    skeyid: bytes = field(repr=False)
    skeyid_d: bytes = field(repr=False)
    skeyid_a: bytes = field(repr=False)
    skeyid_e: bytes = field(repr=False)
    enc_key: bytes = field(repr=False)
    iv: bytes = field(repr=False)


def derive_phase1(
    hash_name: str,
    cipher: str,
    key_bytes: int,
    block: int,
    skeyid: bytes,
    gxy: bytes,
    cky_i: bytes,
    cky_r: bytes,
    gxi: bytes,
    gxr: bytes,
) -> Phase1Keys:
    # RFC 2409 §5:
    #   SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
    #   SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
    #   SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
    d = prf(hash_name, skeyid, gxy + cky_i + cky_r + b"\x00")
    a = prf(hash_name, skeyid, d + gxy + cky_i + cky_r + b"\x01")
    e = prf(hash_name, skeyid, a + gxy + cky_i + cky_r + b"\x02")
    # RFC 2409 App. B: the key is the first bytes of SKEYID_e, extended Ka = K1 | K2 | ... when short.
    enc_key = extend_key(hash_name, e, key_bytes)
    # RFC 2409 App. B: phase 1 IV = hash(g^xi | g^xr), truncated to the cipher's block size.
    iv = hash_(hash_name, gxi + gxr)[:block]
    return Phase1Keys(hash_name, cipher, skeyid, d, a, e, enc_key, iv)


def hash_i(
    hash_name: str,
    skeyid: bytes,
    gxi: bytes,
    gxr: bytes,
    cky_i: bytes,
    cky_r: bytes,
    sai_b: bytes,
    idii_b: bytes,
) -> bytes:
    # RFC 2409 §5: HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
    return prf(hash_name, skeyid, gxi + gxr + cky_i + cky_r + sai_b + idii_b)


def hash_r(
    hash_name: str,
    skeyid: bytes,
    gxi: bytes,
    gxr: bytes,
    cky_i: bytes,
    cky_r: bytes,
    sai_b: bytes,
    idir_b: bytes,
) -> bytes:
    # RFC 2409 §5: HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)
    return prf(hash_name, skeyid, gxr + gxi + cky_r + cky_i + sai_b + idir_b)


def message_iv(hash_name: str, last_phase1_block: bytes, message_id: int, block: int) -> bytes:
    # RFC 2409 App. B: the IV of a Quick Mode or Informational exchange is
    # hash(last phase 1 CBC output block | M-ID), truncated to the block size.
    return hash_(hash_name, last_phase1_block + message_id.to_bytes(4, "big"))[:block]


def qm_hash1(hash_name: str, skeyid_a: bytes, message_id: int, rest: bytes) -> bytes:
    # RFC 2409 §5.5: HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [ | KE ] [ | IDci | IDcr ])
    # ("rest" is every payload after HASH, generic headers included).  The same form protects
    # Informational exchanges (§5.7): HASH(1) = prf(SKEYID_a, M-ID | N/D).
    return prf(hash_name, skeyid_a, message_id.to_bytes(4, "big") + rest)


def qm_hash2(hash_name: str, skeyid_a: bytes, message_id: int, ni_b: bytes, rest: bytes) -> bytes:
    # RFC 2409 §5.5: HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [ | KE ] [ | IDci | IDcr ])
    return prf(hash_name, skeyid_a, message_id.to_bytes(4, "big") + ni_b + rest)


def qm_hash3(hash_name: str, skeyid_a: bytes, message_id: int, ni_b: bytes, nr_b: bytes) -> bytes:
    # RFC 2409 §5.5: HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)
    return prf(hash_name, skeyid_a, b"\x00" + message_id.to_bytes(4, "big") + ni_b + nr_b)


def keymat(
    hash_name: str,
    skeyid_d: bytes,
    protocol: int,
    spi: int,
    ni_b: bytes,
    nr_b: bytes,
    length: int,
    gxy: bytes | None = None,
) -> bytes:
    # RFC 2409 §5.5:
    #   KEYMAT = prf(SKEYID_d, [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b)
    #   expanded as K1 | K2 | ..., K(n+1) = prf(SKEYID_d, Kn | [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b)
    # The SPI is the one of the SA being keyed: ours for the inbound SA, the peer's for the outbound.
    seed = (gxy or b"") + bytes([protocol]) + spi.to_bytes(4, "big") + ni_b + nr_b
    return prf_plus(hash_name, skeyid_d, seed, length)


def nat_d(hash_name: str, cky_i: bytes, cky_r: bytes, address: bytes, port: int) -> bytes:
    # RFC 3947 §3.2: HASH = HASH(CKY-I | CKY-R | IP | Port), with the negotiated hash.
    return hash_(hash_name, cky_i + cky_r + address + port.to_bytes(2, "big"))
