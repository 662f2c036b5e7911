"""X.509 RSA signature authentication for phase 1 (RFC 2409 §5.1, method 3; RFC 4945 §3).

SKEYID = prf(Ni_b | Nr_b, g^xy); each side proves its ID with SIG = HASH_I / HASH_R signed by the
private key of the certificate it sends in a CERT payload (encoding 4, X.509 signature).  CERTREQ
payloads carry the DER distinguished names of the CAs we trust (RFC 2408 §3.10); the peer's
requests choose which of our certificates we present.

The peer's chain is validated by :mod:`ikel2tp.certs.verify` against the configured CAs and CRLs
at the wall-clock time from the injected ``wallclock`` callable (certificate validity is calendar
time; the cores' ``now`` is monotonic), its ID must name its certificate, and ``allowed_subjects``
(when not empty) authorises which certificate subjects may connect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from ikel2tp.certs import verify
from ikel2tp.certs.errors import CertError
from ikel2tp.ike import keymat
from ikel2tp.ike.auth import AuthContext, AuthRefusal
from ikel2tp.ike.constants import AuthMethod, CertEncoding, IdType, NotifyType
from ikel2tp.ike.payloads import CertPayload, CertReqPayload, Payload, SigPayload

ID_BODY_HEADER = 4  # ID type, protocol, port (RFC 2407 §4.6.2)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


@dataclass(frozen=True)
class Credential:
    """One certificate of ours with its RSA private key and the intermediates sent along."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.key, rsa.RSAPrivateKey):
            raise ValueError("RSA signature authentication needs an RSA private key")
        if self.key.public_key().public_numbers() != self.certificate.public_key().public_numbers():
            raise ValueError(
                f'the private key does not belong to certificate "{verify.display_name(self.certificate)}"'
            )

    def issuer_names(self) -> set[bytes]:
        """DER names of every CA above this certificate (a CERTREQ naming any of them fits)."""
        return {c.issuer.public_bytes() for c in (self.certificate, *self.chain)}


def subject_allowed(subject: x509.Name, patterns: Sequence[str]) -> bool:
    """Per-client authorisation: a pattern (shell-style ``*``/``?``, case-insensitive) matches the
    whole RFC 4514 subject (``CN=alice,O=Example``) or, without a comma, any one attribute of it
    (``CN=alice*``).  No patterns: every certificate from our CAs is allowed."""
    if not patterns:
        return True
    whole = subject.rfc4514_string().lower()
    parts = [attr.rfc4514_string().lower() for attr in subject]
    for pattern in patterns:
        p = pattern.lower()
        if fnmatchcase(whole, p) or ("," not in p and any(fnmatchcase(part, p) for part in parts)):
            return True
    return False


@dataclass(frozen=True)
class CertSettings:
    """What certificate authentication needs; built once by the shell from the ``[ike]`` files."""

    credentials: tuple[Credential, ...]
    trust_anchors: tuple[x509.Certificate, ...]
    wallclock: Callable[[], datetime] = field(repr=False)
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    allowed_subjects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.credentials:
            raise ValueError("certificate authentication needs at least one certificate with its key")
        if not self.trust_anchors:
            raise ValueError("certificate authentication needs at least one CA certificate")


class CertAuthenticator:
    """The :class:`~ikel2tp.ike.auth.Authenticator` of one IKE SA for RSA signatures."""

    method = AuthMethod.RSA_SIGNATURES

    def __init__(self, settings: CertSettings) -> None:
        self.settings = settings
        self.credential = settings.credentials[0]
        self.peer: verify.VerifiedPeer | None = None  # set once the peer authenticated

    def __repr__(self) -> str:
        return f"CertAuthenticator({verify.display_name(self.credential.certificate)!r})"

    def skeyid(self, hash_name: str, ni_b: bytes, nr_b: bytes, gxy: bytes) -> bytes:
        return keymat.skeyid_sig(hash_name, ni_b, nr_b, gxy)

    def identity(self) -> tuple[int, bytes] | None:
        """Our certificate's subject DN (ID_DER_ASN1_DN), which every peer can match."""
        return IdType.ID_DER_ASN1_DN, self.credential.certificate.subject.public_bytes()

    def requests(self) -> list[Payload]:
        return [
            CertReqPayload(CertEncoding.X509_SIGNATURE, a.subject.public_bytes())
            for a in self.settings.trust_anchors
        ]

    def peer_requested(self, payloads: list[Payload]) -> None:
        """Choose the certificate whose CA the peer asked for; an empty CERTREQ (any CA) or none
        at all leaves the first one."""
        wanted = {
            p.data
            for p in payloads
            if isinstance(p, CertReqPayload) and p.encoding == CertEncoding.X509_SIGNATURE
        }
        wanted.discard(b"")
        if not wanted:
            return
        for credential in self.settings.credentials:
            if credential.issuer_names() & wanted:
                self.credential = credential
                return

    def build(self, ctx: AuthContext, id_b: bytes, initiator: bool) -> list[Payload]:
        signature = verify.sign_hash(self.credential.key, ctx.hash_of(id_b, initiator))
        certs = [
            CertPayload(CertEncoding.X509_SIGNATURE, _der(c))
            for c in (self.credential.certificate, *self.credential.chain)
        ]
        return [*certs, SigPayload(signature)]

    def verify(
        self, ctx: AuthContext, id_b: bytes, payloads: list[Payload], initiator: bool
    ) -> AuthRefusal | None:
        which = "SIG_I" if initiator else "SIG_R"
        certs = [p for p in payloads if isinstance(p, CertPayload)]
        x509_certs = [p.data for p in certs if p.encoding == CertEncoding.X509_SIGNATURE]
        sigs = [p for p in payloads if isinstance(p, SigPayload)]
        if not x509_certs:
            if certs:
                kinds = ", ".join(str(p.encoding) for p in certs)
                return AuthRefusal(
                    f"the peer sent certificates of encoding {kinds}, not X.509 signature (4)",
                    NotifyType.CERT_TYPE_UNSUPPORTED,
                    "CERT",
                )
            return AuthRefusal(
                "the peer sent no certificate (CERT payload); certificates must be sent, not cached",
                NotifyType.AUTHENTICATION_FAILED,
                "CERT",
            )
        if not sigs:
            return AuthRefusal(f"no {which} payload", NotifyType.PAYLOAD_MALFORMED, which)
        try:
            end_entity = self._end_entity(x509_certs)
            others = [der for der in x509_certs if der is not end_entity]
            peer = verify.verify_peer_chain(
                end_entity, others, self.settings.trust_anchors, self.settings.wallclock(), self.settings.crls
            )
            if len(id_b) < ID_BODY_HEADER:
                raise CertError("ID payload too short", code=NotifyType.INVALID_ID_INFORMATION, field="ID")
            verify.check_peer_id(id_b[0], id_b[ID_BODY_HEADER:], peer.certificate)
            verify.verify_signature(peer.certificate, ctx.hash_of(id_b, initiator), sigs[0].data)
        except CertError as exc:
            return AuthRefusal(exc.reason, exc.code, exc.field or "CERT")
        if not subject_allowed(peer.certificate.subject, self.settings.allowed_subjects):
            return AuthRefusal(
                f'certificate subject "{peer.subject}" is not in allowed_subjects',
                NotifyType.AUTHENTICATION_FAILED,
                "CERT",
            )
        self.peer = peer
        return None

    @staticmethod
    def _end_entity(ders: list[bytes]) -> bytes:
        """The peer's own certificate among those it sent: the first that is not a CA (RFC 4945
        §3.3 lets the chain come in any order)."""
        for der in ders:
            cert = verify.load_der_certificate(der)
            try:
                ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                ca = False
            if not ca:
                return der
        return ders[0]
