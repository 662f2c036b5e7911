"""Human-readable certificate descriptions, and the warnings for what clients (Windows first) refuse.

The checks are a table of rules: each has the kinds it applies to and a function returning the
warning text or ``None``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier, SignatureAlgorithmOID

from ikel2tp.certs.profiles import EKU_NAMES, IKE_INTERMEDIATE, KEY_USAGE_FLAGS

_KEY_USAGE_NAMES = {
    "digital_signature": "digitalSignature", "content_commitment": "nonRepudiation",
    "key_encipherment": "keyEncipherment", "data_encipherment": "dataEncipherment",
    "key_agreement": "keyAgreement", "key_cert_sign": "keyCertSign", "crl_sign": "cRLSign",
}

_SIGNATURE_NAMES = {oid: name.lower().replace("_", "-") for name, oid in vars(SignatureAlgorithmOID).items()
                    if isinstance(oid, ObjectIdentifier)}


def key_text(key: PublicKeyTypes) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size} bits"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name} ({key.curve.key_size} bits)"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return type(key).__name__.removesuffix("PublicKey")
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size} bits"
    return type(key).__name__


def eku_text(ekus: Iterable[ObjectIdentifier]) -> str:
    return ", ".join(f"{EKU_NAMES[o]} ({o.dotted_string})" if o in EKU_NAMES else o.dotted_string
                     for o in ekus)


def san_text(names: Iterable[x509.GeneralName]) -> str:
    labels = {x509.DNSName: "DNS", x509.IPAddress: "IP", x509.RFC822Name: "email",
              x509.UniformResourceIdentifier: "URI", x509.DirectoryName: "DN"}
    out = []
    for name in names:
        value = name.value.rfc4514_string() if isinstance(name, x509.DirectoryName) else name.value
        out.append(f"{labels.get(type(name), type(name).__name__)}:{value}")
    return ", ".join(out)


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def ekus(cert: x509.Certificate) -> list[ObjectIdentifier]:
    value = _ext(cert, x509.ExtendedKeyUsage)
    return list(value) if isinstance(value, x509.ExtendedKeyUsage) else []


def sans(cert: x509.Certificate) -> list[x509.GeneralName]:
    value = _ext(cert, x509.SubjectAlternativeName)
    return list(value) if isinstance(value, x509.SubjectAlternativeName) else []


def key_usages(cert: x509.Certificate) -> list[str] | None:
    """Names of the keyUsage bits set, or None when the extension is absent."""
    value = _ext(cert, x509.KeyUsage)
    if not isinstance(value, x509.KeyUsage):
        return None
    return [_KEY_USAGE_NAMES[f] for f in KEY_USAGE_FLAGS if getattr(value, f)]


def is_ca(cert: x509.Certificate) -> bool:
    value = _ext(cert, x509.BasicConstraints)
    return isinstance(value, x509.BasicConstraints) and value.ca


def infer_kind(cert: x509.Certificate) -> str:
    """``ca``; ``client`` if it has clientAuth but not serverAuth; ``server`` otherwise."""
    if is_ca(cert):
        return "ca"
    usages = ekus(cert)
    if ExtendedKeyUsageOID.CLIENT_AUTH in usages and ExtendedKeyUsageOID.SERVER_AUTH not in usages:
        return "client"
    return "server"


def describe(cert: x509.Certificate, now: datetime) -> list[str]:
    """The certificate as aligned ``Label: value`` lines."""
    basic = _ext(cert, x509.BasicConstraints)
    if isinstance(basic, x509.BasicConstraints) and basic.ca:
        ca = "yes" + ("" if basic.path_length is None else f", path length {basic.path_length}")
    else:
        ca = "no"
    usages = key_usages(cert)
    hash_name = cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else "none"
    rows = [
        ("Subject", cert.subject.rfc4514_string() or "(empty)"),
        ("Issuer", cert.issuer.rfc4514_string()),
        ("Serial", f"{cert.serial_number:x}"),
        ("Valid from", f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"),
        ("Valid until", f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC ({_validity_status(cert, now)})"),
        ("Key", key_text(cert.public_key())),
        ("Signature", _SIGNATURE_NAMES.get(cert.signature_algorithm_oid,
                                           cert.signature_algorithm_oid.dotted_string) + f" ({hash_name})"),
        ("CA", ca),
        ("Key usage", "(absent)" if usages is None else ", ".join(usages) or "(none)"),
        ("Extended key usage", eku_text(ekus(cert)) or "(absent)"),
        ("Subject alt names", san_text(sans(cert)) or "(absent)"),
        ("SHA-256 fingerprint", cert.fingerprint(hashes.SHA256()).hex(":").upper()),
    ]
    width = max(len(label) for label, _ in rows) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in rows]


def _validity_status(cert: x509.Certificate, now: datetime) -> str:
    if now > cert.not_valid_after_utc:
        return f"EXPIRED {(now - cert.not_valid_after_utc).days} days ago"
    if now < cert.not_valid_before_utc:
        return "NOT YET VALID"
    return f"{(cert.not_valid_after_utc - now).days} days left"


@dataclass(frozen=True)
class CheckContext:
    cert: x509.Certificate
    kind: str
    names: Sequence[str]
    now: datetime


def _expired(c: CheckContext) -> str | None:
    if c.now > c.cert.not_valid_after_utc:
        return f"expired on {c.cert.not_valid_after_utc:%Y-%m-%d}: every client refuses it"
    return None


def _not_yet_valid(c: CheckContext) -> str | None:
    if c.now < c.cert.not_valid_before_utc:
        return (f"not valid before {c.cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: "
                "check this machine's clock and the CA's")
    return None


def _small_key(c: CheckContext) -> str | None:
    key = c.cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        return f"RSA key of {key.key_size} bits: Windows refuses RSA keys under 2048 bits"
    return None


def _weak_signature(c: CheckContext) -> str | None:
    algorithm = c.cert.signature_hash_algorithm
    if c.kind != "ca" and isinstance(algorithm, hashes.SHA1 | hashes.MD5):
        name = algorithm.name.upper()
        return f"signed with {name}: Windows and macOS reject {name} signatures"
    return None


def _eku_missing(oid: ObjectIdentifier, why: str) -> Callable[[CheckContext], str | None]:
    def check(c: CheckContext) -> str | None:
        present = ekus(c.cert)
        if oid in present or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in present:
            return None
        return f"no {EKU_NAMES[oid]} extended key usage ({oid.dotted_string}): {why}"
    return check


def _no_digital_signature(c: CheckContext) -> str | None:
    usages = key_usages(c.cert)
    if usages is not None and "digitalSignature" not in usages and "nonRepudiation" not in usages:
        return ("key usage lacks digitalSignature: IKE peers refuse signatures made with this key "
                "(RFC 4945 §5.1.3.2)")
    return None


def _no_san(c: CheckContext) -> str | None:
    if not sans(c.cert):
        return "no subjectAltName: clients match the server name against the SAN, not the CN"
    return None


def _names_missing(c: CheckContext) -> str | None:
    present = sans(c.cert)
    missing = [name for name in c.names if not _san_has(present, name)]
    if missing:
        return (f"the SAN does not contain {', '.join(missing)} (the name clients dial): "
                "Windows refuses a server whose certificate does not name it")
    return None


def _not_a_ca(c: CheckContext) -> str | None:
    usages = key_usages(c.cert)
    if usages is not None and "keyCertSign" not in usages:
        return "a CA without keyCertSign in its key usage: certificates it signs are refused"
    return None


def _san_has(present: list[x509.GeneralName], name: str) -> bool:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        wanted = name.rstrip(".").lower()
        return any(isinstance(n, x509.DNSName) and n.value.rstrip(".").lower() == wanted for n in present)
    return any(isinstance(n, x509.IPAddress) and n.value == address for n in present)


# (kinds the rule applies to, check).  A recommendation is worded as one.
RULES: tuple[tuple[frozenset[str], Callable[[CheckContext], str | None]], ...] = (
    (frozenset({"ca", "server", "client"}), _expired),
    (frozenset({"ca", "server", "client"}), _not_yet_valid),
    (frozenset({"ca", "server", "client"}), _small_key),
    (frozenset({"server", "client"}), _weak_signature),
    (frozenset({"server", "client"}), _no_digital_signature),
    (frozenset({"ca"}), _not_a_ca),
    (frozenset({"server"}), _eku_missing(ExtendedKeyUsageOID.SERVER_AUTH,
                                         "Windows refuses a VPN server certificate without it")),
    (frozenset({"server"}), _eku_missing(IKE_INTERMEDIATE,
                                         "recommended: Windows prefers it for IKE certificates")),
    (frozenset({"server"}), _no_san),
    (frozenset({"server"}), _names_missing),
    (frozenset({"client"}), _eku_missing(ExtendedKeyUsageOID.CLIENT_AUTH,
                                         "Windows does not offer the certificate for VPN authentication")),
)


def warnings(cert: x509.Certificate, now: datetime, *, kind: str | None = None,
             names: Sequence[str] = ()) -> list[str]:
    """Everything about ``cert`` a client would refuse (or that is recommended), as plain sentences."""
    context = CheckContext(cert, kind or infer_kind(cert), names, now)
    found = (rule(context) for kinds, rule in RULES if context.kind in kinds)
    return [text for text in found if text]
