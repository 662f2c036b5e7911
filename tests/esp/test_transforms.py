"""Per-transform round trips: ours both ways, and against the independent RFC reference."""

from __future__ import annotations

import os
import struct

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from esp_support import SUITE_IDS, SUITES, Keys, make_pair, open_, seal
from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.esp.errors import EspError
from ikel2tp.esp.packet import NextHeader
from ikel2tp.esp.transforms import CIPHERS, INTEGRITY, make_transform

SIZES = [0, 1, 13, 14, 15, 16, 17, 100, 1400]


def test_registry_covers_the_suite_vocabulary():
    from ikel2tp.ike.suites import ENCRYPTION, HASHES
    esp_ciphers = {name for name, _, _ in ENCRYPTION.values()} - {"des-cbc"}  # DES is not offered for ESP
    assert esp_ciphers <= set(CIPHERS)
    assert set(HASHES.values()) <= set(INTEGRITY)


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_ours(keys: Keys, size: int):
    a, b = make_pair(keys)
    for _ in range(3):  # running CBC state must carry over between packets
        payload = os.urandom(size)
        assert b.unprotect(a.protect(payload)) == (NextHeader.UDP, payload)
        assert a.unprotect(b.protect(payload)) == (NextHeader.UDP, payload)


@pytest.mark.parametrize("size", [0, 13, 1400])
def test_prefix_is_sent_before_the_payload(keys: Keys, size: int):
    """``protect(payload, prefix=header)``: the transform joins the pieces; the reference sees one
    plaintext, prefix first."""
    a, _ = make_pair(keys)
    payload, prefix = os.urandom(size), b"\x06\xa5\x06\xa5\x00\x10\x00\x00"
    packet = a.protect(payload, NextHeader.UDP, prefix)
    assert open_(keys.cipher, keys.enc_ab, keys.integrity, keys.auth_ab, packet) == (17, prefix + payload)


@pytest.mark.parametrize("size", SIZES)
def test_ours_decrypted_by_reference(keys: Keys, size: int):
    a, _ = make_pair(keys)
    for seq in (1, 2, 3):
        payload = os.urandom(size)
        packet = a.protect(payload)
        assert struct.unpack("!II", packet[:8]) == (0x2000, seq)
        assert open_(keys.cipher, keys.enc_ab, keys.integrity, keys.auth_ab, packet) == (17, payload)


@pytest.mark.parametrize("size", SIZES)
def test_reference_decrypted_by_ours(keys: Keys, size: int):
    _, b = make_pair(keys)
    iv_len = CIPHERS[keys.cipher].iv
    for seq in (1, 2, 7):
        payload = os.urandom(size)
        packet = seal(keys.cipher, keys.enc_ab, keys.integrity, keys.auth_ab, 0x2000, seq, payload, 17,
                      os.urandom(iv_len))
        assert b.unprotect(packet) == (17, payload)


def test_gcm_explicit_iv_is_the_sequence_number():
    keys = Keys("aes-gcm", 20, None, 0)
    a, _ = make_pair(keys)
    a.protect(b"x")
    assert a.protect(b"y")[8:16] == (2).to_bytes(8, "big")


def test_cbc_ivs_differ_per_packet():
    a, _ = make_pair(Keys("aes-cbc", 16, "sha1", 20))
    ivs = {a.protect(b"same")[8:24] for _ in range(50)}
    assert len(ivs) == 50


# RFC 3602 §4 test cases #1 and #2 (AES-128-CBC), fed through our decryption path with an HMAC added.
RFC3602 = [
    ("06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
     "e353779c1079aeb82708942dbe77181a", b"Single block msg"),
    ("c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
     "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1", bytes(range(32))),
]


@pytest.mark.parametrize("key,iv,ciphertext,plaintext", RFC3602)
def test_rfc3602_vectors(key, iv, ciphertext, plaintext):
    auth_key = bytes(20)
    transform = make_transform("aes-cbc", bytes.fromhex(key), "sha1", auth_key)
    body = struct.pack("!II", 1, 1) + bytes.fromhex(iv) + bytes.fromhex(ciphertext)
    mac = hmac.HMAC(auth_key, hashes.SHA1())
    mac.update(body)
    plain = transform.open(body + mac.finalize()[:12])
    assert plain[transform.skip :] == plaintext


@pytest.mark.parametrize("cipher,key,integrity,auth,match", [
    ("aes-cbc", 15, "sha1", 20, "16, 24, 32"),
    ("aes-cbc", 16, None, 0, "needs an integrity"),
    ("aes-cbc", 16, "sha1", 16, "needs 20"),
    ("aes-cbc", 16, "whirlpool", 16, "needs an integrity"),
    ("3des-cbc", 16, "sha1", 20, "24"),
    ("aes-gcm", 16, None, 0, "4-byte salt"),
    ("aes-gcm", 20, "sha1", 20, "AEAD"),
    ("des-cbc", 8, "sha1", 20, "unknown ESP cipher"),
])
def test_bad_parameters_named(cipher, key, integrity, auth, match):
    with pytest.raises(ValueError, match=match):
        make_transform(cipher, bytes(key), integrity, bytes(auth))


def test_sha256_truncation_override():
    """Peers with the Android SHA-256/96 bug: ``icv_bytes=12`` truncates to 96 bits."""
    enc, auth = os.urandom(16), os.urandom(32)
    out = make_transform("aes-cbc", enc, "sha256", auth, icv_bytes=12)
    inn = make_transform("aes-cbc", enc, "sha256", auth, icv_bytes=12)
    packet = out.seal(struct.pack("!II", 5, 1), 1, bytes(16))
    assert len(packet) == 8 + 16 + 16 + 12
    assert inn.open(packet)[inn.skip :] == bytes(16)


@pytest.mark.parametrize("suite", SUITES, ids=SUITE_IDS)
@settings(max_examples=25, deadline=None)
@given(payload=st.binary(max_size=300), next_header=st.integers(0, 255))
def test_round_trip_property(suite, payload, next_header):
    if next_header == NextHeader.NO_NEXT_HEADER:
        return
    a, b = make_pair(Keys(*suite))
    assert b.unprotect(a.protect(payload, next_header)) == (next_header, payload)


@pytest.mark.parametrize("suite", SUITES, ids=SUITE_IDS)
def test_wrong_key_is_an_icv_failure(suite):
    a, _ = make_pair(Keys(*suite))
    _, other = make_pair(Keys(*suite))
    with pytest.raises(EspError) as info:
        other.unprotect(a.protect(b"hello"))
    assert info.value.drop == "icv"
