"""PRF, key expansion and the CBC ciphers against published vectors."""

from __future__ import annotations

import hashlib
import hmac

from ikel2tp.crypto.ciphers import cbc_decrypt, cbc_encrypt
from ikel2tp.crypto.prf import extend_key, hash_, prf, prf_plus


def test_prf_is_hmac_rfc2202():
    # RFC 2202 test case 2 (HMAC-SHA1, key "Jefe")
    assert (
        prf("sha1", b"Jefe", b"what do ya want for nothing?").hex()
        == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
    )
    assert prf("md5", b"Jefe", b"what do ya want for nothing?").hex() == "750c783e6ab0b503eaa86e310a5db738"
    assert hash_("sha256", b"abc").hex().startswith("ba7816bf")


def test_key_extension_rfc2409_appendix_b():
    e = bytes(range(20))
    k1 = hmac.new(e, b"\x00", hashlib.sha1).digest()
    k2 = hmac.new(e, k1, hashlib.sha1).digest()
    assert extend_key("sha1", e, 32) == (k1 + k2)[:32]
    assert extend_key("sha1", e, 16) == e[:16]  # long enough: the leading bytes
    seed = b"seed"
    a1 = hmac.new(e, seed, hashlib.sha1).digest()
    a2 = hmac.new(e, a1 + seed, hashlib.sha1).digest()
    assert prf_plus("sha1", e, seed, 30) == (a1 + a2)[:30]


def test_aes_cbc_sp800_38a():
    # NIST SP 800-38A F.2.1 CBC-AES128.Encrypt, first block
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    iv = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    plain = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    cipher = cbc_encrypt("aes-cbc", key, iv, plain)
    assert cipher.hex() == "7649abac8119b246cee98e9b12e9197d"
    assert cbc_decrypt("aes-cbc", key, iv, cipher) == plain


def test_3des_cbc_round_trip():
    key = bytes(range(24))
    data = bytes(range(32))
    sealed = cbc_encrypt("3des-cbc", key, bytes(8), data)
    assert sealed != data and cbc_decrypt("3des-cbc", key, bytes(8), sealed) == data


def test_des_cbc_is_single_des():
    # FIPS 81 / NBS test: key 0123456789abcdef, "Now is t" -> 3fa40e8a984d4815 (ECB = CBC with zero IV)
    key = bytes.fromhex("0123456789abcdef")
    assert cbc_encrypt("des-cbc", key, bytes(8), b"Now is t").hex() == "3fa40e8a984d4815"
