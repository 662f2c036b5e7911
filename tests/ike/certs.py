"""Certificate credentials from certs/fixtures for the IKE tests (our initiator <-> our responder)."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from pathlib import Path

from ikel2tp.certs.store import load_certificate, load_certificates, load_crl, load_private_key
from ikel2tp.ike.certauth import CertAuthenticator, CertSettings, Credential
from ikel2tp.ike.constants import AuthMethod

FIXTURES = Path(__file__).resolve().parents[2] / "certs" / "fixtures"


@cache
def credential(name: str) -> Credential:
    return Credential(load_certificate(FIXTURES / f"{name}.crt"), load_private_key(FIXTURES / f"{name}.key"))


@cache
def anchors(name: str = "ca") -> tuple:
    return tuple(load_certificates(FIXTURES / f"{name}.crt"))


def wallclock():
    """A fixed calendar time when every fixture but ``expired`` is valid (they are made together)."""
    newest = max(
        credential(n).certificate.not_valid_before_utc for n in ("alice", "server", "mallory", "revoked")
    )
    return newest + timedelta(hours=1)


def cert_settings(
    *names: str, ca: str | tuple[str, ...] = "ca", allowed: tuple[str, ...] = (), crl: bool = True
) -> CertSettings:
    """Our certificates ``names``, trusting the CA file(s) ``ca``, with the test CA's CRL."""
    crls = (load_crl(FIXTURES / "crl.pem"),) if crl else ()
    trusted = sum((anchors(n) for n in ((ca,) if isinstance(ca, str) else ca)), ())
    return CertSettings(
        tuple(credential(n) for n in names), trusted, wallclock, crls=crls, allowed_subjects=allowed
    )


def factories(settings: CertSettings) -> dict:
    """``authenticators`` for an IkeManager: RSA signatures for every peer."""
    return {AuthMethod.RSA_SIGNATURES: lambda remote, peer_id, settings=settings: CertAuthenticator(settings)}
