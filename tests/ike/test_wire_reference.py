"""An independent reading of a real exchange: the bytes our initiator and responder put on the
wire are decrypted and checked with RFC 2409 formulas written longhand here (no ikel2tp codec,
IV or key code), for an ECP and a MODP group.  Only g^xy comes from ikel2tp's DH (itself checked
against the RFC 5903 and strongSwan vectors in tests/crypto)."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ikel2tp.ike.events import ChildSaEstablished
from ikel2tp.ike.settings import IkeSettings
from tests.ike.peers import Pair

PSK = b"reference psk"


def chain(data: bytes, first: int) -> list[tuple[int, bytes, bytes]]:
    """(type, body, whole payload) along a payload chain; padding after the last is ignored."""
    out, kind, pos = [], first, 0
    while kind:
        nxt, length = data[pos], struct.unpack_from("!H", data, pos + 2)[0]
        out.append((kind, data[pos + 4 : pos + length], data[pos : pos + length]))
        kind, pos = nxt, pos + length
    return out


def prf(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha1).digest()


def aes_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return d.update(data) + d.finalize()


@pytest.mark.parametrize("group", ["ecp256", "modp2048"])
def test_exchange_decrypts_with_reference_keys(group):
    s = IkeSettings(psk=PSK, phase1=(f"aes128-sha1-{group}",), phase2=("aes128-sha1",))
    pair = Pair(s, s)
    pair.start()
    pair.pump()
    child = pair.events("server", ChildSaEstablished)[0].child
    c2s = [d for direction, d in pair.wire if direction == "c2s"]
    s2c = [d for direction, d in pair.wire if direction == "s2c"]
    ci, cr = c2s[1][:8], c2s[1][8:16]
    sai_b = chain(c2s[0][28:], c2s[0][16])[0][1]
    p3 = {k: b for k, b, _ in chain(c2s[1][28:], c2s[1][16])}
    p4 = {k: b for k, b, _ in chain(s2c[1][28:], s2c[1][16])}
    gxi, ni, gxr, nr = p3[4], p3[10], p4[4], p4[10]
    gxy = pair.server.ike_sas()[0].main_mode.dh.shared_secret(gxi)

    # RFC 2409 §5 and App. B, longhand
    skeyid = prf(PSK, ni + nr)
    d = prf(skeyid, gxy + ci + cr + b"\0")
    a = prf(skeyid, d + gxy + ci + cr + b"\1")
    e = prf(skeyid, a + gxy + ci + cr + b"\2")
    key, iv = e[:16], hashlib.sha1(gxi + gxr).digest()[:16]

    mm5 = c2s[2]
    assert mm5[19] & 1 and struct.unpack_from("!I", mm5, 24)[0] == len(mm5)
    plain = aes_decrypt(key, iv, mm5[28:])
    (t_id, idii_b, _), (t_hash, hash_i, _) = chain(plain, mm5[16])
    assert (t_id, t_hash) == (5, 8)
    assert hash_i == prf(skeyid, gxi + gxr + ci + cr + sai_b + idii_b)

    mm6 = s2c[2]
    plain = aes_decrypt(key, mm5[-16:], mm6[28:])
    (_, idir_b, _), (_, hash_r, _) = chain(plain, mm6[16])
    assert hash_r == prf(skeyid, gxr + gxi + cr + ci + sai_b + idir_b)

    qm1 = c2s[3]
    mid = qm1[20:24]
    plain = aes_decrypt(key, hashlib.sha1(mm6[-16:] + mid).digest()[:16], qm1[28:])
    payloads = chain(plain, qm1[16])
    rest = b"".join(whole for _, _, whole in payloads[1:])
    assert payloads[0][1] == prf(a, mid + rest)  # HASH(1)
    qm_ni = [b for k, b, _ in payloads if k == 10][0]

    qm2 = s2c[3]
    plain = aes_decrypt(key, qm1[-16:], qm2[28:])
    payloads = chain(plain, qm2[16])
    rest = b"".join(whole for _, _, whole in payloads[1:])
    assert payloads[0][1] == prf(a, mid + qm_ni + rest)  # HASH(2)
    sa_body = [b for k, b, _ in payloads if k == 1][0]
    spi_r = sa_body[8 + 8 : 8 + 12]  # DOI, situation, proposal header (4 + 4), then the 4-byte SPI
    qm_nr = [b for k, b, _ in payloads if k == 10][0]
    assert int.from_bytes(spi_r, "big") == child.spi_in

    qm3 = c2s[4]
    plain = aes_decrypt(key, qm2[-16:], qm3[28:])
    assert chain(plain, qm3[16])[0][1] == prf(a, b"\0" + mid + qm_ni + qm_nr)  # HASH(3)

    # RFC 2409 §5.5 KEYMAT for the responder's inbound SA: AES-128 key then HMAC-SHA1 key
    seed = b"\3" + spi_r + qm_ni + qm_nr
    k1 = prf(d, seed)
    k2 = prf(d, k1 + seed)
    keymat = (k1 + k2)[:36]
    assert child.enc_key_in == keymat[:16] and child.auth_key_in == keymat[16:]
