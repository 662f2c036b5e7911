"""The VPN's certificate authority: one directory holding its key, what it issued and its CRL.

Layout (documented in ``certs/README.md``)::

    ca.key            CA private key, PKCS#8 PEM, 0600
    ca.crt / ca.cer   CA certificate, PEM / DER (the DER one is for the Windows machine store)
    index.json        every certificate issued: serial, name, kind, validity, revocation
    issued/NAME.crt   issued certificates (PEM)
    private/NAME.key  their private keys when the CA generated them (0600)
    p12/NAME.p12      client bundles (0600), p12/NAME.password with --password-file (0600)
    crl.pem           the certificate revocation list, regenerated on every revoke

Every operation computes everything first and then writes all its files at once
(:func:`ikel2tp.certs.store.write_files`), under a lock on the directory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from ikel2tp.certs import store
from ikel2tp.certs.bundle import export_pkcs12, generate_password
from ikel2tp.certs.errors import CaError
from ikel2tp.certs.profiles import (
    BACKDATE,
    PROFILES,
    Profile,
    build_certificate,
    check_name,
    client_names,
    cn_name,
    common_name,
    generate_key,
    server_names,
    signature_hash,
)
from ikel2tp.certs.report import eku_text, key_text, san_text
from ikel2tp.config import DEFAULT_STATE_DIR

DEFAULT_CA_NAME = "ikel2tp VPN CA"
DEFAULT_CRL_DAYS = 365

REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key-compromise": x509.ReasonFlags.key_compromise,
    "superseded": x509.ReasonFlags.superseded,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
}


def default_ca_dir(state_dir: str | Path = DEFAULT_STATE_DIR) -> Path:
    """``<state_dir>/ca``: where ``ikel2tp certs`` keeps the CA without ``--dir``."""
    return Path(state_dir) / "ca"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class IndexEntry:
    """One issued certificate as recorded in ``index.json``."""

    serial: int
    name: str
    kind: str
    subject: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None = None
    reason: str | None = None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if now > self.not_after:
            return "expired"
        if now < self.not_before:
            return "not yet valid"
        return "valid"

    def to_json(self) -> dict[str, object]:
        return {"serial": f"{self.serial:x}", "name": self.name, "kind": self.kind, "subject": self.subject,
                "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "reason": self.reason}

    @classmethod
    def from_json(cls, item: dict[str, object]) -> IndexEntry:
        revoked = item.get("revoked_at")
        return cls(serial=int(str(item["serial"]), 16), name=str(item["name"]), kind=str(item["kind"]),
                   subject=str(item["subject"]),
                   not_before=datetime.fromisoformat(str(item["not_before"])),
                   not_after=datetime.fromisoformat(str(item["not_after"])),
                   revoked_at=datetime.fromisoformat(str(revoked)) if revoked else None,
                   reason=str(item["reason"]) if item.get("reason") else None)


@dataclass(frozen=True)
class SigningPlan:
    """What the CA is about to sign, shown to the operator before ``certs sign`` goes ahead."""

    name: str
    kind: str
    subject: x509.Name
    san: list[x509.GeneralName]
    public_key: PublicKeyTypes
    not_before: datetime
    not_after: datetime

    def describe(self) -> list[str]:
        profile = PROFILES[self.kind]
        return [f"Subject:   {self.subject.rfc4514_string()}",
                f"SAN:       {san_text(self.san) or '(none)'}",
                f"Kind:      {self.kind} certificate",
                f"EKU:       {eku_text(profile.eku) or '(none)'}",
                f"Key:       {key_text(self.public_key)}",
                f"Validity:  {self.not_before:%Y-%m-%d %H:%M} UTC to {self.not_after:%Y-%m-%d %H:%M} UTC"]


@dataclass(frozen=True)
class Issued:
    """The result of an issue/sign: the index entry, the certificate and the files written.

    ``password`` is the PKCS#12 password when the CA generated it (to be shown once); it is kept
    out of ``repr``.
    """

    entry: IndexEntry
    certificate: x509.Certificate
    files: dict[str, Path]
    password: str | None = field(default=None, repr=False)


class CertificateAuthority:
    """A CA directory.  Open one with :meth:`create` or :meth:`open`."""

    def __init__(self, directory: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
                 certificate: x509.Certificate) -> None:
        self.directory = directory
        self.key = key
        self.certificate = certificate

    # -- paths ------------------------------------------------------------------------------
    @property
    def key_path(self) -> Path:
        return self.directory / "ca.key"

    @property
    def cert_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def der_path(self) -> Path:
        return self.directory / "ca.cer"

    @property
    def index_path(self) -> Path:
        return self.directory / "index.json"

    @property
    def crl_path(self) -> Path:
        return self.directory / "crl.pem"

    def issued_path(self, name: str) -> Path:
        return self.directory / "issued" / f"{name}.crt"

    def private_path(self, name: str) -> Path:
        return self.directory / "private" / f"{name}.key"

    def p12_path(self, name: str) -> Path:
        return self.directory / "p12" / f"{name}.p12"

    # -- creation / opening -----------------------------------------------------------------
    @classmethod
    def create(cls, directory: Path, *, name: str = DEFAULT_CA_NAME, key_type: str = "rsa3072",
               days: int = PROFILES["ca"].default_days, now: datetime | None = None) -> CertificateAuthority:
        """Make a new CA in ``directory`` (refused if one is already there)."""
        directory = Path(directory)
        if (directory / "ca.key").exists() or (directory / "ca.crt").exists():
            raise CaError(f"a CA already exists in {directory}")
        if not name.strip():
            raise CaError("the CA name must not be empty")
        _check_days(days)
        now = now or utcnow()
        key = generate_key(key_type)
        cert = build_certificate(PROFILES["ca"], subject=cn_name(name), public_key=key.public_key(),
                                 issuer=None, issuer_key=key, serial=x509.random_serial_number(),
                                 not_before=now - BACKDATE, not_after=now + timedelta(days=days))
        ca = cls(directory, key, cert)
        for sub in ("", "issued", "private", "p12"):
            store.make_private_dir(directory / sub)
        with store.locked(directory):
            crl, number = ca._build_crl([], 0, now, DEFAULT_CRL_DAYS)
            store.write_files({
                ca.key_path: (store.pem_key(key), store.SECRET),
                ca.cert_path: (store.pem_certificate(cert), store.PUBLIC),
                ca.der_path: (cert.public_bytes(serialization.Encoding.DER), store.PUBLIC),
                ca.crl_path: (crl, store.PUBLIC),
                ca.index_path: (_index_bytes([], number), store.PUBLIC),
            })
        return ca

    @classmethod
    def open(cls, directory: Path) -> CertificateAuthority:
        directory = Path(directory)
        if not (directory / "ca.crt").exists():
            raise CaError(f"no CA in {directory} (create one with: ikel2tp certs init --dir {directory})")
        cert = store.load_certificate(directory / "ca.crt")
        key = store.load_private_key(directory / "ca.key")
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise CaError(f"{directory / 'ca.key'}: unsupported key type (RSA or ECDSA expected)")
        if key.public_key().public_numbers() != cert.public_key().public_numbers():
            raise CaError(f"{directory / 'ca.key'} does not belong to {directory / 'ca.crt'}")
        return cls(directory, key, cert)

    # -- index ------------------------------------------------------------------------------
    def _read_index(self) -> tuple[list[IndexEntry], int]:
        data = store.read_bytes(self.index_path, "index")
        try:
            doc = json.loads(data)
            return [IndexEntry.from_json(item) for item in doc["certificates"]], int(doc["crl_number"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CaError(f"{self.index_path} is damaged: {exc}") from exc

    def entries(self) -> list[IndexEntry]:
        return self._read_index()[0]

    # -- issuing ----------------------------------------------------------------------------
    def _validity(self, profile: Profile, days: int | None, now: datetime) -> tuple[datetime, datetime]:
        days = profile.default_days if days is None else days
        _check_days(days)
        not_after = min(now + timedelta(days=days), self.certificate.not_valid_after_utc)
        return now - BACKDATE, not_after

    def plan(self, kind: str, name: str, subject: x509.Name, san: list[x509.GeneralName],
             public_key: PublicKeyTypes, *, days: int | None = None,
             now: datetime | None = None) -> SigningPlan:
        now = now or utcnow()
        not_before, not_after = self._validity(PROFILES[kind], days, now)
        return SigningPlan(check_name(name), kind, subject, san, public_key, not_before, not_after)

    def _issue(self, plan: SigningPlan, extra_files: ExtraFiles | None = None,
               profile: Profile | None = None) -> tuple[IndexEntry, x509.Certificate]:
        """Sign ``plan``; write the certificate, the files ``extra_files(cert)`` and the index at once."""
        with store.locked(self.directory):
            entries, crl_number = self._read_index()
            now = utcnow()
            for old in entries:
                if old.name == plan.name and old.status(now) in ("valid", "not yet valid"):
                    raise CaError(f"a certificate named {plan.name} is already issued "
                                  f"(serial {old.serial:x}, valid until {old.not_after:%Y-%m-%d}): "
                                  "revoke it first")
            cert = build_certificate(profile or PROFILES[plan.kind], subject=plan.subject,
                                     public_key=plan.public_key, issuer=self.certificate, issuer_key=self.key,
                                     serial=x509.random_serial_number(), not_before=plan.not_before,
                                     not_after=plan.not_after, san=plan.san)
            entry = IndexEntry(cert.serial_number, plan.name, plan.kind, plan.subject.rfc4514_string(),
                               cert.not_valid_before_utc, cert.not_valid_after_utc)
            files = extra_files(cert) if extra_files else {}
            files[self.issued_path(plan.name)] = (store.pem_certificate(cert), store.PUBLIC)
            files[self.index_path] = (_index_bytes([*entries, entry], crl_number), store.PUBLIC)
            store.write_files(files)
        return entry, cert

    def issue_server(self, dns: Sequence[str], ips: Sequence[str] = (), *, days: int | None = None,
                     key_type: str = "rsa3072", now: datetime | None = None,
                     profile: Profile | None = None) -> Issued:
        """A server certificate and key; SAN = every DNS name and IP, CN = the first DNS name.

        ``profile`` replaces the server profile (the test fixtures use it to make deliberately
        wrong certificates).
        """
        san = server_names(list(dns), list(ips))
        name = common_name(san)
        key = generate_key(key_type)
        plan = self.plan("server", name, cn_name(name), san, key.public_key(), days=days, now=now)
        key_file = self.private_path(name)
        entry, cert = self._issue(plan, lambda _cert: {key_file: (store.pem_key(key), store.SECRET)}, profile)
        return Issued(entry, cert, {"certificate": self.issued_path(name), "key": key_file})

    def issue_client(self, name: str, *, password: str | None = None, legacy: bool = True,
                     password_file: bool = False, days: int | None = None, key_type: str = "rsa3072",
                     now: datetime | None = None) -> Issued:
        """A client certificate, its key and a PKCS#12 bundle (key, certificate, CA).

        Without ``password`` one is generated and returned in :attr:`Issued.password`; with
        ``password_file`` it is also written to ``p12/NAME.password`` (0600).
        """
        san = client_names(name)
        if password is not None and len(password) < 4:
            raise CaError("the PKCS#12 password must have at least 4 characters")
        secret = generate_password() if password is None else password
        key = generate_key(key_type)
        plan = self.plan("client", name, cn_name(name), san, key.public_key(), days=days, now=now)
        paths = {"certificate": self.issued_path(name), "key": self.private_path(name),
                 "p12": self.p12_path(name)}
        if password_file:
            paths["password"] = self.p12_path(name).with_suffix(".password")

        def files(cert: x509.Certificate) -> dict[Path, tuple[bytes, int]]:
            bundle = export_pkcs12(name, key, cert, [self.certificate], secret, legacy=legacy)
            out = {paths["key"]: (store.pem_key(key), store.SECRET), paths["p12"]: (bundle, store.SECRET)}
            if password_file:
                out[paths["password"]] = ((secret + "\n").encode(), store.SECRET)
            return out

        entry, cert = self._issue(plan, files)
        return Issued(entry, cert, paths, password=secret if password is None else None)

    # -- external requests ------------------------------------------------------------------
    def plan_csr(self, csr: x509.CertificateSigningRequest, kind: str, *, days: int | None = None,
                 now: datetime | None = None) -> SigningPlan:
        """Check a CSR's signature and turn it into a plan (subject and SAN from the request, the
        extensions from our ``kind`` profile: a request cannot ask for more)."""
        if not csr.is_signature_valid:
            raise CaError("the request's signature does not verify: it was altered or is not self-consistent")
        key = csr.public_key()
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise CaError(f"the request has a {key_text(key)} key: RSA or ECDSA expected")
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
            raise CaError(f"the request has an {key_text(key)} key: at least 2048 bits are needed")
        try:
            requested = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            san = [n for n in requested if isinstance(n, x509.DNSName | x509.IPAddress | x509.RFC822Name)]
        except x509.ExtensionNotFound:
            san = []
        cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = str(cns[0].value) if cns else ""
        if not san:
            if not cn:
                raise CaError("the request has neither a subjectAltName nor a common name")
            san = server_names([cn], []) if kind == "server" else client_names(cn)
        return self.plan(kind, common_name(san), csr.subject, san, key, days=days, now=now)

    def sign(self, plan: SigningPlan) -> Issued:
        entry, cert = self._issue(plan)
        return Issued(entry, cert, {"certificate": self.issued_path(plan.name)})

    # -- revocation -------------------------------------------------------------------------
    def find(self, which: str) -> IndexEntry:
        """The entry named ``which`` (the newest unrevoked one), else the one whose hex serial
        starts with ``which`` (colons ignored)."""
        entries = self.entries()
        named = [e for e in entries if e.name == which and e.revoked_at is None]
        if named:
            return max(named, key=lambda e: e.not_before)
        digits = which.replace(":", "").lower()
        try:
            int(digits, 16)
        except ValueError:
            raise CaError(f"no certificate named {which} that is not already revoked") from None
        matches = [e for e in entries if f"{e.serial:x}".startswith(digits.lstrip("0") or "0")]
        if not matches:
            raise CaError(f"no certificate with name or serial {which}")
        if len(matches) > 1:
            raise CaError(f"serial prefix {which} is ambiguous: "
                          + ", ".join(f"{e.serial:x} ({e.name})" for e in matches))
        return matches[0]

    def revoke(self, which: str, reason: str = "unspecified", *, now: datetime | None = None) -> IndexEntry:
        """Mark a certificate revoked and rewrite the CRL (both files at once)."""
        if reason not in REVOCATION_REASONS:
            raise CaError(f"unknown reason {reason!r} (one of {', '.join(REVOCATION_REASONS)})")
        now = now or utcnow()
        with store.locked(self.directory):
            target = self.find(which)
            if target.revoked_at is not None:
                raise CaError(f"certificate {target.serial:x} ({target.name}) was already revoked on "
                              f"{target.revoked_at:%Y-%m-%d}")
            entries, crl_number = self._read_index()
            entries = [replace(e, revoked_at=now, reason=reason) if e.serial == target.serial else e
                       for e in entries]
            crl, crl_number = self._build_crl(entries, crl_number, now, DEFAULT_CRL_DAYS)
            store.write_files({self.crl_path: (crl, store.PUBLIC),
                               self.index_path: (_index_bytes(entries, crl_number), store.PUBLIC)})
        return next(e for e in entries if e.serial == target.serial)

    def write_crl(self, *, days: int = DEFAULT_CRL_DAYS, now: datetime | None = None) -> Path:
        """Regenerate ``crl.pem`` valid for ``days``."""
        _check_days(days)
        with store.locked(self.directory):
            entries, crl_number = self._read_index()
            crl, crl_number = self._build_crl(entries, crl_number, now or utcnow(), days)
            store.write_files({self.crl_path: (crl, store.PUBLIC),
                               self.index_path: (_index_bytes(entries, crl_number), store.PUBLIC)})
        return self.crl_path

    def _build_crl(self, entries: list[IndexEntry], crl_number: int, now: datetime,
                   days: int) -> tuple[bytes, int]:
        """The PEM CRL of every revoked entry (RFC 5280 §5) and the CRL number it used."""
        number = crl_number + 1
        ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(self.certificate.subject)
                   .last_update(now - BACKDATE).next_update(now + timedelta(days=days))
                   .add_extension(x509.CRLNumber(number), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                                  critical=False))
        for entry in entries:
            if entry.revoked_at is None:
                continue
            revoked = (x509.RevokedCertificateBuilder().serial_number(entry.serial)
                       .revocation_date(entry.revoked_at))
            if entry.reason and entry.reason != "unspecified":
                reason = x509.CRLReason(REVOCATION_REASONS[entry.reason])
                revoked = revoked.add_extension(reason, critical=False)
            builder = builder.add_revoked_certificate(revoked.build())
        crl = builder.sign(self.key, signature_hash(self.key))
        return crl.public_bytes(serialization.Encoding.PEM), number

    def load_crl(self) -> x509.CertificateRevocationList:
        crl = store.load_crl(self.crl_path)
        if not crl.is_signature_valid(self.certificate.public_key()):
            raise CaError(f"{self.crl_path} is not signed by this CA")
        return crl


ExtraFiles = Callable[[x509.Certificate], dict[Path, tuple[bytes, int]]]


def make_request(dns: Sequence[str], ips: Sequence[str], *, key_type: str = "rsa3072"
                 ) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, x509.CertificateSigningRequest]:
    """A gateway key and its PKCS#10 request (CN = first DNS name, SAN = every name and address)."""
    san = server_names(list(dns), list(ips))
    key = generate_key(key_type)
    csr = (x509.CertificateSigningRequestBuilder().subject_name(cn_name(common_name(san)))
           .add_extension(x509.SubjectAlternativeName(san), critical=False)
           .sign(key, signature_hash(key)))
    return key, csr


def write_request(out_dir: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
                  csr: x509.CertificateSigningRequest) -> tuple[Path, Path]:
    """``out_dir/NAME.key`` (0600) and ``out_dir/NAME.csr``; refuses to overwrite a key."""
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = check_name(str(cns[0].value))
    store.make_private_dir(out_dir)
    key_path, csr_path = out_dir / f"{name}.key", out_dir / f"{name}.csr"
    if key_path.exists():
        raise CaError(f"{key_path} already exists: move it away first")
    store.write_files({key_path: (store.pem_key(key), store.SECRET),
                       csr_path: (csr.public_bytes(serialization.Encoding.PEM), store.PUBLIC)})
    return key_path, csr_path


def _check_days(days: int) -> None:
    if not 1 <= days <= 36500:
        raise CaError(f"validity of {days} days is out of range (1 to 36500)")


def _index_bytes(entries: list[IndexEntry], crl_number: int) -> bytes:
    doc = {"version": 1, "crl_number": crl_number, "certificates": [e.to_json() for e in entries]}
    return (json.dumps(doc, indent=2) + "\n").encode()
