"""X.509 checks for IKEv1 signature authentication (RFC 2409 §5.1, RFC 4945), without I/O.

The IKE core calls these with the CERT payloads' DER, the configured CA certificates and CRLs and
the wall-clock time (certificate validity is calendar time, so the shell passes ``datetime``, not
the monotonic ``now`` of the cores).  Every refusal is a :class:`CertError` whose reason names the
problem in plain words and whose ``code`` is the ISAKMP notify type to answer with.

The chain walk is manual rather than ``cryptography.x509.verification``: that verifier implements
the Web PKI profile (mandatory SAN and EKU rules for TLS, no CRLs), while IKE needs RFC 4945 rules
(EKU optional, DN identities) and CRL checking.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID, ObjectIdentifier

from ikel2tp.certs.errors import CertError, CertNotify
from ikel2tp.certs.profiles import IKE_INTERMEDIATE
from ikel2tp.certs.report import key_text, key_usages
from ikel2tp.crypto.rsa_raw import NativeRsaSigner, load_native

MAX_INTERMEDIATES = 4
MIN_RSA_BITS = 2048

# Critical extensions this validator understands; any other critical extension refuses the
# certificate (RFC 5280 §4.2).
_UNDERSTOOD = {ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
               ExtensionOID.SUBJECT_ALTERNATIVE_NAME}

# RFC 4945 §5.1.3.12: a critical EKU must allow IKE use.
_IKE_EKUS = {ExtendedKeyUsageOID.IPSEC_IKE, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
             ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH, IKE_INTERMEDIATE}


class IdType(IntEnum):
    """IPsec DOI identification types that can name a certificate (RFC 2407 §4.6.2.1)."""

    ID_IPV4_ADDR = 1
    ID_FQDN = 2
    ID_USER_FQDN = 3
    ID_IPV6_ADDR = 5
    ID_DER_ASN1_DN = 9


@dataclass(frozen=True)
class VerifiedPeer:
    """A validated chain: ``chain[0]`` is the peer's certificate, ``chain[-1]`` the trust anchor."""

    chain: tuple[x509.Certificate, ...]

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def trust_anchor(self) -> x509.Certificate:
        return self.chain[-1]

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()


def display_name(cert: x509.Certificate) -> str:
    """The CN of a certificate, or its whole subject when it has none."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def load_der_certificate(der: bytes, field: str = "CERT") -> x509.Certificate:
    """A CERT payload's body (encoding 4, X.509 Certificate - Signature: DER, RFC 2408 §3.9)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        # cryptography parses these lazily: parse them now so a bad field fails here, not later.
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
        list(cert.extensions)
    except (ValueError, KeyError, x509.DuplicateExtension) as exc:  # KeyError: rfc4514_string of an empty RDN
        raise CertError(f"{field} payload is not a DER X.509 certificate ({len(der)} bytes)",
                        code=CertNotify.INVALID_CERT_ENCODING, field=field) from exc
    try:
        cert.public_key()
        cert.signature_hash_algorithm  # noqa: B018 - raises for an unknown signature algorithm
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CertError(f"{field} payload has an unsupported key or signature algorithm",
                        code=CertNotify.CERT_TYPE_UNSUPPORTED, field=field) from exc
    return cert


def verify_peer_chain(end_entity_der: bytes, intermediates_der: Sequence[bytes],
                      trust_anchors: Sequence[x509.Certificate], now: datetime,
                      crls: Sequence[x509.CertificateRevocationList] = ()) -> VerifiedPeer:
    """Validate a peer's certificate up to one of ``trust_anchors`` (RFC 5280 §6, RFC 4945 §5).

    Checks on every certificate: validity at ``now``, the signature by its issuer, RSA keys of at
    least 2048 bits, no MD5 signature, no unknown critical extension and revocation in the
    issuer's CRL (a CRL counts only if the issuer's key signed it).  The peer's certificate must
    allow digital signatures (keyUsage, when present) and IKE use (a critical EKU); intermediates
    must be CAs allowed to sign certificates, within their path length.
    """
    now = _aware(now)
    peer = load_der_certificate(end_entity_der)
    intermediates = [load_der_certificate(der, "CERT (chain)") for der in intermediates_der]
    _check_common(peer, now, "the peer's certificate")
    _check_end_entity(peer)
    chain = [peer]
    current = peer
    while True:
        anchor = _find_issuer(current, trust_anchors)
        if anchor is not None:
            _check_validity(anchor, now, "CA certificate")
            _check_path_length(anchor, below=len(chain) - 1)
            _check_revocation(current, anchor, crls)
            return VerifiedPeer((*chain, anchor))
        issuer = _find_issuer(current, [c for c in intermediates if c not in chain])
        if issuer is None:
            raise _unknown_issuer(current, trust_anchors, intermediates)
        if len(chain) > MAX_INTERMEDIATES:
            raise CertError(f"chain of \"{display_name(peer)}\" has more than {MAX_INTERMEDIATES} "
                            "intermediates")
        _check_common(issuer, now, "intermediate CA certificate")
        _check_intermediate(issuer, below=len(chain) - 1)
        _check_revocation(current, issuer, crls)
        chain.append(issuer)
        current = issuer


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _check_validity(cert: x509.Certificate, now: datetime, what: str) -> None:
    if now > cert.not_valid_after_utc:
        raise CertError(f"{what} \"{display_name(cert)}\" expired on "
                        f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if now < cert.not_valid_before_utc:
        raise CertError(f"{what} \"{display_name(cert)}\" is not valid before "
                        f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")


def _check_common(cert: x509.Certificate, now: datetime, what: str) -> None:
    _check_validity(cert, now, what)
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise CertError(f"{what} \"{display_name(cert)}\" has a {key_text(key)} key "
                        f"(at least {MIN_RSA_BITS} bits needed)")
    if isinstance(cert.signature_hash_algorithm, hashes.MD5):
        raise CertError(f"{what} \"{display_name(cert)}\" is signed with MD5, which is refused")
    for ext in cert.extensions:
        if ext.critical and ext.oid not in _UNDERSTOOD:
            raise CertError(f"{what} \"{display_name(cert)}\" has an unsupported critical extension "
                            f"{ext.oid.dotted_string}")


def _check_end_entity(cert: x509.Certificate) -> None:
    """RFC 4945 §5.1.3.2 (keyUsage) and §5.1.3.12 (extendedKeyUsage)."""
    usages = key_usages(cert)
    if usages is not None and "digitalSignature" not in usages and "nonRepudiation" not in usages:
        raise CertError(f"the peer's certificate \"{display_name(cert)}\" does not allow digital signatures "
                        f"(key usage: {', '.join(usages) or 'none'})")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return
    if eku.critical and not _IKE_EKUS.intersection(eku.value):
        raise CertError(f"the peer's certificate \"{display_name(cert)}\" has a critical extended key usage "
                        "that does not allow IKE")


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _check_intermediate(cert: x509.Certificate, below: int) -> None:
    """An intermediate must be a CA (RFC 5280 §4.2.1.9) able to sign certificates (§4.2.1.3)
    with a path length allowing the ``below`` intermediates under it."""
    basic = _basic_constraints(cert)
    if basic is None or not basic.ca:
        raise CertError(f"\"{display_name(cert)}\" signs certificates but is not a CA certificate",
                        code=CertNotify.INVALID_CERT_AUTHORITY)
    usages = key_usages(cert)
    if usages is not None and "keyCertSign" not in usages:
        raise CertError(f"CA \"{display_name(cert)}\" is not allowed to sign certificates (no keyCertSign)",
                        code=CertNotify.INVALID_CERT_AUTHORITY)
    _check_path_length(cert, below)


def _check_path_length(cert: x509.Certificate, below: int) -> None:
    """RFC 5280 §4.2.1.9: pathLenConstraint limits the intermediates below a CA (anchors too)."""
    basic = _basic_constraints(cert)
    if basic is not None and basic.path_length is not None and below > basic.path_length:
        raise CertError(f"CA \"{display_name(cert)}\" allows {basic.path_length} intermediates below it, "
                        f"the chain has {below}", code=CertNotify.INVALID_CERT_AUTHORITY)


def _find_issuer(cert: x509.Certificate, candidates: Sequence[x509.Certificate]) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return candidate
    return None


def _unknown_issuer(cert: x509.Certificate, anchors: Sequence[x509.Certificate],
                    intermediates: Sequence[x509.Certificate]) -> CertError:
    issuer = cert.issuer.rfc4514_string()
    if any(c.subject == cert.issuer for c in [*anchors, *intermediates]):
        reason = (f"\"{display_name(cert)}\" was issued by a CA named \"{issuer}\" whose key is not the "
                  "configured one (the signature does not verify)")
    else:
        reason = f"\"{display_name(cert)}\" was issued by an unknown CA \"{issuer}\""
    return CertError(reason, code=CertNotify.INVALID_CERT_AUTHORITY)


def _check_revocation(cert: x509.Certificate, issuer: x509.Certificate,
                      crls: Sequence[x509.CertificateRevocationList]) -> None:
    for crl in crls:
        if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):
            continue
        revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if revoked is None:
            continue
        try:
            why = f" ({revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason.value})"
        except x509.ExtensionNotFound:
            why = ""
        raise CertError(f"certificate \"{display_name(cert)}\" (serial {cert.serial_number:x}) was "
                        f"revoked on {revoked.revocation_date_utc:%Y-%m-%d %H:%M} UTC{why}")


# -- identities ------------------------------------------------------------------------------

def check_peer_id(id_type: int, id_data: bytes, cert: x509.Certificate) -> None:
    """The peer's IKE ID must name its certificate: the subject DN, or a SAN entry of the
    matching type (RFC 4945 §3.1).  Raises :class:`CertError` (INVALID_ID_INFORMATION)."""
    matcher = _ID_MATCHERS.get(id_type)
    if matcher is None:
        raise CertError(f"ID type {id_type} cannot be matched against a certificate",
                        code=CertNotify.INVALID_ID_INFORMATION, field="ID")
    shown, matched = matcher
    text = shown(id_data)
    if not matched(id_data, cert):
        raise CertError(f"ID {_id_name(id_type)} \"{text}\" does not match certificate subject "
                        f"\"{cert.subject.rfc4514_string()}\" or its subjectAltName",
                        code=CertNotify.INVALID_ID_INFORMATION, field="ID")


def id_matches_certificate(id_type: int, id_data: bytes, cert: x509.Certificate) -> bool:
    try:
        check_peer_id(id_type, id_data, cert)
    except CertError:
        return False
    return True


def _id_name(id_type: int) -> str:
    return IdType(id_type).name.removeprefix("ID_")


def _sans(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def _parse_dn(data: bytes) -> asn1_x509.Name:
    """An ID_DER_ASN1_DN body: a DER Name (parsed fully so bad input fails here)."""
    try:
        name = asn1_x509.Name.load(data, strict=True)
        name.native  # noqa: B018 - forces the lazy parse
    except (ValueError, TypeError) as exc:
        raise CertError("ID DER_ASN1_DN is not a DER distinguished name",
                        code=CertNotify.INVALID_ID_INFORMATION, field="ID") from exc
    return name


def dn_text(data: bytes) -> str:
    """An ID_DER_ASN1_DN body in RFC 4514 form, like the certificate subjects next to it in a log
    line; :class:`CertError` when it is not a DER name."""
    name = _parse_dn(data)
    try:
        return x509.Name([x509.RelativeDistinguishedName(
            [x509.NameAttribute(ObjectIdentifier(pair["type"].dotted), str(pair["value"].native))
             for pair in rdn]) for rdn in name.chosen]).rfc4514_string()
    except (ValueError, TypeError, KeyError):
        return name.human_friendly


def _dn_matches(data: bytes, cert: x509.Certificate) -> bool:
    """RFC 5280 §7.1 comparison (case and space folding) via asn1crypto, against the subject and
    any directoryName SAN."""
    wanted = _parse_dn(data)
    names = [cert.subject] + [n.value for n in _sans(cert) if isinstance(n, x509.DirectoryName)]
    return any(asn1_x509.Name.load(name.public_bytes()) == wanted for name in names)


def _ascii(data: bytes) -> str:
    return data.decode("ascii", "backslashreplace")


def _fqdn_matches(data: bytes, cert: x509.Certificate) -> bool:
    wanted = _ascii(data).rstrip(".").lower()
    return any(isinstance(n, x509.DNSName) and n.value.rstrip(".").lower() == wanted for n in _sans(cert))


def _user_fqdn_matches(data: bytes, cert: x509.Certificate) -> bool:
    wanted = _ascii(data).lower()
    return any(isinstance(n, x509.RFC822Name) and n.value.lower() == wanted for n in _sans(cert))


def _address_text(size: int) -> Callable[[bytes], str]:
    def text(data: bytes) -> str:
        if len(data) != size:
            raise CertError(f"ID address is {len(data)} bytes, expected {size}",
                            code=CertNotify.INVALID_ID_INFORMATION, field="ID")
        return str(ipaddress.ip_address(data))
    return text


def _address_matches(data: bytes, cert: x509.Certificate) -> bool:
    wanted = ipaddress.ip_address(data)
    return any(isinstance(n, x509.IPAddress) and n.value == wanted for n in _sans(cert))


_ID_MATCHERS: dict[int, tuple[Callable[[bytes], str], Callable[[bytes, x509.Certificate], bool]]] = {
    IdType.ID_DER_ASN1_DN: (dn_text, _dn_matches),
    IdType.ID_FQDN: (_ascii, _fqdn_matches),
    IdType.ID_USER_FQDN: (_ascii, _user_fqdn_matches),
    IdType.ID_IPV4_ADDR: (_address_text(4), _address_matches),
    IdType.ID_IPV6_ADDR: (_address_text(16), _address_matches),
}


# -- IKEv1 RSA signatures ----------------------------------------------------------------------

_native_signers: OrderedDict[int, tuple[rsa.RSAPrivateKey, NativeRsaSigner | None]] = OrderedDict()
_MAX_NATIVE_SIGNERS = 16


def _native_signer(key: rsa.RSAPrivateKey) -> NativeRsaSigner | None:
    """The libcrypto signer of ``key``, loaded once (the entry keeps ``key`` alive, so its id is
    not reused); None when libcrypto is unusable."""
    entry = _native_signers.get(id(key))
    if entry is None:
        entry = _native_signers[id(key)] = (key, load_native(key))
        while len(_native_signers) > _MAX_NATIVE_SIGNERS:
            _native_signers.popitem(last=False)
    return entry[1]


def sign_hash(key: rsa.RSAPrivateKey, data: bytes, random: Callable[[int], bytes] = os.urandom) -> bytes:
    """RFC 2409 §5.1: SIG_I/SIG_R is HASH_I/HASH_R "PKCS #1 encrypted" with the private key.

    That is EMSA-PKCS1-v1_5 block type 1 padding around the raw hash, without the DigestInfo
    that ordinary PKCS#1 signatures add (strongSwan's ``SIGN_RSA_EMSA_PKCS1_NULL``, OpenSSL's
    ``RSA_private_encrypt``):  EM = 00 01 FF..FF 00 || HASH, S = EM^d mod n.
    ``cryptography`` cannot sign without a DigestInfo, so the system libcrypto does it
    (:mod:`ikel2tp.crypto.rsa_raw`, ~20 times faster); without libcrypto, :func:`sign_hash_python`.
    The padding is deterministic: both give the same bytes.
    """
    signer = _native_signer(key)
    if signer is not None:
        return signer.sign(data)
    return sign_hash_python(key, data, random)


def sign_hash_python(
    key: rsa.RSAPrivateKey, data: bytes, random: Callable[[int], bytes] = os.urandom
) -> bytes:
    """:func:`sign_hash` in Python integers: CRT, message blinding and exponent blinding (Python
    integers are not constant time), and the result checked with the public key before it is
    returned (fault attacks)."""
    numbers = key.private_numbers()
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    size = (n.bit_length() + 7) // 8
    if len(data) > size - 11:
        raise ValueError(f"{len(data)} bytes do not fit a PKCS#1 block of a {n.bit_length()}-bit key")
    message = int.from_bytes(b"\x00\x01" + b"\xff" * (size - 3 - len(data)) + b"\x00" + data)
    while True:
        blind = int.from_bytes(random(size)) % n
        if blind > 1 and math.gcd(blind, n) == 1:
            break
    blinded = message * pow(blind, e, n) % n
    p, q = numbers.p, numbers.q
    spread_p, spread_q = (int.from_bytes(random(8)) for _ in range(2))
    part_p = pow(blinded, numbers.dmp1 + spread_p * (p - 1), p)
    part_q = pow(blinded, numbers.dmq1 + spread_q * (q - 1), q)
    signature = (part_q + q * ((part_p - part_q) * numbers.iqmp % p)) * pow(blind, -1, n) % n
    if pow(signature, e, n) != message:
        raise RuntimeError("RSA signature self-check failed")
    return signature.to_bytes(size)


def verify_signature(cert: x509.Certificate, data: bytes, signature: bytes) -> None:
    """Check a peer's IKEv1 SIG payload over HASH_I/HASH_R (RFC 2409 §5.1) with its certificate.

    Raises :class:`CertError` (INVALID_SIGNATURE) when it does not verify.
    """
    key = cert.public_key()
    name = display_name(cert)
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertError(f"certificate \"{name}\" has a {key_text(key)} key: RSA signature authentication "
                        "needs an RSA key", code=CertNotify.INVALID_SIGNATURE, field="SIG")
    size = (key.key_size + 7) // 8
    if len(signature) != size:
        raise CertError(f"signature is {len(signature)} bytes, the {key.key_size}-bit key of \"{name}\" "
                        f"makes {size}", code=CertNotify.INVALID_SIGNATURE, field="SIG")
    try:
        recovered = key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    except InvalidSignature:
        recovered = b""
    if not hmac.compare_digest(recovered, data):
        raise CertError(f"the signature does not verify with the key of \"{name}\"",
                        code=CertNotify.INVALID_SIGNATURE, field="SIG")
