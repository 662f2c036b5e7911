"""What each kind of certificate carries, as data, and the one function that builds them.

Windows wants, for an IKE server certificate, the serverAuth EKU and recommends the "IP security
IKE intermediate" EKU (1.3.6.1.5.5.8.2.2), with a SAN holding the name clients dial; client
certificates carry clientAuth.  The CA is limited to signing end entities (pathlen 0).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from ikel2tp.certs.errors import CaError

IKE_INTERMEDIATE = ObjectIdentifier("1.3.6.1.5.5.8.2.2")

EKU_NAMES: dict[ObjectIdentifier, str] = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    IKE_INTERMEDIATE: "IP security IKE intermediate",
    ExtendedKeyUsageOID.IPSEC_IKE: "ipsecIKE",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}

KEY_USAGE_FLAGS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                   "key_agreement", "key_cert_sign", "crl_sign")

# Backdating absorbs clients whose clock is a little behind.
BACKDATE = timedelta(hours=1)


@dataclass(frozen=True)
class Profile:
    """Extensions and default lifetime of one kind of certificate."""

    kind: str
    default_days: int
    ca: bool
    key_usage: frozenset[str]
    eku: tuple[ObjectIdentifier, ...]


PROFILES: dict[str, Profile] = {
    "ca": Profile("ca", 3650, True, frozenset({"key_cert_sign", "crl_sign"}), ()),
    # 825 days: the longest server lifetime Apple platforms accept.
    "server": Profile("server", 825, False, frozenset({"digital_signature", "key_encipherment"}),
                      (ExtendedKeyUsageOID.SERVER_AUTH, IKE_INTERMEDIATE)),
    "client": Profile("client", 730, False, frozenset({"digital_signature", "key_encipherment"}),
                      (ExtendedKeyUsageOID.CLIENT_AUTH, IKE_INTERMEDIATE)),
}

KEY_TYPES = ("rsa2048", "rsa3072", "rsa4096", "ecdsa-p256", "ecdsa-p384")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?")


def generate_key(key_type: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if key_type.startswith("rsa") and key_type in KEY_TYPES:
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    raise CaError(f"unknown key type {key_type!r} (one of {', '.join(KEY_TYPES)})")


def signature_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.HashAlgorithm:
    """SHA-384 for a P-384 CA, SHA-256 otherwise."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def check_name(name: str) -> str:
    """A certificate name is also a file name: letters, digits, ``._@-``, no path separators."""
    if not _NAME.fullmatch(name):
        raise CaError(f"invalid name {name!r}: use letters, digits and . _ @ - (at most 128 characters)")
    return name


def dns_name(text: str) -> str:
    if not _DNS.fullmatch(text) or text.replace(".", "").isdigit():
        raise CaError(f"{text!r} is not a DNS name")
    return text.rstrip(".").lower()


def ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError as exc:
        raise CaError(f"{text!r} is not an IP address") from exc


def server_names(dns: list[str], ips: list[str]) -> list[x509.GeneralName]:
    """SAN entries for a server: every DNS name and IP address clients may dial."""
    names: list[x509.GeneralName] = [x509.DNSName(dns_name(d)) for d in dns]
    names += [x509.IPAddress(ip_address(i)) for i in ips]
    if not names:
        raise CaError("a server certificate needs at least one --dns name or --ip address")
    return names


def client_names(name: str) -> list[x509.GeneralName]:
    """SAN for a client: an e-mail address (IKE ID USER_FQDN) if NAME has an @, else a DNS name (FQDN)."""
    check_name(name)
    if "@" in name:
        return [x509.RFC822Name(name)]
    return [x509.DNSName(name.lower())]


def common_name(san: list[x509.GeneralName]) -> str:
    """The CN shown for a certificate: the first DNS name (or the first SAN of any kind)."""
    for entry in san:
        if isinstance(entry, x509.DNSName):
            return entry.value
    return str(san[0].value)


def build_certificate(profile: Profile, *, subject: x509.Name, public_key: PublicKeyTypes,
                      issuer: x509.Certificate | None, issuer_key: CertificateIssuerPrivateKeyTypes,
                      serial: int, not_before: datetime, not_after: datetime,
                      san: list[x509.GeneralName] | None = None) -> x509.Certificate:
    """Sign a certificate of ``profile`` (self-signed when ``issuer`` is None)."""
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    if issuer is None:
        issuer_name = subject
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    else:
        issuer_name = issuer.subject
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value)
    usage = {flag: flag in profile.key_usage for flag in KEY_USAGE_FLAGS}
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer_name).public_key(public_key)
               .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=profile.ca, path_length=0 if profile.ca else None),
                              critical=True)
               .add_extension(x509.KeyUsage(**usage, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(ski, critical=False)
               .add_extension(aki, critical=False))
    if profile.eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(profile.eku)), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, signature_hash(issuer_key))


def cn_name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
