"""The RSA private operation with PKCS#1 v1.5 block type 1 padding and no DigestInfo (RFC 8017
§9.2 EMSA-PKCS1-v1_5 without step 2; what RFC 2409 §5.1 calls "PKCS #1 encrypted" HASH_I/HASH_R),
done by the system OpenSSL.

``cryptography`` signs only with a DigestInfo, so IKEv1 signatures need another way to the private
key.  :class:`NativeRsaSigner` calls ``EVP_PKEY_sign`` of ``libcrypto.so.3`` through ctypes with
``RSA_PKCS1_PADDING`` and no digest set, which is exactly that operation (OpenSSL's
``RSA_private_encrypt``): constant-time, blinded, CRT, without the GIL held.  The padding is
deterministic, so the result equals any other correct implementation byte for byte.
:func:`load_native` returns None when libcrypto cannot be loaded; callers then fall back to the
pure-Python path in :func:`ikel2tp.certs.verify.sign_hash`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

RSA_PKCS1_PADDING = 1
_LIBRARY_NAMES = ("libcrypto.so.3", ctypes.util.find_library("crypto"))


class _Libcrypto:
    """The few libcrypto functions used, with their C signatures."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        self.d2i_AutoPrivateKey = self._fn(
            lib, "d2i_AutoPrivateKey", vp, [vp, ctypes.POINTER(vp), ctypes.c_long]
        )
        self.EVP_PKEY_free = self._fn(lib, "EVP_PKEY_free", None, [vp])
        self.EVP_PKEY_CTX_new = self._fn(lib, "EVP_PKEY_CTX_new", vp, [vp, vp])
        self.EVP_PKEY_CTX_free = self._fn(lib, "EVP_PKEY_CTX_free", None, [vp])
        self.EVP_PKEY_sign_init = self._fn(lib, "EVP_PKEY_sign_init", ctypes.c_int, [vp])
        self.EVP_PKEY_CTX_set_rsa_padding = self._fn(
            lib, "EVP_PKEY_CTX_set_rsa_padding", ctypes.c_int, [vp, ctypes.c_int]
        )
        self.EVP_PKEY_sign = self._fn(
            lib, "EVP_PKEY_sign", ctypes.c_int, [vp, ctypes.c_char_p, ctypes.POINTER(sz), ctypes.c_char_p, sz]
        )
        self.ERR_clear_error = self._fn(lib, "ERR_clear_error", None, [])

    @staticmethod
    def _fn(lib: ctypes.CDLL, name: str, restype, argtypes: list):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
        return fn


@cache
def _libcrypto() -> _Libcrypto | None:
    for name in _LIBRARY_NAMES:
        if not name:
            continue
        try:
            return _Libcrypto(ctypes.CDLL(name))
        except (OSError, AttributeError):  # missing library, or an OpenSSL before 3.0
            continue
    return None


class NativeRsaSigner:
    """One RSA private key loaded into libcrypto (an ``EVP_PKEY``), freed with the object."""

    def __init__(self, lib: _Libcrypto, key: rsa.RSAPrivateKey) -> None:
        self._lib = lib
        self.size = (key.key_size + 7) // 8
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        buf = ctypes.create_string_buffer(der, len(der))
        pointer = ctypes.c_void_p(ctypes.addressof(buf))
        self._pkey = lib.d2i_AutoPrivateKey(None, ctypes.byref(pointer), len(der))
        ctypes.memset(buf, 0, len(der))  # the key's only other copy in our memory
        if not self._pkey:
            lib.ERR_clear_error()
            raise ValueError("libcrypto could not load the RSA private key")

    def __repr__(self) -> str:
        return f"NativeRsaSigner({self.size * 8}-bit key)"

    def __del__(self) -> None:
        pkey, self._pkey = getattr(self, "_pkey", None), None
        if pkey:
            self._lib.EVP_PKEY_free(pkey)

    def sign(self, data: bytes) -> bytes:
        """S = (00 01 FF..FF 00 || data)^d mod n, ``len(data)`` at most size - 11."""
        if len(data) > self.size - 11:
            raise ValueError(f"{len(data)} bytes do not fit a PKCS#1 block of a {self.size * 8}-bit key")
        lib = self._lib
        out = ctypes.create_string_buffer(self.size)
        length = ctypes.c_size_t(self.size)
        ctx = lib.EVP_PKEY_CTX_new(self._pkey, None)  # one per call: signing threads never share one
        if not ctx:
            raise MemoryError("EVP_PKEY_CTX_new failed")
        try:
            ok = (
                lib.EVP_PKEY_sign_init(ctx) == 1
                and lib.EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1
                and lib.EVP_PKEY_sign(ctx, out, ctypes.byref(length), data, len(data)) == 1
            )
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
        if not ok or length.value != self.size:
            lib.ERR_clear_error()
            raise RuntimeError("libcrypto EVP_PKEY_sign failed")
        return out.raw


def load_native(key: rsa.RSAPrivateKey) -> NativeRsaSigner | None:
    """A libcrypto signer for ``key``, or None when the system libcrypto cannot be used."""
    lib = _libcrypto()
    if lib is None:
        return None
    try:
        return NativeRsaSigner(lib, key)
    except ValueError:
        return None
