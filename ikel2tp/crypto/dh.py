"""Diffie-Hellman groups for IKEv1: MODP (RFC 2409 §6, RFC 3526) and ECP (RFC 5903).

MODP groups use ``cryptography`` (OpenSSL) with cached parameters, and hand keys to it as DER:
our private value x (from ``random``, of the sizes RFC 3526 §8 recommends: about twice the
group's strength) as PKCS#8, the peer's public value as a SubjectPublicKeyInfo built on the
group's cached AlgorithmIdentifier.  Loading keys through ``DHPublicNumbers(...).public_key()``
instead makes OpenSSL re-validate the prime every time: 30-75 ms for the RFC 2409 primes it does
not know (MODP768/1024), the trap that would cap group 2 at ~30 handshakes/s.  Python's
three-argument ``pow`` (~1.7 ms for MODP1024, 5-25 ms for larger groups) was the other candidate;
tools/bench_ike.py prints the three side by side.  Peer values are checked: 1 < y < p-1.

ECP groups use ``cryptography``; the IKEv1 wire form (RFC 5903 §7, as for IKEv2) is x | y
without the 0x04 prefix, and the shared secret is the x coordinate only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh, ec

# Primes from RFC 2409 §6.1/6.2 (groups 1, 2) and RFC 3526 §2-5 (groups 5, 14, 15, 16); generator 2.
_MODP_768 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF"
)
_MODP_1024 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"
)
_MODP_1536 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF"
)
_MODP_2048 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF"
)
_MODP_3072 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
_MODP_4096 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6"
    "287C59474E6BC05D99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF"
)


@dataclass(frozen=True)
class ModpGroup:
    """A MODP group (generator 2) and the cached OpenSSL objects its exchanges reuse."""

    number: int
    prime: int
    exponent_bits: int

    @property
    def length(self) -> int:
        return (self.prime.bit_length() + 7) // 8

    @cached_property
    def numbers(self) -> dh.DHParameterNumbers:
        return dh.DHParameterNumbers(self.prime, 2)

    @cached_property
    def parameters(self) -> dh.DHParameters:
        return self.numbers.parameters()

    @cached_property
    def algorithm_identifier(self) -> bytes:
        """The DER AlgorithmIdentifier (OID and p, g) of this group's public keys."""
        spki = self.parameters.generate_private_key().public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        start = _der_header_length(spki)
        return spki[start : start + _der_header_length(spki[start:]) + _der_content_length(spki[start:])]

    def load_public(self, y: int) -> dh.DHPublicKey:
        """The peer's key from its value, without OpenSSL re-checking the prime (see above)."""
        spki = _der(0x30, self.algorithm_identifier + _der(0x03, b"\x00" + _der_integer(y)))
        key = serialization.load_der_public_key(spki)
        assert isinstance(key, dh.DHPublicKey)
        return key

    def load_private(self, x: int) -> dh.DHPrivateKey:
        """Our key from our private value x (PKCS#8: version 0, AlgorithmIdentifier, x)."""
        pkcs8 = _der(0x30, _der_integer(0) + self.algorithm_identifier + _der(0x04, _der_integer(x)))
        key = serialization.load_der_private_key(pkcs8, None)
        assert isinstance(key, dh.DHPrivateKey)
        return key


def _der_integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _der_header_length(tlv: bytes) -> int:
    return 2 if tlv[1] < 0x80 else 2 + (tlv[1] & 0x7F)


def _der_content_length(tlv: bytes) -> int:
    if tlv[1] < 0x80:
        return tlv[1]
    return int.from_bytes(tlv[2 : 2 + (tlv[1] & 0x7F)], "big")


@dataclass(frozen=True)
class EcpGroup:
    """An ECP group (RFC 5903): curve and coordinate length."""

    number: int
    curve: type[ec.EllipticCurve]
    coordinate_bytes: int

    @property
    def length(self) -> int:
        return 2 * self.coordinate_bytes


MODP_GROUPS: dict[int, ModpGroup] = {
    1: ModpGroup(1, int(_MODP_768, 16), 256),
    2: ModpGroup(2, int(_MODP_1024, 16), 256),
    5: ModpGroup(5, int(_MODP_1536, 16), 256),
    14: ModpGroup(14, int(_MODP_2048, 16), 320),
    15: ModpGroup(15, int(_MODP_3072, 16), 420),
    16: ModpGroup(16, int(_MODP_4096, 16), 480),
}
ECP_GROUPS: dict[int, EcpGroup] = {
    19: EcpGroup(19, ec.SECP256R1, 32),
    20: EcpGroup(20, ec.SECP384R1, 48),
}
SUPPORTED_GROUPS = frozenset(MODP_GROUPS) | frozenset(ECP_GROUPS)


class DhError(ValueError):
    """A peer's public value is invalid (wrong length, out of range, not on the curve).

    The IKE core turns it into INVALID-KEY-INFORMATION for the exchange that carried it.
    """


def public_length(group: int) -> int:
    """Length in bytes of a KE payload's key exchange data for ``group``."""
    if group in MODP_GROUPS:
        return MODP_GROUPS[group].length
    return ECP_GROUPS[group].length


class DhExchange:
    """One side of a Diffie-Hellman exchange: our public value now, the shared secret later."""

    __slots__ = ("group", "public", "_key")

    def __init__(self, group: int, random: Callable[[int], bytes], private: bytes | None = None) -> None:
        """``random`` draws MODP private values (tests seed it); ``private`` fixes the private
        value for known-answer tests.  ECP keys come from OpenSSL's generator."""
        self.group = group
        self._key: dh.DHPrivateKey | ec.EllipticCurvePrivateKey
        if group in MODP_GROUPS:
            modp = MODP_GROUPS[group]
            x = int.from_bytes(private, "big") if private else 0
            while x < 2:
                x = int.from_bytes(random(modp.exponent_bits // 8), "big")
            self._key = modp.load_private(x)
            self.public = self._key.public_key().public_numbers().y.to_bytes(modp.length, "big")
        elif group in ECP_GROUPS:
            ecp = ECP_GROUPS[group]
            if private is None:
                self._key = ec.generate_private_key(ecp.curve())
            else:
                self._key = ec.derive_private_key(int.from_bytes(private, "big"), ecp.curve())
            numbers = self._key.public_key().public_numbers()
            size = ecp.coordinate_bytes
            self.public = numbers.x.to_bytes(size, "big") + numbers.y.to_bytes(size, "big")
        else:
            raise ValueError(f"unsupported DH group {group}")

    def shared_secret(self, peer_public: bytes) -> bytes:
        """g^xy for MODP (padded to the prime's length), x of the shared point for ECP."""
        if isinstance(self._key, dh.DHPrivateKey):
            modp = MODP_GROUPS[self.group]
            if len(peer_public) != modp.length:
                raise DhError(f"KE data is {len(peer_public)} bytes, group {self.group} needs {modp.length}")
            y = int.from_bytes(peer_public, "big")
            if not 1 < y < modp.prime - 1:  # RFC 2631 §2.1.5 / NIST SP 800-56A range check
                raise DhError("peer's public value is outside 1 < y < p-1")
            secret = self._key.exchange(modp.load_public(y))
            return int.from_bytes(secret, "big").to_bytes(modp.length, "big")
        ecp = ECP_GROUPS[self.group]
        if len(peer_public) != ecp.length:
            raise DhError(f"KE data is {len(peer_public)} bytes, group {self.group} needs {ecp.length}")
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(ecp.curve(), b"\x04" + peer_public)
        except ValueError as exc:
            raise DhError("peer's public value is not a point on the curve") from exc
        return self._key.exchange(ec.ECDH(), peer)
