"""Key material against an independent IKEv1 implementation's published vectors (MODP1024) and
against a deliberately separate implementation of RFC 2409 written here from the RFC text, fed
with the RFC 5903 ECP384 test vector (x-only shared secret)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from ikel2tp.crypto.dh import DhExchange
from ikel2tp.ike import keymat

h = bytes.fromhex

# RUB-NDS/IPsec-StateMachineExtractor, src/test/java/.../ike/v1/IKEv1HandshakeSessionSecretsTest.java
# (PSK "AAAA", AES-128, SHA1, MODP1024; initiator's KE, responder's KE, SAi_b, IDir_b, g^xy given).
RUB = [
    {
        "cky_i": "7116900aa5c2880d",
        "cky_r": "047ad6f8b3d0abb7",
        "ni": "4654fdd74594982a",
        "nr": "3673e64987b4956dbb8b933399251a5abf88f557a723b802b345f838667e9a4e",
        "gxi": (
            "75fb75db0749d4b15d9bb067b63399f790246dd7919d0c0a88fc34dd76eb9ad204e162b261914c09"
            "66a2d32d05178d4c0f0ec3817692fca675678f2fd2a6869188b943e33ad44cc859a5af98d6d5332c"
            "538cff4174ee737c8624de910cc40bd953f7940d1b2d8a681cee03c85199fbe773bfa100ffea5fcb"
            "82eed25a399b0b3e"
        ),
        "gxr": (
            "2096a31ff922e5224d9d19f06a41e2d9aebe1180d4e5cbc3d6ea166e2b8810d5ddd048375025ae9b"
            "f895ad40c508cd8b9398bded0d00ae7e77c1a1eb31930495106892630152a926a45037606cda4651"
            "340082fc10558786b4d8c4e6d72222d580d9a30d9c3b7fe9c348a6eadc5e79a24fe4b4364297b5ff"
            "71914ef8a6980e73"
        ),
        "gxy": (
            "19B67B23EB5F792EC9D7E11D16501CA20F2A2D0B230D525CD824DFB16867B515DC2CE9560B20B214"
            "9BFB360C1662C26A5AD7FE1FAA86E66213238C80B2ED46CCB821BF5043093027EB6E32C71685A093"
            "306DF20C24190C7F93947FA21E56D10E4C5B7063B2B4DC1747F1DF0BD46975D1825EEDE335E3ACBA"
            "D71A063CECF866C7"
        ),
        "skeyid": "49856BC53F30DB8CE55F5BEFAE9E42431279550C",
        "d": "E5D7368180A8766F09C90CC9AC15182D3CD492EE",
        "a": "92DE109FE83047C95812B600820F1476CD24AA49",
        "e": "DE5D24679AD21491E63E2D7173017769CD7B9BC5",
        "ka": "DE5D24679AD21491E63E2D7173017769",
        "iv": "139568606DF1337CBCBC8FA7D201C8A8",
        "hash_r": "BA8C49CFD796BDC78E63FF6B5A858FC289DAD933",
    },
    {
        "cky_i": "dc3f1d7452b2c376",
        "cky_r": "5f17969262b7829b",
        "ni": "18eeeee5b29ef938",
        "nr": "cf6306dcc088a94c1983462f97a3128ecdefbe4a1925cffddedd526215648099",
        "gxi": (
            "a8b04c567a6bb3ab17da6a07f3f1667e6c70fb992ffe0a01dccc0877214c1936cc13a66aa97e4cd9"
            "ebfd61f6a7119859bba763255b54364d37a59f969d230f877cce6d77ca843e5f0cb24e354d51a429"
            "aabf75238f5a17ef5801f3b02d9f35dcd3562c35e6aeff67e9c71961f9313b6306c2c1adb428d6e7"
            "0e713f894d9b7eda"
        ),
        "gxr": (
            "7947cdf90ed5f07ca325c9c9e6de95a82e5728b2e1daf44866100723ad2bed0f09e8383cf89c7645"
            "c805c2942d4aebfa1b6c351a9666faa1f4988c3a557cb411a3b73fd3e094144e646ef5eb85118a61"
            "f06c6359e0f19b43a99720b49ae322155d462004be5e09140cfc843e0622c6735bc90ab730577fc3"
            "11b23b25a8d283fa"
        ),
        "gxy": (
            "9FC4267E99D40EE7AA19492615990548621EBED0AE925A0810C2F4BF30A100F6B13201BAC4595281"
            "E5F2FB6FAF56F9CDA292991B40B41A48CFBA7713140DE1784DBD525C0CB88A4D3B4B46D7CABD539C"
            "DD1E79EDE000420CFFE9ED8BCA0B2FE09208D9D3145F55F68CE0E3C6C479616B64F3EB451CD4CE26"
            "8310BCDC766BA8A2"
        ),
        "skeyid": "505E91CA4127FE30D9CAD15F6176E8C504D2D612",
        "d": "571D06B00EDA6D375310377F3B3E0994A936E0F2",
        "a": "1DE7B88B63DEEA0BB41374C6F9514F64B894E083",
        "e": "84FAF4DF7DCEC32AC45F13A485E732632160F596",
        "ka": "84FAF4DF7DCEC32AC45F13A485E73263",
        "iv": "0E09ED33BAC3584D1D10762A9BD026C1",
        "hash_r": "DDB2CF1067913E83EA6633B8B174BC8CE559B9D1",
        "mid": "d8029d42",
        "mid_iv": "0BF60ED4C34FEA8A12077A204DFD413F",
    },
]
SAI_B = (
    "00000001000000010000002c01010001000000240101000080010007800e0080800200028004000280030001800b0001800c7080"
)
IDIR_B = "010000000a00030a"


def test_phase1_against_published_vectors():
    for v in RUB:
        skeyid = keymat.skeyid_psk("sha1", b"AAAA", h(v["ni"]), h(v["nr"]))
        keys = keymat.derive_phase1(
            "sha1",
            "aes-cbc",
            16,
            16,
            skeyid,
            h(v["gxy"]),
            h(v["cky_i"]),
            h(v["cky_r"]),
            h(v["gxi"]),
            h(v["gxr"]),
        )
        assert skeyid == h(v["skeyid"])
        assert (keys.skeyid_d, keys.skeyid_a, keys.skeyid_e) == (h(v["d"]), h(v["a"]), h(v["e"]))
        assert keys.enc_key == h(v["ka"]) and keys.iv == h(v["iv"])
        hash_r = keymat.hash_r(
            "sha1", skeyid, h(v["gxi"]), h(v["gxr"]), h(v["cky_i"]), h(v["cky_r"]), h(SAI_B), h(IDIR_B)
        )
        assert hash_r == h(v["hash_r"])
        if "mid" in v:  # no phase 1 message encrypted yet: the last block is still the phase 1 IV
            iv = keymat.message_iv("sha1", keys.iv, int(v["mid"], 16), 16)
            assert iv == h(v["mid_iv"])


# -- a second, separate reading of RFC 2409 ------------------------------------------------------
def _prf(key: bytes, data: bytes, name: str) -> bytes:
    return hmac.new(key, data, getattr(hashlib, name)).digest()


def _reference(name, psk, ni, nr, gxy, ci, cr, gxi, gxr, key_len, spi, proto=3):
    """RFC 2409 §5 and §5.5 and App. B, written out longhand."""
    skeyid = _prf(psk, ni + nr, name)
    d = _prf(skeyid, gxy + ci + cr + bytes([0]), name)
    a = _prf(skeyid, d + gxy + ci + cr + bytes([1]), name)
    e = _prf(skeyid, a + gxy + ci + cr + bytes([2]), name)
    ka = b""
    block = b"\x00"
    if len(e) < key_len:
        while len(ka) < key_len:
            block = _prf(e, block, name)
            ka += block
    else:
        ka = e
    iv = getattr(hashlib, name)(gxi + gxr).digest()
    seed = bytes([proto]) + spi.to_bytes(4, "big") + ni + nr
    km, k = b"", b""
    while len(km) < 60:
        k = _prf(d, k + seed, name)
        km += k
    return {"d": d, "a": a, "e": e, "ka": ka[:key_len], "iv": iv[:16], "keymat": km[:60]}


def test_ecp384_keys_match_a_separate_reading_of_the_rfc():
    vectors = json.loads((Path(__file__).parent.parent / "crypto" / "vectors" / "dh.json").read_text())
    v = vectors["ecp384"]
    init, resp = DhExchange(20, None, h(v["priv_i"])), DhExchange(20, None, h(v["priv_r"]))
    gxy = resp.shared_secret(init.public)
    assert gxy == h(v["shared"]) and len(gxy) == 48  # RFC 5903: x coordinate only
    gxi, gxr = init.public, resp.public
    assert gxi == h(v["pub_i"])  # RFC 5903 §7: x | y without the 0x04 prefix
    ni, nr, ci, cr = b"n" * 32, b"N" * 32, b"c" * 8, b"C" * 8
    ref = _reference("sha1", b"psk", ni, nr, gxy, ci, cr, gxi, gxr, 32, 0x12345678)
    skeyid = keymat.skeyid_psk("sha1", b"psk", ni, nr)
    keys = keymat.derive_phase1("sha1", "aes-cbc", 32, 16, skeyid, gxy, ci, cr, gxi, gxr)
    assert (keys.skeyid_d, keys.skeyid_a, keys.skeyid_e) == (ref["d"], ref["a"], ref["e"])
    assert keys.enc_key == ref["ka"] and len(keys.enc_key) == 32  # extended: SHA1 gives 20 bytes
    assert keys.iv == ref["iv"]
    assert keymat.keymat("sha1", keys.skeyid_d, 3, 0x12345678, ni, nr, 60) == ref["keymat"]


def test_quick_mode_hashes_follow_the_rfc():
    a, mid = b"a" * 20, 0x01020304
    assert keymat.qm_hash1("sha1", a, mid, b"rest") == _prf(a, bytes([1, 2, 3, 4]) + b"rest", "sha1")
    assert keymat.qm_hash2("sha1", a, mid, b"ni", b"rest") == _prf(
        a, bytes([1, 2, 3, 4]) + b"ni" + b"rest", "sha1"
    )
    assert keymat.qm_hash3("sha1", a, mid, b"ni", b"nr") == _prf(a, bytes([0, 1, 2, 3, 4]) + b"ninr", "sha1")
    pfs = keymat.keymat("sha256", b"d" * 32, 3, 1, b"i", b"r", 40, b"G")
    k1 = _prf(b"d" * 32, b"G" + bytes([3, 0, 0, 0, 1]) + b"ir", "sha256")
    assert pfs == (k1 + _prf(b"d" * 32, k1 + b"G" + bytes([3, 0, 0, 0, 1]) + b"ir", "sha256"))[:40]
    assert (
        keymat.nat_d("sha1", b"i" * 8, b"r" * 8, bytes([192, 0, 2, 1]), 4500)
        == hashlib.sha1(b"i" * 8 + b"r" * 8 + bytes([192, 0, 2, 1, 0x11, 0x94])).digest()
    )


def test_signature_skeyid_follows_the_rfc():
    # RFC 2409 §5: for signatures SKEYID = prf(Ni_b | Nr_b, g^xy)
    expected = hmac.new(b"ninr", b"gxy", hashlib.sha256).digest()
    assert keymat.skeyid_sig("sha256", b"ni", b"nr", b"gxy") == expected
