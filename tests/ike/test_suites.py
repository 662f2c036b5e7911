import pytest

from ikel2tp.ike.suites import (
    DEFAULT_PHASE1,
    DEFAULT_PHASE2,
    Phase1Suite,
    Phase2Suite,
    parse_phase1,
    parse_phase2,
    weak_parts,
)


def test_phase1_parse_and_str():
    suite = parse_phase1("aes256-sha1-modp2048")
    assert suite == Phase1Suite("aes-cbc", 256, "sha1", 14)
    assert str(suite) == "aes256-sha1-modp2048"
    assert str(parse_phase1("3DES-SHA-modp1024")) == "3des-sha1-modp1024"


def test_phase2_parse_and_str():
    assert parse_phase2("aes128-sha1") == Phase2Suite("aes-cbc", 128, "sha1", None)
    gcm = parse_phase2("aes256gcm16")
    assert (gcm.cipher, gcm.integrity, gcm.icv_bytes) == ("aes-gcm", None, 16)
    assert str(parse_phase2("aes128-sha256-modp2048")) == "aes128-sha256-modp2048"


@pytest.mark.parametrize("text, words", [
    ("aes256-sha1", "cipher-hash-dhgroup"),
    ("blowfish-sha1-modp2048", "unknown cipher"),
    ("aes256-sha1-modp999", "unknown DH group"),
    ("aes128gcm16-sha1-modp2048", "AEAD"),
])
def test_phase1_errors_say_what_is_allowed(text, words):
    with pytest.raises(ValueError, match=words):
        parse_phase1(text)


@pytest.mark.parametrize("text", ["aes128", "aes128gcm16-sha1", "aes128-sha1-bogus", "nope-sha1"])
def test_phase2_errors(text):
    with pytest.raises(ValueError):
        parse_phase2(text)


def test_defaults_parse_and_weakness():
    assert all(parse_phase1(s) for s in DEFAULT_PHASE1)
    assert all(parse_phase2(s) for s in DEFAULT_PHASE2)
    assert weak_parts(parse_phase1("des-md5-modp768")) == ["des-cbc", "md5", "modp768"]
    assert not any(weak_parts(parse_phase1(s)) for s in DEFAULT_PHASE1)
