"""RSA PKCS#1 v1.5 type 1 signing without DigestInfo (RFC 2409 §5.1) through libcrypto, against
the pure-Python path and cryptography's public-key recovery."""

from __future__ import annotations

from functools import cache

import pytest
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ikel2tp.certs import verify
from ikel2tp.crypto import rsa_raw


@cache
def key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, bits)


@pytest.mark.parametrize("bits", [2048, 3072])
@pytest.mark.parametrize("size", [16, 20, 32, 48, 64])
def test_native_equals_python_and_recovers(bits, size):
    signer = rsa_raw.load_native(key(bits))
    assert signer is not None, "the system libcrypto.so.3 should load on this host"
    data = bytes(range(size))
    signature = signer.sign(data)
    assert signature == verify.sign_hash_python(key(bits), data)
    assert key(bits).public_key().recover_data_from_signature(signature, padding.PKCS1v15(), None) == data


def test_too_long_input_is_refused():
    signer = rsa_raw.load_native(key(2048))
    with pytest.raises(ValueError, match="do not fit"):
        signer.sign(bytes(256 - 10))


def test_sign_hash_falls_back_to_python_without_libcrypto(monkeypatch):
    monkeypatch.setattr(rsa_raw, "_libcrypto", lambda: None)
    monkeypatch.setattr(verify, "_native_signers", type(verify._native_signers)())
    monkeypatch.setattr(verify, "load_native", rsa_raw.load_native)
    calls = []
    real = verify.sign_hash_python
    monkeypatch.setattr(verify, "sign_hash_python", lambda *a: calls.append(1) or real(*a))
    data = b"\x42" * 32
    signature = verify.sign_hash(key(2048), data)
    assert calls == [1]
    assert key(2048).public_key().recover_data_from_signature(signature, padding.PKCS1v15(), None) == data
